"""SHA-256 of files and streams in fixed-size chunks (never a whole multi-GB file in memory)."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import BinaryIO

CHUNK_BYTES = 8 * 1024 * 1024


def sha256_file(path: str | os.PathLike[str], chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex SHA-256 of a local file, read ``chunk_bytes`` at a time."""
    with open(path, "rb") as f:
        return sha256_stream(f, chunk_bytes)[0]


def sha256_stream(stream: BinaryIO, chunk_bytes: int = CHUNK_BYTES) -> tuple[str, int]:
    """Hex SHA-256 and byte count of everything left in a binary stream."""
    digest = hashlib.sha256()
    size = 0
    buf = bytearray(chunk_bytes)
    view = memoryview(buf)
    while True:
        n = stream.readinto(view)
        if not n:
            break
        digest.update(view[:n])  # hashlib releases the GIL for large buffers
        size += n
    return digest.hexdigest(), size


def sha256_chunks(chunks: Iterable[bytes]) -> tuple[str, int]:
    """Hex SHA-256 and byte count of an iterable of byte chunks (e.g. an S3 body)."""
    digest = hashlib.sha256()
    size = 0
    for chunk in chunks:
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size
