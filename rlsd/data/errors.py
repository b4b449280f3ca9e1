"""The one exception the data-prep stage raises for bad data or an unusable source."""

from __future__ import annotations


class DataError(ValueError):
    """The data cannot be prepared as configured; the message names the problem and the fix.

    Configuration mistakes that are visible without reading any data raise
    :class:`rlsd.config.ConfigError` instead.
    """
