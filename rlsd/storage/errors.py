"""Exceptions raised by :mod:`rlsd.storage`.

Every error names the URI it is about and what to do; none ever contains a credential value
(messages are built from URIs, codes and env-var *names*, and upstream text is passed through
:func:`rlsd.storage.s3_client.redact`). The classes also derive from the matching builtin
(``FileNotFoundError``, ``PermissionError``, ``ValueError``) so generic handlers still work.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class: a storage operation on a local path or ``s3://`` URI failed."""


class UnsupportedURIError(StorageError, ValueError):
    """The URI is neither a local path nor ``s3://bucket/key`` (or is malformed)."""


class NotFoundError(StorageError, FileNotFoundError):
    """The object, file or folder does not exist (``s3://bucket/key does not exist``)."""


class BucketNotFoundError(NotFoundError):
    """The bucket itself does not exist, as opposed to a key inside it."""


class CredentialsError(StorageError, PermissionError):
    """No usable AWS credentials; the message names the environment variables to set."""


class AccessDeniedError(StorageError, PermissionError):
    """The server refused the request (403, bad key id, bad signature, expired token)."""


class SchemaMismatchError(StorageError, ValueError):
    """A table lacks columns of, or has types incompatible with, the expected schema."""


class IntegrityError(StorageError):
    """A folder does not match its manifest: a file is missing, has another size or hash."""


class IncompleteCheckpointError(IntegrityError):
    """A folder has no ``manifest.json``: still being written, interrupted, or not a checkpoint."""
