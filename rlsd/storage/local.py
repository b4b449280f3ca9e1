"""Local half of the storage protocol: atomic file writes and folder listings.

A reader of a local path must never see half a file: every write goes to a hidden temporary
file in the same folder (same file system, so the rename is atomic) and is moved into place
with ``os.replace`` only after it has been flushed and fsync'ed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from rlsd.storage.hashing import CHUNK_BYTES

# Temporary files and staging folders start with this; listings skip them.
TMP_PREFIX = ".rlsd-tmp-"


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path`` atomically.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f"{TMP_PREFIX}{target.name}.", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary file for writing that only appears at ``path`` once closed successfully."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        yield f


def copy_stream(src: BinaryIO, dst: BinaryIO, on_chunk: Callable[[bytes], None] | None = None,
                chunk_bytes: int = CHUNK_BYTES) -> None:
    """Copy ``src`` to ``dst`` in chunks, calling ``on_chunk`` (hashing, progress) on each."""
    while True:
        chunk = src.read(chunk_bytes)
        if not chunk:
            return
        dst.write(chunk)
        if on_chunk is not None:
            on_chunk(chunk)


def list_local(root: str | os.PathLike[str]) -> dict[str, int]:
    """``{relative posix path: size}`` of every file under ``root`` (recursive, sorted).

    Temporary files of in-progress atomic writes are skipped; a missing folder lists as empty.
    Symlinks to files are followed (their target's size is reported).
    """
    base = Path(root)
    if not base.is_dir():
        return {}
    out: dict[str, int] = {}
    for dirpath, dirnames, filenames in os.walk(base, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(TMP_PREFIX))
        for name in filenames:
            if name.startswith(TMP_PREFIX):
                continue
            full = Path(dirpath) / name
            if full.is_file():
                out[full.relative_to(base).as_posix()] = full.stat().st_size
    return dict(sorted(out.items()))
