"""Single objects and folder listings, for ``s3://`` URIs (boto3) and local paths alike.

Writes are atomic for a reader on both sides: an S3 ``PutObject`` becomes visible whole or
not at all, and local files are written to a temporary file and renamed
(:func:`rlsd.storage.local.atomic_open`).
"""

from __future__ import annotations

import os

from rlsd.storage.errors import BucketNotFoundError, NotFoundError, StorageError
from rlsd.storage.local import atomic_open, list_local
from rlsd.storage.s3_client import TransferSettings, s3_client, s3_errors
from rlsd.storage.uri import as_str, is_s3, join, local_path, parse_s3


def read_bytes(uri: str | os.PathLike[str], *, settings: TransferSettings | None = None) -> bytes:
    """The whole content of one object or file (for small payloads: JSON, configs, logs)."""
    text = as_str(uri)
    if is_s3(text):
        loc = parse_s3(text)
        client = s3_client(settings)
        with s3_errors(text, client):
            return client.get_object(Bucket=loc.bucket, Key=loc.key)["Body"].read()
    path = local_path(text)
    if path.is_dir():
        raise StorageError(f"{text} is a folder, not a file")
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{text} does not exist") from None


def write_bytes(data: bytes, uri: str | os.PathLike[str],
                *, settings: TransferSettings | None = None) -> None:
    """Write ``data`` to one object or file, replacing it atomically.

    On S3 this is one ``PutObject`` (atomic: readers see the old or the new object, never a
    mix); it is meant for payloads well under S3's 5 GiB single-request limit. Folders of
    large files go through :func:`rlsd.storage.transfer.upload_dir`.
    """
    text = as_str(uri)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"write_bytes expects bytes, got {type(data).__name__}")
    if is_s3(text):
        loc = parse_s3(text)
        if not loc.key or loc.key.endswith("/"):
            raise StorageError(f"{text} names a folder; give a file key")
        client = s3_client(settings)
        with s3_errors(text, client):
            client.put_object(Bucket=loc.bucket, Key=loc.key, Body=bytes(data))
        return
    with atomic_open(local_path(text)) as f:
        f.write(data)


def exists(uri: str | os.PathLike[str], *, settings: TransferSettings | None = None) -> bool:
    """True if ``uri`` is an existing file/object or a non-empty folder (prefix).

    A missing *bucket* is an error (:class:`BucketNotFoundError`), not False: a typo in the
    bucket name should stop the run, not look like "not written yet".
    """
    text = as_str(uri)
    if not is_s3(text):
        return local_path(text).exists()
    loc = parse_s3(text)
    client = s3_client(settings)
    if loc.key and not loc.key.endswith("/"):
        try:
            with s3_errors(text, client):
                client.head_object(Bucket=loc.bucket, Key=loc.key)
            return True
        except BucketNotFoundError:
            raise
        except NotFoundError:
            pass  # not an object; maybe a folder
    prefix = loc.key.rstrip("/") + "/" if loc.key else ""
    with s3_errors(text, client):
        resp = client.list_objects_v2(Bucket=loc.bucket, Prefix=prefix, MaxKeys=1)
    return resp.get("KeyCount", 0) > 0


def list_sizes(uri: str | os.PathLike[str],
               *, settings: TransferSettings | None = None) -> dict[str, int]:
    """``{relative path: size in bytes}`` of every file under folder ``uri`` (recursive).

    Paths use ``/`` and are sorted. S3 "folder marker" keys (ending in ``/``) are skipped. A
    missing folder lists as empty; a missing bucket raises :class:`BucketNotFoundError`.
    """
    text = as_str(uri)
    if not is_s3(text):
        return list_local(local_path(text))
    loc = parse_s3(text)
    prefix = loc.key.rstrip("/") + "/" if loc.key else ""
    client = s3_client(settings)
    out: dict[str, int] = {}
    with s3_errors(text, client):
        for page in client.get_paginator("list_objects_v2").paginate(
            Bucket=loc.bucket, Prefix=prefix
        ):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue
                out[key[len(prefix):]] = int(obj["Size"])
    return dict(sorted(out.items()))


def list_files(prefix: str | os.PathLike[str],
               *, settings: TransferSettings | None = None) -> list[str]:
    """Full URIs of every file under folder ``prefix`` (recursive, sorted).

    ``prefix`` is a folder: ``s3://b/run/ck`` lists ``s3://b/run/ck/...``, not ``ck2``.
    """
    text = as_str(prefix)
    return [join(text, rel) for rel in list_sizes(text, settings=settings)]


def delete(uri: str | os.PathLike[str], *, settings: TransferSettings | None = None) -> None:
    """Remove one object or file; missing is fine (S3 ``DeleteObject`` is idempotent too)."""
    text = as_str(uri)
    if is_s3(text):
        loc = parse_s3(text)
        client = s3_client(settings)
        with s3_errors(text, client):
            client.delete_object(Bucket=loc.bucket, Key=loc.key)
        return
    local_path(text).unlink(missing_ok=True)
