"""Shared pytest fixtures: a real S3-protocol server for any test that touches ``s3://``.

The server is moto's standalone server (``python -m moto.server``) running as a separate
process on 127.0.0.1, so code under test speaks real HTTP to it through boto3 and pyarrow
exactly as it would to MinIO or AWS: nothing is patched in-process.

Fixtures
--------
``s3_endpoint`` (session)
    Starts the server on a free port, waits until it answers, yields its URL
    (``"http://127.0.0.1:PORT"``) and stops it at the end of the session. Started only if a
    test asks for it (directly or through the fixtures below).
``s3_bucket`` (function)
    Creates a fresh, empty bucket and points the standard AWS variables at the server for the
    duration of the test (``monkeypatch``, restored afterwards): ``AWS_ENDPOINT_URL``,
    ``AWS_ACCESS_KEY_ID=testing``, ``AWS_SECRET_ACCESS_KEY=testing``,
    ``AWS_DEFAULT_REGION=us-east-1``. Variables that could redirect credentials or the endpoint
    (profiles, config files, session tokens, ``AWS_ENDPOINT_URL_S3``, instance metadata) are
    neutralised so the host's setup never leaks in. Yields the bucket name.
``s3_root`` (function)
    ``"s3://<fresh bucket>/run"``: a run root to write under; the bucket exists and is empty.

Example::

    def test_roundtrip(s3_root):
        write_bytes(b"x", join(s3_root, "a.bin"))
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

_START_TIMEOUT_S = 30.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/moto-api/", timeout=1.0):
            return True
    except urllib.error.HTTPError:
        return True  # it answered, even if with an error status
    except OSError:
        return False


def _start_server(log_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log, stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + _START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if _answers(url):
            return proc, url
        time.sleep(0.1)
    _stop(proc)
    raise RuntimeError(f"moto server on {url} did not start; its log: {log_path}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a moto S3 server process on 127.0.0.1 (one per test session)."""
    log_path = tmp_path_factory.mktemp("moto") / "server.log"
    # The free port can be taken between probing and binding; one retry covers that race.
    try:
        proc, url = _start_server(log_path)
    except RuntimeError:
        proc, url = _start_server(log_path)
    try:
        yield url
    finally:
        _stop(proc)


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """A fresh empty bucket, with the AWS environment pointing at the test server."""
    import boto3

    for name in ("AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_PROFILE",
                 "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE",
                 "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"):
        monkeypatch.delenv(name, raising=False)
    nowhere = str(tmp_path / "no-aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", nowhere)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", nowhere)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")

    bucket = f"test-{uuid.uuid4().hex[:16]}"
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    client.create_bucket(Bucket=bucket)
    return bucket


@pytest.fixture
def s3_root(s3_bucket: str) -> str:
    """``s3://<fresh bucket>/run``: an empty run root on the test server."""
    return f"s3://{s3_bucket}/run"
