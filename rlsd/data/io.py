"""Byte and table I/O for data prep, for local paths and ``s3://`` URIs alike.

A thin layer over :mod:`rlsd.storage` that speaks this stage's error type: a missing or
unreadable input is one :class:`DataError` naming the URI.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from rlsd import storage
from rlsd.data.errors import DataError

is_s3 = storage.is_s3
join = storage.join


def parent(uri: str) -> str:
    """The folder (or ``s3://`` prefix) that holds ``uri``."""
    if is_s3(uri):
        return uri.rstrip("/").rsplit("/", 1)[0]
    return str(Path(uri).resolve().parent)


def read_bytes(uri: str) -> bytes:
    """The whole content of ``uri``; :class:`DataError` when it does not exist."""
    try:
        return storage.read_bytes(uri)
    except storage.NotFoundError as exc:
        raise DataError(f"no such file: {uri}") from exc
    except (storage.StorageError, IsADirectoryError) as exc:
        raise DataError(f"cannot read {uri}: {exc}") from exc


def write_bytes(data: bytes, uri: str) -> None:
    """Write ``data`` to ``uri``; readers never see a half-written object."""
    storage.write_bytes(data, uri)


def read_table(uri: str) -> pa.Table:
    """Read a parquet file (or a folder of parquet shards)."""
    try:
        return storage.read_table(uri)
    except storage.NotFoundError as exc:
        raise DataError(f"no such file: {uri}") from exc
    except (storage.StorageError, pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{uri} is not a readable parquet file: {exc}") from exc


def write_table(table: pa.Table, uri: str) -> None:
    """Write ``table`` as parquet (schema included, so readers get the explicit types back)."""
    storage.write_table(table, uri)
