"""Folder transfers and the manifest protocol against a real S3-protocol server (moto)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import boto3
import pytest

from rlsd.storage import (
    MANIFEST_NAME,
    IncompleteCheckpointError,
    IntegrityError,
    TransferSettings,
    download_dir,
    exists,
    join,
    list_sizes,
    open_checkpoint,
    parse_s3,
    read_bytes,
    read_manifest,
    upload_dir,
    verify_manifest,
    write_bytes,
    write_manifest,
)
from rlsd.storage.manifest import FileEntry

MiB = 1024 * 1024
# Small threshold and the S3-minimum part size so an 11 MiB file really goes multipart.
SMALL_PARTS = TransferSettings(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                               max_concurrency=4, max_attempts=3)


def _client() -> object:
    return boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])


def _make_checkpoint(root: Path, big: bool = False) -> dict[str, bytes]:
    files = {
        "config.json": b'{"hidden_size": 8}',
        "model-00001-of-00002.safetensors": bytes(range(256)) * 40,
        "model-00002-of-00002.safetensors": b"\x07" * 5000,
        "tokenizer/vocab.txt": b"a\nb\nc\n",
        "tokenizer/nested/deep/merges.txt": b"",  # empty files round-trip too
    }
    if big:
        files["optimizer/state.bin"] = os.urandom(11 * MiB)  # 3 parts of <= 5 MiB
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


def _local_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_folder_round_trip_s3_with_multipart(tmp_path: Path, s3_root: str) -> None:
    files = _make_checkpoint(tmp_path / "src", big=True)
    dest = join(s3_root, "ckpt", "round-1")
    metadata = {"round": 1, "step": 8, "kind": "policy"}
    manifest = upload_dir(tmp_path / "src", dest, metadata=metadata, settings=SMALL_PARTS,
                          progress=False)

    # The big file went up as a real 3-part multipart upload (S3 ETag "<md5>-<parts>").
    loc = parse_s3(join(dest, "optimizer/state.bin"))
    etag = _client().head_object(Bucket=loc.bucket, Key=loc.key)["ETag"].strip('"')
    assert etag.endswith("-3")

    # The manifest lists exactly the files, with sizes and independently computed sha256.
    assert {f.path: (f.size, f.sha256) for f in manifest.files} == {
        rel: (len(data), hashlib.sha256(data).hexdigest()) for rel, data in files.items()}
    stored = json.loads(read_bytes(join(dest, MANIFEST_NAME)))
    assert stored["metadata"] == {"round": 1, "step": 8, "kind": "policy"}
    assert stored["total_bytes"] == sum(len(d) for d in files.values())
    assert read_manifest(dest) == manifest

    got = download_dir(dest, tmp_path / "dst", settings=SMALL_PARTS, progress=False)
    assert got == manifest
    downloaded = _local_files(tmp_path / "dst")
    assert downloaded.pop(MANIFEST_NAME)  # the local copy follows the protocol too
    assert downloaded == files  # and no staging leftovers


def test_manifest_is_written_after_every_file(tmp_path: Path, s3_root: str) -> None:
    files = _make_checkpoint(tmp_path / "src")
    dest = join(s3_root, "ckpt")
    total = sum(len(d) for d in files.values())
    seen = {"bytes": 0, "manifest_seen_during_upload": []}

    def watch(delta: int) -> None:
        # Runs in transfer threads: at the first byte and the last one, no manifest yet.
        first = seen["bytes"] == 0
        seen["bytes"] += delta
        if first or seen["bytes"] == total:
            seen["manifest_seen_during_upload"].append(exists(join(dest, MANIFEST_NAME)))

    upload_dir(tmp_path / "src", dest, progress=False, on_progress=watch)
    assert seen["bytes"] == total
    assert seen["manifest_seen_during_upload"] == [False, False]
    assert exists(join(dest, MANIFEST_NAME))


def test_interrupted_upload_leaves_no_manifest(tmp_path: Path, s3_root: str) -> None:
    _make_checkpoint(tmp_path / "src", big=True)
    dest = join(s3_root, "ckpt")
    upload_dir(tmp_path / "src", dest, progress=False, metadata={"round": 0})
    assert exists(join(dest, MANIFEST_NAME))

    def interrupt(delta: int) -> None:
        raise KeyboardInterrupt("simulated Ctrl-C during upload")

    # Rewriting the same folder: the old manifest goes first, so an interrupted rewrite
    # never pairs the old manifest with a mix of old and new files.
    with pytest.raises(KeyboardInterrupt, match="simulated Ctrl-C"):
        upload_dir(tmp_path / "src", dest, settings=SMALL_PARTS, progress=False,
                   metadata={"round": 1}, on_progress=interrupt)
    assert not exists(join(dest, MANIFEST_NAME))
    # The cancelled multipart upload of the big file was aborted, not left dangling.
    pending = _client().list_multipart_uploads(Bucket=parse_s3(dest).bucket)
    assert pending.get("Uploads", []) == []
    with pytest.raises(IncompleteCheckpointError) as info:
        read_manifest(dest)
    assert str(info.value) == (
        f"checkpoint {dest}: no manifest.json, so it is incomplete (still being written or "
        f"interrupted) or not a checkpoint")
    with pytest.raises(IncompleteCheckpointError):
        download_dir(dest, tmp_path / "dst", progress=False)
    with pytest.raises(IncompleteCheckpointError):
        verify_manifest(dest)
    assert not (tmp_path / "dst").exists() or _local_files(tmp_path / "dst") == {}


def test_corrupted_file_is_caught_by_hash_not_by_size(tmp_path: Path, s3_root: str) -> None:
    files = _make_checkpoint(tmp_path / "src")
    dest = join(s3_root, "ckpt")
    upload_dir(tmp_path / "src", dest, progress=False)
    rel = "model-00002-of-00002.safetensors"
    write_bytes(b"\x08" * len(files[rel]), join(dest, rel))  # same size, other bytes

    verify_manifest(dest)  # the cheap check only sees presence and sizes
    with pytest.raises(IntegrityError, match=f"checkpoint {dest}: file {rel} is corrupt"):
        verify_manifest(dest, check_hashes=True)
    with pytest.raises(IntegrityError, match=f"file {rel} is corrupt"):
        download_dir(dest, tmp_path / "dst", progress=False)
    # Nothing was handed over: the destination holds no file of the checkpoint.
    assert _local_files(tmp_path / "dst") == {}


def test_missing_shard_fails_fast_before_any_download(tmp_path: Path, s3_root: str) -> None:
    _make_checkpoint(tmp_path / "src")
    dest = join(s3_root, "ckpt")
    upload_dir(tmp_path / "src", dest, progress=False)
    rel = "model-00002-of-00002.safetensors"
    loc = parse_s3(join(dest, rel))
    _client().delete_object(Bucket=loc.bucket, Key=loc.key)

    with pytest.raises(IntegrityError) as info:
        verify_manifest(dest)
    assert str(info.value) == f"checkpoint {dest}: file {rel} is missing"

    downloaded = []
    with pytest.raises(IntegrityError, match=f"file {rel} is missing"):
        download_dir(dest, tmp_path / "dst", progress=False, on_progress=downloaded.append)
    assert downloaded == []  # failed on the listing, before a single byte moved


def test_size_mismatch_is_reported_with_both_sizes(tmp_path: Path, s3_root: str) -> None:
    _make_checkpoint(tmp_path / "src")
    dest = join(s3_root, "ckpt")
    upload_dir(tmp_path / "src", dest, progress=False)
    write_bytes(b"{}", join(dest, "config.json"))
    with pytest.raises(IntegrityError, match="file config.json has 2 bytes, manifest says 18"):
        verify_manifest(dest)


def test_open_checkpoint_from_s3(tmp_path: Path, s3_root: str) -> None:
    files = _make_checkpoint(tmp_path / "src")
    dest = join(s3_root, "ckpt")
    upload_dir(tmp_path / "src", dest, progress=False, metadata={"step": 3})
    ckpt = open_checkpoint(dest, tmp_path / "local", progress=False)
    assert ckpt.uri == dest and ckpt.path == tmp_path / "local"
    assert ckpt.metadata == {"step": 3}
    assert (ckpt.path / "tokenizer/vocab.txt").read_bytes() == files["tokenizer/vocab.txt"]


def test_local_folders_follow_the_same_protocol(tmp_path: Path) -> None:
    files = _make_checkpoint(tmp_path / "src")
    dest = tmp_path / "published"
    upload_dir(tmp_path / "src", dest, progress=False, metadata={"kind": "ref"})
    assert list_sizes(str(dest))[MANIFEST_NAME] > 0
    ckpt = open_checkpoint(str(dest))  # local: verified in place, hashes included
    assert ckpt.path == dest and ckpt.metadata == {"kind": "ref"}
    copied = download_dir(str(dest), tmp_path / "copy", progress=False)
    assert copied is not None and copied.files == ckpt.manifest.files
    assert {k: v for k, v in _local_files(tmp_path / "copy").items() if k != MANIFEST_NAME} == files

    (dest / "tokenizer" / "vocab.txt").write_bytes(b"x\ny\nz\n")  # same size, corrupt
    with pytest.raises(IntegrityError, match="file tokenizer/vocab.txt is corrupt"):
        open_checkpoint(str(dest))
    open_checkpoint(str(dest), check_hashes=False)  # the fast path does not read contents

    def interrupt(delta: int) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        upload_dir(tmp_path / "src", dest, progress=False, on_progress=interrupt)
    with pytest.raises(IncompleteCheckpointError):
        open_checkpoint(str(dest))


def test_plain_folder_without_manifest(tmp_path: Path, s3_root: str) -> None:
    files = _make_checkpoint(tmp_path / "src")
    dest = join(s3_root, "dataset")
    upload_dir(tmp_path / "src", dest, manifest=False, progress=False)
    assert not exists(join(dest, MANIFEST_NAME))
    assert download_dir(dest, tmp_path / "dst", verify=False, progress=False) is None
    assert _local_files(tmp_path / "dst") == files


def test_manifest_paths_cannot_escape_the_folder(tmp_path: Path, s3_root: str) -> None:
    dest = join(s3_root, "evil")
    write_bytes(b"x", join(dest, "a.bin"))
    manifest = {"format": "rlsd.storage/manifest", "version": 1, "created_at": "",
                "files": [{"path": "../../outside.bin", "size": 1, "sha256": "0" * 64}],
                "metadata": {}}
    write_bytes(json.dumps(manifest).encode(), join(dest, MANIFEST_NAME))
    with pytest.raises(IntegrityError, match="'../../outside.bin' is not a clean relative path"):
        download_dir(dest, tmp_path / "dst", progress=False)
    assert not (tmp_path / "outside.bin").exists()


def test_bad_metadata_is_rejected_before_any_upload(tmp_path: Path, s3_root: str) -> None:
    _make_checkpoint(tmp_path / "src")
    dest = join(s3_root, "ckpt")
    with pytest.raises(ValueError, match="manifest metadata is not JSON-serialisable"):
        upload_dir(tmp_path / "src", dest, metadata={"when": object()}, progress=False)
    assert list_sizes(dest) == {}


def test_write_manifest_for_files_written_directly(s3_root: str) -> None:
    dest = join(s3_root, "streamed")
    data = {"a.bin": b"alpha", "sub/b.bin": b"bravo!"}
    for rel, blob in data.items():
        write_bytes(blob, join(dest, rel))
    manifest = write_manifest(dest, {"step": 2})  # lists and hashes what is there
    assert {f.path: f.sha256 for f in manifest.files} == {
        rel: hashlib.sha256(blob).hexdigest() for rel, blob in data.items()}
    assert verify_manifest(dest, check_hashes=True) == manifest

    wrong = [FileEntry("a.bin", 5, "0" * 64), FileEntry("gone.bin", 1, "0" * 64)]
    with pytest.raises(IntegrityError, match=r"file gone.bin is missing \(refusing to write"):
        write_manifest(dest, files=wrong)
    assert read_manifest(dest) == manifest  # the good manifest is still in place
