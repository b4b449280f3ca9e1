"""The manifest protocol: a folder (checkpoint) is visible to readers only once complete.

A writer uploads every file first and writes ``manifest.json`` LAST. The manifest lists each
file's relative path, size and SHA-256, plus free-form metadata (round, step, kind, ...). A
reader trusts nothing without it:

* no ``manifest.json``  -> :class:`IncompleteCheckpointError` (still being written, the writer
  died, or not a checkpoint at all);
* a listed file missing, of another size, or (when hashes are checked) of another SHA-256
  -> :class:`IntegrityError` naming the file, raised before anything reaches the caller.

``manifest.json`` is a single small object written with one ``PutObject`` (or an atomic local
rename), so it is itself all-or-nothing. This is also what the KFP ``Model`` artifact holds
(design.md, "Layout"): the URI plus files, sizes, sha256, round and step.

Format (``version`` 1)::

    {"format": "rlsd.storage/manifest", "version": 1, "created_at": "2026-01-01T00:00:00Z",
     "total_bytes": 123, "files": [{"path": "a/b.bin", "size": 123, "sha256": "..."}],
     "metadata": {"round": 3, "step": 12, "kind": "policy"}}
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import PurePosixPath
from typing import Any

from rlsd.storage.errors import (
    BucketNotFoundError,
    IncompleteCheckpointError,
    IntegrityError,
    NotFoundError,
)
from rlsd.storage.hashing import CHUNK_BYTES, sha256_chunks, sha256_file
from rlsd.storage.local import atomic_open
from rlsd.storage.objects import delete, list_sizes, read_bytes
from rlsd.storage.s3_client import TransferSettings, s3_client, s3_errors
from rlsd.storage.uri import as_str, is_s3, join, local_path, parse_s3

MANIFEST_NAME = "manifest.json"
FORMAT = "rlsd.storage/manifest"
VERSION = 1
_SHA256 = re.compile(r"[0-9a-fA-F]{64}")
# How many problems one IntegrityError message spells out before summarising the rest.
_MAX_LISTED = 5


@dataclasses.dataclass(frozen=True)
class FileEntry:
    """One file of a manifest: ``path`` relative to the folder, with ``/`` separators."""

    path: str
    size: int
    sha256: str


@dataclasses.dataclass(frozen=True)
class Manifest:
    """The parsed ``manifest.json`` of a folder."""

    files: tuple[FileEntry, ...]
    metadata: dict[str, Any] = dataclasses.field(default_factory=dict)
    created_at: str = ""
    version: int = VERSION

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    def to_json(self) -> str:
        return json.dumps(
            {
                "format": FORMAT,
                "version": self.version,
                "created_at": self.created_at,
                "total_bytes": self.total_bytes,
                "files": [dataclasses.asdict(f) for f in self.files],
                "metadata": self.metadata,
            },
            indent=2,
            sort_keys=False,
        )

    @classmethod
    def from_json(cls, text: str | bytes, uri: str = MANIFEST_NAME) -> Manifest:
        """Parse and validate; :class:`IntegrityError` naming ``uri`` and the defect."""
        def bad(why: str) -> IntegrityError:
            return IntegrityError(f"{uri} is not a valid manifest: {why}")

        try:
            data = json.loads(text)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad(f"not JSON ({exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise bad(f"missing \"format\": \"{FORMAT}\"")
        if data.get("version") != VERSION:
            raise bad(f"unsupported version {data.get('version')!r} (this code reads {VERSION})")
        raw_files = data.get("files")
        if not isinstance(raw_files, list):
            raise bad("\"files\" must be a list")
        files = []
        for i, item in enumerate(raw_files):
            if not isinstance(item, dict):
                raise bad(f"files[{i}] must be an object")
            path, size, digest = item.get("path"), item.get("size"), item.get("sha256")
            if not isinstance(size, int) or isinstance(size, bool) or size < 0:
                raise bad(f"files[{i}].size must be a non-negative integer")
            if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                raise bad(f"files[{i}].sha256 must be 64 hex characters")
            files.append(FileEntry(check_relative_path(path, uri), size, digest.lower()))
        if len({f.path for f in files}) != len(files):
            raise bad("a path is listed twice")
        metadata = data.get("metadata", {})
        if not isinstance(metadata, dict):
            raise bad("\"metadata\" must be an object")
        return cls(tuple(files), metadata, str(data.get("created_at", "")), VERSION)


def check_relative_path(path: object, uri: str = MANIFEST_NAME) -> str:
    """Reject paths that would escape the folder on download (``..``, absolute, ``\\``)."""
    if not isinstance(path, str) or not path:
        raise IntegrityError(f"{uri}: manifest path {path!r} must be a non-empty string")
    parts = PurePosixPath(path).parts
    if (path.startswith("/") or "\\" in path or any(p in ("..", ".") for p in parts)
            or path != "/".join(parts)):
        raise IntegrityError(f"{uri}: manifest path {path!r} is not a clean relative path")
    if path == MANIFEST_NAME:
        raise IntegrityError(f"{uri}: the manifest cannot list itself")
    return path


def check_metadata(metadata: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON-safe copy of ``metadata``; ValueError up front (before any upload) if it is not."""
    if metadata is None:
        return {}
    if not isinstance(metadata, Mapping):
        raise ValueError(f"manifest metadata must be a mapping, got {type(metadata).__name__}")
    try:
        return json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"manifest metadata is not JSON-serialisable: {exc}") from None


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def make_manifest(files: Iterable[FileEntry],
                  metadata: Mapping[str, Any] | None = None) -> Manifest:
    """A manifest of ``files`` (sorted by path) stamped with the current UTC time."""
    entries = tuple(sorted(files, key=lambda f: f.path))
    for entry in entries:
        check_relative_path(entry.path)
    return Manifest(entries, check_metadata(metadata), utc_now())


def manifest_uri(uri: str | os.PathLike[str]) -> str:
    """``uri``'s ``manifest.json`` (``uri`` may already name the manifest itself)."""
    text = as_str(uri)
    return text if text.rstrip("/").endswith("/" + MANIFEST_NAME) else join(text, MANIFEST_NAME)


def folder_of(uri: str | os.PathLike[str]) -> str:
    text = as_str(uri).rstrip("/")
    suffix = "/" + MANIFEST_NAME
    return text[: -len(suffix)] if text.endswith(suffix) else text


def read_manifest(uri: str | os.PathLike[str], *,
                  settings: TransferSettings | None = None) -> Manifest:
    """The manifest of folder ``uri``; :class:`IncompleteCheckpointError` if it has none."""
    folder = folder_of(uri)
    target = manifest_uri(folder)
    try:
        raw = read_bytes(target, settings=settings)
    except BucketNotFoundError:
        raise  # a missing bucket is not an incomplete checkpoint
    except NotFoundError:
        raise IncompleteCheckpointError(
            f"checkpoint {folder}: no {MANIFEST_NAME}, so it is incomplete (still being "
            f"written or interrupted) or not a checkpoint"
        ) from None
    return Manifest.from_json(raw, target)


def write_manifest(uri: str | os.PathLike[str], metadata: Mapping[str, Any] | None = None, *,
                   files: Sequence[FileEntry] | None = None,
                   settings: TransferSettings | None = None) -> Manifest:
    """Write ``manifest.json`` for folder ``uri``: call it only after every file is written.

    With ``files`` (e.g. hashes computed while uploading) the folder is checked cheaply
    against them (presence and size) before the manifest is written; without, every file
    currently in the folder is listed and hashed by streaming it (slow for big remote folders).
    """
    folder = folder_of(uri)
    meta = check_metadata(metadata)
    sizes = {p: s for p, s in list_sizes(folder, settings=settings).items() if p != MANIFEST_NAME}
    if files is None:
        files = [FileEntry(p, s, d) for p, (d, s) in _hash_all(folder, sizes, settings).items()]
    manifest = make_manifest(files, meta)
    problems = _size_problems(manifest, sizes)
    if problems:
        raise IntegrityError(_message(folder, problems, "refusing to write a manifest"))
    body = manifest.to_json().encode("utf-8")
    target = manifest_uri(folder)
    if is_s3(target):
        loc = parse_s3(target)
        client = s3_client(settings)
        with s3_errors(target, client):
            client.put_object(Bucket=loc.bucket, Key=loc.key, Body=body,
                              ContentType="application/json")
    else:
        with atomic_open(local_path(target)) as f:
            f.write(body)
    return manifest


def remove_manifest(uri: str | os.PathLike[str], *,
                    settings: TransferSettings | None = None) -> None:
    """Delete ``manifest.json`` first when a folder is about to be rewritten in place, so that
    no reader ever pairs the old manifest with a mix of old and new files."""
    delete(manifest_uri(folder_of(uri)), settings=settings)


def verify_manifest(uri: str | os.PathLike[str], check_hashes: bool = False,
                    *, settings: TransferSettings | None = None) -> Manifest:
    """Check folder ``uri`` against its manifest and return the manifest.

    Without ``check_hashes`` this is one listing (presence and sizes): cheap enough to fail
    fast before spending compute. With it every file is also streamed and hashed.
    Raises :class:`IncompleteCheckpointError` (no manifest) or :class:`IntegrityError`.
    """
    folder = folder_of(uri)
    manifest = read_manifest(folder, settings=settings)
    sizes = list_sizes(folder, settings=settings)
    problems = _size_problems(manifest, sizes)
    if problems:
        raise IntegrityError(_message(folder, problems))
    if check_hashes:
        got = _hash_all(folder, {f.path: f.size for f in manifest.files}, settings)
        problems = [
            hash_problem(f, got[f.path][0]) for f in manifest.files if got[f.path][0] != f.sha256
        ]
        if problems:
            raise IntegrityError(_message(folder, problems))
    return manifest


def hash_problem(entry: FileEntry, actual: str) -> str:
    return (f"file {entry.path} is corrupt (sha256 {actual[:12]}..., manifest says "
            f"{entry.sha256[:12]}...)")


def size_problem(entry: FileEntry, actual: int | None) -> str | None:
    if actual is None:
        return f"file {entry.path} is missing"
    if actual != entry.size:
        return f"file {entry.path} has {actual} bytes, manifest says {entry.size}"
    return None


def _size_problems(manifest: Manifest, sizes: Mapping[str, int]) -> list[str]:
    found = (size_problem(f, sizes.get(f.path)) for f in manifest.files)
    return [p for p in found if p is not None]


def integrity_error(folder: str, problems: Sequence[str]) -> IntegrityError:
    return IntegrityError(_message(folder, problems))


def _message(folder: str, problems: Sequence[str], tail: str = "") -> str:
    shown = "; ".join(problems[:_MAX_LISTED])
    more = len(problems) - _MAX_LISTED
    text = f"checkpoint {folder}: {shown}"
    if more > 0:
        text += f"; and {more} more"
    return f"{text} ({tail})" if tail else text


def _hash_all(folder: str, sizes: Mapping[str, int],
              settings: TransferSettings | None) -> dict[str, tuple[str, int]]:
    """``{path: (sha256, size)}`` for files of ``folder``, hashed in parallel streams."""
    if not sizes:
        return {}

    def one(rel: str) -> tuple[str, int]:
        target = join(folder, rel)
        if not is_s3(target):
            path = local_path(target)
            return sha256_file(path), path.stat().st_size
        loc = parse_s3(target)
        client = s3_client(settings)
        with s3_errors(target, client):
            body = client.get_object(Bucket=loc.bucket, Key=loc.key)["Body"]
            return sha256_chunks(body.iter_chunks(CHUNK_BYTES))

    workers = min(len(sizes), (settings or TransferSettings()).max_concurrency)
    with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(sizes, pool.map(one, sizes), strict=True))
