"""Settings, endpoint resolution, progress switches and error translation."""

from __future__ import annotations

import sys

import boto3
import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from rlsd.config import ConfigError, from_dict
from rlsd.storage import AccessDeniedError, CredentialsError, StorageError, TransferSettings
from rlsd.storage.progress import NO_PROGRESS_ENV, progress_enabled
from rlsd.storage.s3_client import endpoint_url, s3_client, split_endpoint, translate

SECRET = "fake-secret-Zq9xV"


def test_transfer_settings_load_through_config_and_validate() -> None:
    settings = from_dict(TransferSettings, {"multipart_chunksize": "8388608",
                                            "retry_mode": "adaptive"})
    assert settings.multipart_chunksize == 8 * 1024 * 1024 and settings.retry_mode == "adaptive"
    with pytest.raises(ConfigError, match="'multipart_chunksize' must be at least 5242880"):
        TransferSettings(multipart_chunksize=1024)
    with pytest.raises(ConfigError, match="must be one of"):
        from_dict(TransferSettings, {"retry_mode": "legacy"})


def test_endpoint_resolution_prefers_the_s3_specific_variable(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://general:9000")
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", raising=False)
    assert endpoint_url() == "http://general:9000"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://s3-only:9000")
    assert endpoint_url() == "http://s3-only:9000"
    monkeypatch.setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true")
    assert endpoint_url() is None


def test_split_endpoint_for_pyarrow() -> None:
    assert split_endpoint("http://127.0.0.1:9000") == ("127.0.0.1:9000", "http")
    assert split_endpoint("https://minio.example.com/") == ("minio.example.com", "https")
    assert split_endpoint("minio:9000") == ("minio:9000", "https")


def test_client_uses_the_env_endpoint_with_path_style(s3_endpoint: str, s3_bucket: str) -> None:
    client = s3_client()
    assert client.meta.endpoint_url == s3_endpoint
    assert client.meta.config.s3["addressing_style"] == "path"
    assert client.meta.config.retries == {"mode": "standard", "total_max_attempts": 10}
    assert s3_client() is client  # cached for the same environment and settings
    # boto3 itself reads AWS_ENDPOINT_URL (since 1.28): plain clients hit the same server.
    assert boto3.client("s3").meta.endpoint_url == s3_endpoint


def test_progress_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NO_PROGRESS_ENV, "1")
    assert progress_enabled() is False
    assert progress_enabled(True) is True  # an explicit flag wins
    monkeypatch.setenv(NO_PROGRESS_ENV, "0")
    assert progress_enabled() == sys.stderr.isatty()  # "0" does not disable: TTY decides
    assert progress_enabled(False) is False


def _client_error(code: str, message: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "GetObject")


def test_translated_errors_never_carry_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    uri = "s3://bkt/x.bin"
    other = translate(_client_error("InternalError", f"echo {SECRET} echo", 500), uri)
    assert isinstance(other, StorageError)
    assert str(other) == "S3 request for s3://bkt/x.bin failed: InternalError: echo *** echo"

    denied = translate(_client_error("SignatureDoesNotMatch", f"sig for {SECRET}", 403), uri)
    assert isinstance(denied, AccessDeniedError)
    assert SECRET not in str(denied) and "AWS_SECRET_ACCESS_KEY" in str(denied)

    missing = translate(NoCredentialsError(), uri)
    assert isinstance(missing, CredentialsError) and "AWS_ACCESS_KEY_ID" in str(missing)
    assert translate(ValueError("not botocore"), uri) is None
