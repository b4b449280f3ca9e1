"""Storage under network faults: a proxy (tests/storage/fault_proxy.py) between the code and
the S3-protocol test server drops, resets, stalls and cuts connections. Reads and writes
retry and succeed; without retries the same fault fails; an upload cut mid-way is never
visible as a complete checkpoint, and the next upload completes it."""

import time
from urllib.parse import urlsplit

import boto3
import pyarrow as pa
import pytest

from rlsd.storage import (
    IncompleteCheckpointError,
    StorageError,
    TransferSettings,
    list_files,
    open_checkpoint,
    read_bytes,
    read_table,
    upload_dir,
    verify_manifest,
    write_bytes,
    write_table,
)
from tests.storage.fault_proxy import FaultProxy

MiB = 1024 * 1024


@pytest.fixture
def proxy(s3_bucket, s3_endpoint, monkeypatch):
    """The AWS environment pointed at a fault proxy in front of the test server."""
    target = urlsplit(s3_endpoint)
    p = FaultProxy(target.hostname, target.port)
    monkeypatch.setenv("AWS_ENDPOINT_URL", p.url)
    yield p
    p.close()


def test_objects_survive_resets_and_dropped_answers(proxy, s3_bucket):
    uri = f"s3://{s3_bucket}/run/blob.bin"
    proxy.add("reset", "close")
    write_bytes(b"x" * 5000, uri)
    assert proxy.faulted == 2
    proxy.add("reset", "reset", "close")
    assert read_bytes(uri) == b"x" * 5000
    assert proxy.faulted == 5


def test_without_retries_the_same_fault_fails(proxy, s3_bucket):
    once = TransferSettings(max_attempts=1)
    proxy.add("reset")
    with pytest.raises(StorageError):
        write_bytes(b"data", f"s3://{s3_bucket}/run/once.bin", settings=once)
    assert proxy.faulted == 1


def test_tables_survive_resets(proxy, s3_bucket):
    uri = f"s3://{s3_bucket}/run/table.parquet"
    table = pa.table({"a": list(range(1000)), "b": [str(i) for i in range(1000)]})
    proxy.add("reset", "reset")
    write_table(table, uri)
    proxy.add("reset", "close")
    assert read_table(uri).equals(table)
    assert proxy.faulted == 4


def test_a_stalled_answer_times_out_and_is_retried(proxy, s3_bucket):
    uri = f"s3://{s3_bucket}/run/stalled.bin"
    write_bytes(b"payload", uri)
    quick = TransferSettings(read_timeout=1.0, max_attempts=3)
    proxy.add("stall:4")
    started = time.perf_counter()
    assert read_bytes(uri, settings=quick) == b"payload"
    elapsed = time.perf_counter() - started
    assert proxy.faulted == 1 and 1.0 <= elapsed < 4.0  # gave up on the stall, then retried


def test_an_upload_cut_midway_is_never_a_complete_checkpoint(proxy, s3_bucket, tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "model.safetensors").write_bytes(bytes(range(256)) * (12 * MiB // 256))
    uri = f"s3://{s3_bucket}/run/policy"
    settings = TransferSettings(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB,
                                max_attempts=2, max_concurrency=2)
    proxy.sticky = "cut:262144"  # every request body is cut after 256 KiB, retries too
    with pytest.raises(StorageError):
        upload_dir(folder, uri, settings=settings, progress=False)
    proxy.sticky = None
    assert "manifest.json" not in [f.rsplit("/", 1)[-1] for f in list_files(uri)]
    with pytest.raises(IncompleteCheckpointError):
        open_checkpoint(uri, tmp_path / "download", progress=False)
    client = boto3.client("s3", endpoint_url=proxy.url, region_name="us-east-1")
    assert client.list_multipart_uploads(Bucket=s3_bucket).get("Uploads", []) == []

    upload_dir(folder, uri, settings=settings, progress=False)  # the re-run completes it
    manifest = verify_manifest(uri, check_hashes=True)
    assert {f.path for f in manifest.files} == {"config.json", "model.safetensors"}
