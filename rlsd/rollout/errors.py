"""Exceptions raised by :mod:`rlsd.rollout`; each message names the input and the fix.

Invalid settings raise :class:`rlsd.config.ConfigError`; an unusable model reference raises
:class:`rlsd.models.ModelError`; storage problems raise :class:`rlsd.storage.StorageError`.
"""

from __future__ import annotations


class RolloutError(ValueError):
    """The prompts cannot be rolled out as given (bad table, duplicate ids, images the policy
    cannot see)."""


class BackendUnavailableError(RolloutError, ImportError):
    """The requested generation backend is not installed."""
