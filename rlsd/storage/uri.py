"""URI helpers: one spelling for ``s3://bucket/key`` and local paths.

A *URI* in this package is either ``s3://bucket/key`` or a local path (``/data/x``, ``runs/a``
or ``file:///data/x``). Any other scheme (``gs://``, ``https://``) is rejected up front with
:class:`UnsupportedURIError`, so a typo never turns into a local folder named ``gs:``.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from rlsd.storage.errors import UnsupportedURIError

S3_PREFIX = "s3://"
FILE_PREFIX = "file://"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Lenient on purpose: old us-east-1 buckets may hold upper case and underscores.
_BUCKET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,254}$")
# S3 rejects keys longer than 1024 UTF-8 bytes; catching it here fails before any upload.
MAX_KEY_BYTES = 1024


class S3Location(NamedTuple):
    """``s3://bucket/key`` split into its parts; ``key`` may be ``""`` (the bucket root)."""

    bucket: str
    key: str

    @property
    def uri(self) -> str:
        return f"{S3_PREFIX}{self.bucket}/{self.key}" if self.key else f"{S3_PREFIX}{self.bucket}"


def as_str(uri: str | os.PathLike[str]) -> str:
    """The URI as a string; raises :class:`UnsupportedURIError` for unknown schemes."""
    text = os.fspath(uri)
    if not isinstance(text, str):
        raise UnsupportedURIError(f"storage URIs must be text, got {type(text).__name__}")
    if not text:
        raise UnsupportedURIError("empty storage URI")
    match = _SCHEME.match(text)
    if match and not (text.startswith(S3_PREFIX) or text.startswith(FILE_PREFIX)):
        raise UnsupportedURIError(
            f"unsupported URI scheme in {text!r}: use s3://bucket/key or a local path"
        )
    return text


def is_s3(uri: str | os.PathLike[str]) -> bool:
    """True for ``s3://...`` URIs, False for local paths (including ``file://``)."""
    return as_str(uri).startswith(S3_PREFIX)


def parse_s3(uri: str | os.PathLike[str]) -> S3Location:
    """Split ``s3://bucket/key`` into ``S3Location(bucket, key)``.

    Raises :class:`UnsupportedURIError` for local paths, an empty or malformed bucket name, or a
    key over S3's 1024-byte limit.
    """
    text = as_str(uri)
    if not text.startswith(S3_PREFIX):
        raise UnsupportedURIError(f"{text!r} is not an s3:// URI")
    bucket, _, key = text[len(S3_PREFIX):].partition("/")
    if not _BUCKET.match(bucket):
        raise UnsupportedURIError(f"{text}: {bucket!r} is not a valid bucket name")
    if len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise UnsupportedURIError(
            f"{text[:80]}...: key is {len(key.encode('utf-8'))} bytes, S3 allows {MAX_KEY_BYTES}"
        )
    return S3Location(bucket, key)


def local_path(uri: str | os.PathLike[str]) -> Path:
    """The local path of a non-S3 URI (``file://`` stripped)."""
    text = as_str(uri)
    if text.startswith(S3_PREFIX):
        raise UnsupportedURIError(f"{text} is an s3:// URI, not a local path")
    if text.startswith(FILE_PREFIX):
        text = text[len(FILE_PREFIX):]
    return Path(text)


def join(uri: str | os.PathLike[str], *parts: str) -> str:
    """Append relative ``parts`` to ``uri`` with ``/``, for S3 and local paths alike.

    Leading and trailing slashes of each part are dropped, so ``join("s3://b/run/", "/ckpt/")``
    is ``"s3://b/run/ckpt"`` (never an absolute reset as with ``os.path.join``); empty parts
    are skipped.
    """
    text = as_str(uri)
    clean = [p.strip("/") for p in parts]
    clean = [p for p in clean if p]
    if not clean:
        return text
    if text.startswith(S3_PREFIX):
        parse_s3(text)  # validates the bucket early
        return "/".join([text.rstrip("/"), *clean])
    return os.path.join(text, *clean)

