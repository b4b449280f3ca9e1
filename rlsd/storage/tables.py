"""Parquet tables on S3 (through pyarrow's ``S3FileSystem``) and local disk.

Small tables (prompts, rollouts, rewards, scores) travel between stages as parquet files with
explicit pyarrow schemas (design.md, "Layout"). ``read_table`` accepts one file or a folder of
shards; ``write_table`` writes one file. With ``schema=`` both check the table against it and
cast where the cast is lossless in kind (int32 -> int64, string -> large_string, ...), and
raise one :class:`SchemaMismatchError` naming every missing column and mismatched type.

Atomicity: a local table is written to a temporary file and renamed. On S3 the parquet file is
first written completely to local temporary disk, then sent with a single ``write`` call and
``close``: S3 makes an object visible only when its ``PutObject`` or
``CompleteMultipartUpload`` succeeds, and Arrow completes a multipart upload only after every
part succeeded, so readers see the old object or the whole new one, never a prefix. (Writing
in one call matters: Arrow's S3 stream *completes* the upload when closed, even on an
exception, so a Python loop interrupted half-way would publish a truncated file.)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from rlsd.storage.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    NotFoundError,
    SchemaMismatchError,
    StorageError,
)
from rlsd.storage.local import TMP_PREFIX, atomic_path
from rlsd.storage.s3_client import (
    TransferSettings,
    bucket_exists,
    redact,
    s3_client,
    s3_filesystem,
)
from rlsd.storage.uri import as_str, is_s3, local_path, parse_s3

PARQUET_SUFFIX = ".parquet"


def read_table(uri: str | os.PathLike[str], columns: Sequence[str] | None = None,
               schema: pa.Schema | None = None, *,
               settings: TransferSettings | None = None) -> pa.Table:
    """Read one parquet file, or every ``*.parquet`` under a folder (hive partitions kept).

    ``columns`` selects columns (missing ones are an error, not silently absent). ``schema``
    checks and casts the result to exactly that schema (extra columns in the files are
    dropped); with both, ``columns`` must be schema fields and the result has those.
    Hidden (``.``) and ``_``-prefixed files and folders are skipped, as is ``manifest.json``.
    """
    text = as_str(uri)
    target = schema
    if schema is not None and columns is not None:
        unknown = [c for c in columns if c not in schema.names]
        if unknown:
            raise SchemaMismatchError(
                f"{text}: requested column(s) {unknown} are not in the schema {schema.names}")
        target = pa.schema([schema.field(c) for c in columns], metadata=schema.metadata)
    wanted = list(columns) if columns is not None else (
        list(target.names) if target is not None else None)

    fs, path = _filesystem(text, settings)
    with _arrow_errors(text, settings):
        files, is_dir = _parquet_files(fs, path, text, settings)
        dataset = pads.dataset(files, filesystem=fs, format="parquet",
                               partitioning="hive" if is_dir else None,
                               partition_base_dir=path if is_dir else None)
        if wanted is not None:
            available = dataset.schema.names
            missing = [c for c in wanted if c not in available]
            if missing and target is None:
                raise SchemaMismatchError(
                    f"{text}: missing column(s) {missing}; the table has {available}")
            # With a schema, conform_table reports missing columns along with type problems.
            wanted = [c for c in wanted if c in available]
        table = dataset.to_table(columns=wanted)
    if target is not None:
        table = conform_table(table, target, text, extra="drop")
    return table


def write_table(table: pa.Table | pa.RecordBatch, uri: str | os.PathLike[str],
                schema: pa.Schema | None = None, *, compression: str = "zstd",
                settings: TransferSettings | None = None) -> None:
    """Write ``table`` as one parquet file at ``uri`` (replacing it atomically, see module doc).

    With ``schema`` the table must have exactly its columns (extra ones are an error: the
    writer declares the artifact's schema) in castable types; the file gets that schema.
    """
    text = as_str(uri)
    if isinstance(table, pa.RecordBatch):
        table = pa.Table.from_batches([table])
    if not isinstance(table, pa.Table):
        raise TypeError(f"write_table expects a pyarrow Table, got {type(table).__name__}")
    if schema is not None:
        table = conform_table(table, schema, text, extra="error")
    if not is_s3(text):
        path = local_path(text)
        if path.is_dir():
            raise StorageError(f"{text} is a folder; write_table writes one file")
        with atomic_path(path) as tmp:
            pq.write_table(table, tmp, compression=compression)
        return
    loc = parse_s3(text)
    if not loc.key or loc.key.endswith("/"):
        raise StorageError(f"{text} names a folder; write_table writes one file")
    fs, path = _filesystem(text, settings)  # fails on missing credentials before serialising
    with tempfile.TemporaryDirectory(prefix=TMP_PREFIX) as tmpdir:
        tmp = Path(tmpdir) / "table.parquet"
        pq.write_table(table, tmp, compression=compression)
        with _arrow_errors(text, settings):
            source = pa.memory_map(str(tmp), "r")
            try:
                with fs.open_output_stream(path) as out:
                    # One call: see the module docstring for why this must not be a loop.
                    out.write(source.read_buffer())
            finally:
                source.close()


def conform_table(table: pa.Table, schema: pa.Schema, uri: str = "table",
                  extra: Literal["drop", "error"] = "drop") -> pa.Table:
    """``table`` as exactly ``schema`` (its column order, types, nullability and metadata).

    One :class:`SchemaMismatchError` names every missing column, every type that cannot be
    cast without changing its kind (e.g. string -> int, float -> int), and every non-nullable
    column holding nulls. ``extra="error"`` also rejects columns the schema lacks.
    """
    names = table.schema.names
    duplicates = sorted({n for n in names if names.count(n) > 1})
    problems: list[str] = []
    if duplicates:
        problems.append(f"duplicate column(s) {duplicates}")
    missing = [f.name for f in schema if f.name not in names]
    if missing:
        problems.append(f"missing column(s) {missing}")
    extras = [n for n in names if n not in schema.names]
    if extras and extra == "error":
        problems.append(f"unexpected column(s) {extras} not in the schema")
    present = [f for f in schema if f.name in names and f.name not in duplicates]
    for field in present:
        found = table.schema.field(field.name).type
        if not castable(found, field.type):
            problems.append(f"column '{field.name}' has type {found}, expected {field.type}")
    nulls = [f.name for f in present if not f.nullable and table.column(f.name).null_count]
    if nulls:
        problems.append(f"non-nullable column(s) {nulls} hold nulls")
    if problems:
        raise SchemaMismatchError(
            f"{uri} does not match the expected schema: {'; '.join(problems)} "
            f"(expected columns {schema.names}, found {names})")
    selected = table.select(schema.names)
    try:
        return selected.cast(schema, safe=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
        # Name the column whose values do not fit (e.g. an int64 value overflowing int32).
        for field in schema:
            try:
                selected.column(field.name).cast(field.type, safe=True)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaMismatchError(
                    f"{uri}: column '{field.name}' values do not fit {field.type}: {exc}"
                ) from None
        raise


def castable(found: pa.DataType, expected: pa.DataType) -> bool:
    """Whether ``found`` may be cast to ``expected``: same kind of value, wider or narrower.

    Value overflow is caught later by the safe cast; what is refused here is a change of kind
    (text to number, float to int, list to scalar) that would hide a wrong column.
    """
    t = pa.types
    if found.equals(expected) or t.is_null(found):
        return True
    if t.is_dictionary(found):
        return castable(found.value_type, expected)
    kinds = (
        (t.is_integer, t.is_integer),
        (lambda x: t.is_integer(x) or t.is_floating(x), t.is_floating),
        (_is_text, _is_text),
        (_is_bytes, _is_bytes),
        (t.is_timestamp, t.is_timestamp),
        (t.is_date, t.is_date),
        (t.is_time, t.is_time),
        (t.is_duration, t.is_duration),
        (t.is_decimal, t.is_decimal),
    )
    if any(src(found) and dst(expected) for src, dst in kinds):
        return True
    if _is_list(found) and _is_list(expected):
        return castable(found.value_type, expected.value_type)
    if t.is_map(found) and t.is_map(expected):
        return castable(found.key_type, expected.key_type) and castable(
            found.item_type, expected.item_type)
    if t.is_struct(found) and t.is_struct(expected):
        fa = [found.field(i) for i in range(found.num_fields)]
        fb = [expected.field(i) for i in range(expected.num_fields)]
        return [f.name for f in fa] == [f.name for f in fb] and all(
            castable(a.type, b.type) for a, b in zip(fa, fb, strict=True))
    return False


def _is_text(tp: pa.DataType) -> bool:
    return pa.types.is_string(tp) or pa.types.is_large_string(tp) or pa.types.is_string_view(tp)


def _is_bytes(tp: pa.DataType) -> bool:
    return (pa.types.is_binary(tp) or pa.types.is_large_binary(tp)
            or pa.types.is_binary_view(tp) or pa.types.is_fixed_size_binary(tp))


def _is_list(tp: pa.DataType) -> bool:
    t = pa.types
    return (t.is_list(tp) or t.is_large_list(tp) or t.is_fixed_size_list(tp)
            or t.is_list_view(tp) or t.is_large_list_view(tp))


def _filesystem(uri: str, settings: TransferSettings | None) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and in-filesystem path for ``uri``."""
    if is_s3(uri):
        loc = parse_s3(uri)
        return s3_filesystem(uri, settings), f"{loc.bucket}/{loc.key}".rstrip("/")
    return pafs.LocalFileSystem(), str(local_path(uri).absolute())


def _parquet_files(fs: pafs.FileSystem, path: str, uri: str,
                   settings: TransferSettings | None) -> tuple[list[str], bool]:
    """``(files, is_folder)``: ``path`` itself, or the sorted parquet shards under it."""
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return [path], False
    if info.type == pafs.FileType.NotFound:
        raise _not_found(uri, settings)
    selector = pafs.FileSelector(path, recursive=True)
    files = []
    for item in fs.get_file_info(selector):
        rel = item.path[len(path):].lstrip("/")
        hidden = any(part.startswith((".", "_")) for part in rel.split("/"))
        if item.type == pafs.FileType.File and rel.endswith(PARQUET_SUFFIX) and not hidden:
            files.append(item.path)
    if not files:
        raise NotFoundError(f"{uri} is a folder with no {PARQUET_SUFFIX} files")
    return sorted(files), True


def _not_found(uri: str, settings: TransferSettings | None) -> NotFoundError:
    if is_s3(uri):
        bucket = parse_s3(uri).bucket
        if not bucket_exists(bucket, s3_client(settings)):
            return BucketNotFoundError(f"bucket '{bucket}' does not exist (accessing {uri})")
    return NotFoundError(f"{uri} does not exist")


@contextmanager
def _arrow_errors(uri: str, settings: TransferSettings | None) -> Iterator[None]:
    """Turn pyarrow I/O errors into :class:`StorageError` s that name ``uri``."""
    try:
        yield
    except StorageError:
        raise
    except FileNotFoundError:
        raise _not_found(uri, settings) from None
    except OSError as exc:
        message = redact(str(exc))
        if any(code in message for code in ("NO_SUCH_BUCKET", "NO_SUCH_KEY", "RESOURCE_NOT_FOUND")):
            raise _not_found(uri, settings) from None
        if "ACCESS_DENIED" in message or "403" in message:
            raise AccessDeniedError(
                f"access to {uri} was denied: check the credentials in AWS_ACCESS_KEY_ID / "
                f"AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN and the bucket policy") from None
        raise StorageError(f"{uri}: {message}") from None
    except pa.ArrowInvalid as exc:
        raise StorageError(f"{uri} is not a readable parquet table: {redact(str(exc))}") from None
