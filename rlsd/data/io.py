"""Byte and table I/O for data prep, for local paths and ``s3://`` URIs alike.

The one place this stage touches storage, so that switching to ``rlsd.storage`` (the shared
S3/local layer) is a change to this file only. Local paths use pathlib/pyarrow here; ``s3://``
goes to ``rlsd.storage`` when that module is importable and is a clear error otherwise.
"""

from __future__ import annotations

import io as _io
import os
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq

from rlsd.data.errors import DataError


def is_s3(uri: str) -> bool:
    """True for ``s3://bucket/key`` URIs."""
    return uri.startswith("s3://")


def join(base: str, name: str) -> str:
    """``base``/``name`` for a folder path or an ``s3://`` prefix."""
    if is_s3(base):
        return base.rstrip("/") + "/" + name
    return str(Path(base) / name)


def parent(uri: str) -> str:
    """The folder (or ``s3://`` prefix) that holds ``uri``."""
    if is_s3(uri):
        return uri.rstrip("/").rsplit("/", 1)[0]
    return str(Path(uri).resolve().parent)


def _storage() -> ModuleType:
    try:
        from rlsd import storage  # the shared S3/local layer, built separately
    except ImportError as exc:
        raise DataError(
            "s3:// URIs need rlsd.storage, which is not installed in this build"
        ) from exc
    return storage


def read_bytes(uri: str) -> bytes:
    """The whole content of ``uri``; :class:`DataError` when it does not exist."""
    if is_s3(uri):
        return _storage().read_bytes(uri)
    path = Path(uri)
    if not path.is_file():
        raise DataError(f"no such file: {uri}")
    return path.read_bytes()


def write_bytes(data: bytes, uri: str) -> None:
    """Write ``data`` to ``uri``, creating folders; local writes are atomic (temp + rename)."""
    if is_s3(uri):
        _storage().write_bytes(data, uri)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # readers never see a half-written file


def read_table(uri: str) -> pa.Table:
    """Read a parquet file."""
    if is_s3(uri):
        return _storage().read_table(uri)
    data = read_bytes(uri)
    try:
        return pq.read_table(pa.BufferReader(data))
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{uri} is not a readable parquet file: {exc}") from exc


def write_table(table: pa.Table, uri: str) -> None:
    """Write ``table`` as parquet (schema included, so readers get the explicit types back)."""
    if is_s3(uri):
        _storage().write_table(table, uri)
        return
    sink = _io.BytesIO()
    pq.write_table(table, sink)
    write_bytes(sink.getvalue(), uri)
