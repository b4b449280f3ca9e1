"""Objects, listings and error messages, against a real S3-protocol server (moto)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsd.storage import (
    BucketNotFoundError,
    CredentialsError,
    NotFoundError,
    delete,
    exists,
    join,
    list_files,
    list_sizes,
    read_bytes,
    write_bytes,
)

SECRET = "fake-secret-Zq9xV"


def test_bytes_round_trip_s3(s3_root: str) -> None:
    uri = join(s3_root, "meta", "info.json")
    write_bytes(b'{"round": 3}', uri)
    assert read_bytes(uri) == b'{"round": 3}'
    write_bytes(b"replaced", uri)
    assert read_bytes(uri) == b"replaced"


def test_bytes_round_trip_local_is_atomic(tmp_path: Path) -> None:
    uri = str(tmp_path / "deep" / "info.json")
    write_bytes(b"first", uri)
    write_bytes(b"second", uri)
    assert read_bytes(uri) == b"second"
    # The temporary file of the atomic write is gone: only the target remains.
    assert sorted(p.name for p in (tmp_path / "deep").iterdir()) == ["info.json"]


def test_exists_and_listing_s3(s3_root: str) -> None:
    for rel, data in {"b/two.bin": b"22", "a.bin": b"1", "b/c/three.bin": b"333"}.items():
        write_bytes(data, join(s3_root, "ck", rel))
    write_bytes(b"other", join(s3_root, "ck2", "x.bin"))  # a sibling with the same prefix

    assert exists(join(s3_root, "ck", "a.bin"))
    assert exists(join(s3_root, "ck"))  # a folder (prefix) exists when it holds files
    assert exists(join(s3_root, "ck") + "/")
    assert not exists(join(s3_root, "ck", "nope.bin"))
    assert not exists(join(s3_root, "c"))  # a prefix of a name is not a folder

    assert list_files(join(s3_root, "ck")) == [
        join(s3_root, "ck", "a.bin"),
        join(s3_root, "ck", "b/c/three.bin"),
        join(s3_root, "ck", "b/two.bin"),
    ]
    assert list_sizes(join(s3_root, "ck")) == {"a.bin": 1, "b/c/three.bin": 3, "b/two.bin": 2}
    assert list_files(join(s3_root, "missing")) == []

    delete(join(s3_root, "ck", "a.bin"))
    assert not exists(join(s3_root, "ck", "a.bin"))


def test_exists_and_listing_local(tmp_path: Path) -> None:
    (tmp_path / "ck" / "b").mkdir(parents=True)
    (tmp_path / "ck" / "a.bin").write_bytes(b"1")
    (tmp_path / "ck" / "b" / "two.bin").write_bytes(b"22")
    root = str(tmp_path / "ck")
    assert exists(join(root, "a.bin")) and exists(root)
    assert not exists(join(root, "nope"))
    assert list_files(root) == [join(root, "a.bin"), join(root, "b/two.bin")]
    assert list_sizes(root) == {"a.bin": 1, "b/two.bin": 2}
    assert list_files(join(root, "missing")) == []


def test_missing_key_error_names_uri_and_no_secret(s3_root: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # moto does not check signatures
    uri = join(s3_root, "nope.bin")
    with pytest.raises(NotFoundError) as info:
        read_bytes(uri)
    assert str(info.value) == f"{uri} does not exist"
    assert not isinstance(info.value, BucketNotFoundError)
    assert isinstance(info.value, FileNotFoundError)


def test_missing_local_file_error(tmp_path: Path) -> None:
    uri = str(tmp_path / "nope.bin")
    with pytest.raises(NotFoundError) as info:
        read_bytes(uri)
    assert str(info.value) == f"{uri} does not exist"


def test_missing_bucket_error_names_bucket_and_uri(s3_bucket: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    uri = "s3://no-such-bucket-rlsd/run/x.bin"
    for call in (lambda: read_bytes(uri), lambda: exists(uri), lambda: list_files(uri),
                 lambda: write_bytes(b"x", uri)):
        with pytest.raises(BucketNotFoundError) as info:
            call()
        message = str(info.value)
        assert message == f"bucket 'no-such-bucket-rlsd' does not exist (accessing {uri})"
        assert SECRET not in message


def test_missing_credentials_names_the_env_vars(s3_bucket: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    uri = f"s3://{s3_bucket}/x.bin"
    with pytest.raises(CredentialsError) as info:
        read_bytes(uri)
    message = str(info.value)
    assert message.startswith(f"no AWS credentials found for {uri}: ")
    assert "AWS_ACCESS_KEY_ID" in message and "AWS_SECRET_ACCESS_KEY" in message
