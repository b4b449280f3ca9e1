"""The one exception the algorithm functions raise for bad input."""

from __future__ import annotations


class AlgorithmInputError(ValueError):
    """A tensor or setting passed to an algorithm function is invalid; the message names it.

    Raised before any computation, so a caller loses nothing by catching it and fixing the input.
    Settings loaded through :class:`~rlsd.algorithms.config.AlgorithmConfig` raise
    :class:`rlsd.config.ConfigError` instead, like every other settings dataclass.
    """
