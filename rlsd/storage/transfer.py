"""Folder transfers: ``upload_dir`` and ``download_dir`` with the manifest protocol.

S3 transfers use boto3's managed transfer manager: files at least
``TransferSettings.multipart_threshold`` bytes go up and down as concurrent multipart /
ranged requests, each request retried by botocore (``TransferSettings.retry_mode`` and
``max_attempts``).
A failed upload aborts its multipart upload, so no half object ever becomes visible.

Uploads hash each file in the calling thread while the transfer threads send it (the page
cache serves both reads), then write ``manifest.json`` last. Downloads land in a hidden
staging folder inside the destination, are checked against the manifest (size and SHA-256),
and only then are moved into place, manifest last; on any failure the staging folder is
removed and the destination is left as it was.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rlsd.storage.errors import (
    BucketNotFoundError,
    IntegrityError,
    NotFoundError,
    StorageError,
    UnsupportedURIError,
)
from rlsd.storage.hashing import sha256_file, sha256_stream
from rlsd.storage.local import TMP_PREFIX, atomic_open, copy_stream, list_local
from rlsd.storage.manifest import (
    MANIFEST_NAME,
    FileEntry,
    Manifest,
    check_metadata,
    check_relative_path,
    hash_problem,
    integrity_error,
    make_manifest,
    read_manifest,
    remove_manifest,
    size_problem,
    write_manifest,
)
from rlsd.storage.objects import list_sizes, read_bytes
from rlsd.storage.progress import ByteProgress, ProgressCallback
from rlsd.storage.s3_client import TransferSettings, s3_client, s3_errors, transfer_config
from rlsd.storage.uri import as_str, is_s3, join, local_path, parse_s3

log = logging.getLogger(__name__)


def upload_dir(local_dir: str | os.PathLike[str], uri: str | os.PathLike[str], *,
               metadata: Mapping[str, Any] | None = None, manifest: bool = True,
               settings: TransferSettings | None = None, progress: bool | None = None,
               on_progress: ProgressCallback | None = None) -> Manifest:
    """Copy every file under ``local_dir`` to folder ``uri`` (S3 or local), manifest last.

    Returns the manifest (written as ``uri/manifest.json`` unless ``manifest=False``, for
    plain folders such as data set shards). A ``manifest.json`` already in ``local_dir`` is
    not copied: a fresh one describes what was uploaded. An existing manifest at ``uri`` is
    deleted before the first file goes up. If anything fails, the exception propagates and
    no manifest is written, so readers see the folder as incomplete.

    ``on_progress(delta_bytes)`` is called from transfer threads; raising in it aborts the
    upload. ``progress`` forces the tqdm bar on or off (default: only on a TTY).
    """
    src = local_path(local_dir)
    dest = as_str(uri).rstrip("/")
    meta = check_metadata(metadata)
    if not src.is_dir():
        raise NotFoundError(f"{src} does not exist or is not a folder")
    sizes = {p: s for p, s in list_local(src).items() if p != MANIFEST_NAME}
    if not sizes:
        raise StorageError(f"{src} holds no files to upload")
    # Validate every destination name before the first byte moves (raise early, lose nothing).
    targets = {rel: join(dest, check_relative_path(rel, str(src))) for rel in sizes}
    if is_s3(dest):
        for target in targets.values():
            parse_s3(target)
    else:
        _check_not_nested(src, local_path(dest))

    remove_manifest(dest, settings=settings)
    with ByteProgress(sum(sizes.values()), f"upload {dest}", progress, on_progress) as bar:
        if is_s3(dest):
            entries = _upload_s3(src, targets, settings, bar)
        else:
            entries = _copy_local(src, local_path(dest), list(sizes), bar)
    log.info("uploaded %d files (%d bytes) from %s to %s", len(entries),
             sum(e.size for e in entries), src, dest)
    if manifest:
        return write_manifest(dest, meta, files=entries, settings=settings)
    return make_manifest(entries, meta)


def download_dir(uri: str | os.PathLike[str], local_dir: str | os.PathLike[str], *,
                 verify: bool = True, settings: TransferSettings | None = None,
                 progress: bool | None = None,
                 on_progress: ProgressCallback | None = None) -> Manifest | None:
    """Copy folder ``uri`` (S3 or local) into ``local_dir`` and return its manifest.

    With ``verify`` (default) the folder must have a manifest
    (:class:`IncompleteCheckpointError` otherwise); presence and sizes are checked before
    any download, SHA-256 of every file after, and files appear in ``local_dir`` only when
    all of them match (:class:`IntegrityError` otherwise, with ``local_dir`` untouched).
    ``verify=False`` copies whatever the folder holds (plain folders) and returns None.
    Files already in ``local_dir`` that the source does not hold are left alone.
    """
    src = as_str(uri).rstrip("/")
    dst = local_path(local_dir)
    manifest: Manifest | None = None
    sizes = list_sizes(src, settings=settings)
    if verify:
        manifest = read_manifest(src, settings=settings)
        problems = [p for f in manifest.files if (p := size_problem(f, sizes.get(f.path)))]
        if problems:
            raise integrity_error(src, problems)
        wanted = {f.path: f.size for f in manifest.files}
    else:
        wanted = {p: s for p, s in sizes.items() if p != MANIFEST_NAME}
        if not sizes:
            raise NotFoundError(f"{src} does not exist or holds no files")
        for rel in wanted:
            check_relative_path(rel, src)

    dst.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}download-", dir=dst))
    try:
        with ByteProgress(sum(wanted.values()), f"download {src}", progress, on_progress) as bar:
            if is_s3(src):
                got = _download_s3(src, staging, wanted, verify, settings, bar)
            else:
                got = _copy_in(local_path(src), staging, wanted, bar)
        if manifest is not None:
            problems = [p for f in manifest.files if (p := size_problem(f, got[f.path][1]))]
            problems += [hash_problem(f, got[f.path][0]) for f in manifest.files
                         if got[f.path][0] != f.sha256 and got[f.path][1] == f.size]
            if problems:
                raise integrity_error(src, problems)
        # Publish like a writer: old manifest out first, files in, manifest last.
        (dst / MANIFEST_NAME).unlink(missing_ok=True)
        for rel in wanted:
            target = dst / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / rel, target)
        raw = None
        if manifest is not None:
            raw = manifest.to_json().encode()
        elif MANIFEST_NAME in sizes:  # verify=False: copy the source's manifest as it is
            raw = read_bytes(join(src, MANIFEST_NAME), settings=settings)
        if raw is not None:
            with atomic_open(dst / MANIFEST_NAME) as f:
                f.write(raw)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("downloaded %d files (%d bytes) from %s to %s%s", len(wanted),
             sum(wanted.values()), src, dst, " (verified)" if verify else "")
    return manifest


def _check_not_nested(src: Path, dst: Path) -> None:
    a, b = src.resolve(), dst.resolve()
    if a == b:
        return  # sealing a folder in place: files are rewritten atomically onto themselves
    if a in b.parents or b in a.parents:
        raise UnsupportedURIError(f"cannot copy {src} to {dst}: one folder is inside the other")


def _subscriber(bar: ByteProgress) -> Any:
    from s3transfer.subscribers import BaseSubscriber

    class _Progress(BaseSubscriber):
        def on_progress(self, future: Any, bytes_transferred: int, **kwargs: Any) -> None:
            bar(bytes_transferred)

    return _Progress()


def _upload_s3(src: Path, targets: Mapping[str, str], settings: TransferSettings | None,
               bar: ByteProgress) -> list[FileEntry]:
    from boto3.s3.transfer import create_transfer_manager

    client = s3_client(settings)
    subscriber = _subscriber(bar)
    # Leaving the ``with`` on an exception cancels every transfer and aborts their multipart
    # uploads. (Not ``manager.shutdown(cancel=True)``: in s3transfer 0.19 it passes its
    # arguments shifted and fails with a TypeError instead of cancelling.)
    with create_transfer_manager(client, transfer_config(settings)) as manager:
        futures = {}
        for rel, target in targets.items():
            loc = parse_s3(target)
            futures[rel] = manager.upload(str(src / rel), loc.bucket, loc.key,
                                          subscribers=[subscriber])
        # Hash here while the transfer threads upload; the sizes come from the same read.
        entries = []
        for rel in targets:
            with open(src / rel, "rb") as f:
                digest, size = sha256_stream(f)
            entries.append(FileEntry(rel, size, digest))
        for rel, future in futures.items():
            with s3_errors(targets[rel], client):
                future.result()
    return entries


def _copy_hashing(src: Path, dst: Path, bar: ByteProgress) -> tuple[str, int]:
    """Copy one local file atomically, hashing the bytes on the way: ``(sha256, size)``."""
    digest, size = hashlib.sha256(), 0
    with open(src, "rb") as fin, atomic_open(dst) as fout:
        def seen(chunk: bytes) -> None:
            nonlocal size
            digest.update(chunk)
            size += len(chunk)
            bar(len(chunk))

        copy_stream(fin, fout, seen)
    return digest.hexdigest(), size


def _copy_local(src: Path, dst: Path, rels: list[str], bar: ByteProgress) -> list[FileEntry]:
    same = src.resolve() == dst.resolve()
    entries = []
    for rel in rels:
        if same:  # sealing in place: hash only
            with open(src / rel, "rb") as f:
                digest, size = sha256_stream(f)
            bar(size)
        else:
            digest, size = _copy_hashing(src / rel, dst / rel, bar)
        entries.append(FileEntry(rel, size, digest))
    return entries


def _download_s3(src: str, staging: Path, wanted: Mapping[str, int], verify: bool,
                 settings: TransferSettings | None,
                 bar: ByteProgress) -> dict[str, tuple[str, int]]:
    from boto3.s3.transfer import create_transfer_manager

    client = s3_client(settings)
    subscriber = _subscriber(bar)
    got: dict[str, tuple[str, int]] = {}
    with create_transfer_manager(client, transfer_config(settings)) as manager:  # see _upload_s3
        futures = {}
        for rel in wanted:
            loc = parse_s3(join(src, rel))
            (staging / rel).parent.mkdir(parents=True, exist_ok=True)
            futures[rel] = manager.download(loc.bucket, loc.key, str(staging / rel),
                                            subscribers=[subscriber])
        for rel, future in futures.items():
            try:
                with s3_errors(join(src, rel), client):
                    future.result()
            except BucketNotFoundError:
                raise
            except NotFoundError:  # deleted between the listing and the download
                raise IntegrityError(f"checkpoint {src}: file {rel} is missing") from None
            # Hash this file while later ones are still downloading.
            path = staging / rel
            got[rel] = (sha256_file(path) if verify else "", path.stat().st_size)
    return got


def _copy_in(src: Path, staging: Path, wanted: Mapping[str, int],
             bar: ByteProgress) -> dict[str, tuple[str, int]]:
    got: dict[str, tuple[str, int]] = {}
    for rel in wanted:
        if not (src / rel).is_file():
            raise IntegrityError(f"checkpoint {src}: file {rel} is missing")
        got[rel] = _copy_hashing(src / rel, staging / rel, bar)
    return got
