"""One way to read and write ``s3://`` URIs and local paths alike (design.md, "Layout").

Every pipeline stage reads its inputs and writes its outputs through this package:

* URIs: :func:`is_s3`, :func:`join`, :func:`parse_s3`.
* Tables (parquet, via pyarrow): :func:`read_table`, :func:`write_table`, :func:`conform_table`.
* Objects (via boto3): :func:`read_bytes`, :func:`write_bytes`, :func:`exists`,
  :func:`list_files`, :func:`list_sizes`, :func:`delete`.
* Folders and checkpoints: :func:`upload_dir`, :func:`download_dir`, :func:`open_checkpoint`,
  with the manifest protocol (:func:`write_manifest` last, :func:`read_manifest`,
  :func:`verify_manifest`).

S3 settings come from the standard AWS environment variables (see
:mod:`rlsd.storage.s3_client`); transfer tuning from :class:`TransferSettings`.
"""

from rlsd.storage.checkpoint import LocalCheckpoint, open_checkpoint
from rlsd.storage.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    CredentialsError,
    IncompleteCheckpointError,
    IntegrityError,
    NotFoundError,
    SchemaMismatchError,
    StorageError,
    UnsupportedURIError,
)
from rlsd.storage.hashing import sha256_file
from rlsd.storage.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    read_manifest,
    verify_manifest,
    write_manifest,
)
from rlsd.storage.objects import delete, exists, list_files, list_sizes, read_bytes, write_bytes
from rlsd.storage.progress import NO_PROGRESS_ENV
from rlsd.storage.s3_client import TransferSettings
from rlsd.storage.tables import conform_table, read_table, write_table
from rlsd.storage.transfer import download_dir, upload_dir
from rlsd.storage.uri import S3Location, is_s3, join, parse_s3

__all__ = [
    "MANIFEST_NAME",
    "NO_PROGRESS_ENV",
    "AccessDeniedError",
    "BucketNotFoundError",
    "CredentialsError",
    "FileEntry",
    "IncompleteCheckpointError",
    "IntegrityError",
    "LocalCheckpoint",
    "Manifest",
    "NotFoundError",
    "S3Location",
    "SchemaMismatchError",
    "StorageError",
    "TransferSettings",
    "UnsupportedURIError",
    "conform_table",
    "delete",
    "download_dir",
    "exists",
    "is_s3",
    "join",
    "list_files",
    "list_sizes",
    "open_checkpoint",
    "parse_s3",
    "read_bytes",
    "read_manifest",
    "read_table",
    "sha256_file",
    "upload_dir",
    "verify_manifest",
    "write_bytes",
    "write_manifest",
    "write_table",
]
