"""URI helpers: pure string logic, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsd.storage import S3Location, UnsupportedURIError, is_s3, join, parse_s3
from rlsd.storage.uri import local_path


def test_is_s3_tells_s3_from_local_paths() -> None:
    assert is_s3("s3://bkt/key")
    assert not is_s3("/data/x.parquet")
    assert not is_s3("runs/a")
    assert not is_s3("file:///data/x")
    assert not is_s3(Path("/tmp/x"))


def test_parse_s3_splits_bucket_and_key() -> None:
    assert parse_s3("s3://bkt/a/b.parquet") == S3Location("bkt", "a/b.parquet")
    assert parse_s3("s3://bkt") == S3Location("bkt", "")
    assert parse_s3("s3://bkt/dir/") == S3Location("bkt", "dir/")
    assert S3Location("bkt", "a/b").uri == "s3://bkt/a/b"
    assert S3Location("bkt", "").uri == "s3://bkt"


@pytest.mark.parametrize("uri, fragment", [
    ("s3://", "not a valid bucket name"),
    ("s3:///key", "not a valid bucket name"),
    ("s3://a b/key", "not a valid bucket name"),
    ("/local/path", "is not an s3:// URI"),
])
def test_parse_s3_rejects_malformed(uri: str, fragment: str) -> None:
    with pytest.raises(UnsupportedURIError, match=fragment):
        parse_s3(uri)


def test_parse_s3_rejects_keys_over_the_s3_limit() -> None:
    with pytest.raises(UnsupportedURIError, match="key is 1025 bytes, S3 allows 1024"):
        parse_s3("s3://bkt/" + "k" * 1025)
    assert parse_s3("s3://bkt/" + "k" * 1024).key == "k" * 1024


def test_unknown_schemes_are_rejected_not_treated_as_local_folders() -> None:
    with pytest.raises(UnsupportedURIError, match="unsupported URI scheme in 'gs://b/x'"):
        is_s3("gs://b/x")
    with pytest.raises(UnsupportedURIError, match="empty storage URI"):
        is_s3("")


def test_join_s3_and_local_alike() -> None:
    assert join("s3://bkt/run", "ckpt", "model.bin") == "s3://bkt/run/ckpt/model.bin"
    assert join("s3://bkt/run/", "/ckpt/", "a/b") == "s3://bkt/run/ckpt/a/b"
    assert join("s3://bkt", "x") == "s3://bkt/x"
    assert join("s3://bkt/run", "", "/") == "s3://bkt/run"
    assert join("/data/run", "/ckpt", "x.bin") == "/data/run/ckpt/x.bin"
    assert join(Path("rel"), "a") == "rel/a"


def test_local_path_strips_file_scheme_and_refuses_s3() -> None:
    assert local_path("file:///data/x") == Path("/data/x")
    assert local_path("runs/a") == Path("runs/a")
    with pytest.raises(UnsupportedURIError, match="is an s3:// URI"):
        local_path("s3://bkt/x")
