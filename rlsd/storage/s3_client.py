"""S3 connections built from the standard AWS environment variables, and error translation.

Both halves of the package talk to the same server with the same settings:

* boto3 (objects, folders, managed multipart transfers) via :func:`s3_client`;
* pyarrow's ``S3FileSystem`` (parquet tables) via :func:`s3_filesystem`.

Settings come from the standard variables, so one Kubernetes Secret/ConfigMap serves every
tool in the pod: ``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL`` (MinIO, Ceph, moto; unset for
AWS), ``AWS_REGION`` / ``AWS_DEFAULT_REGION``, ``AWS_ACCESS_KEY_ID`` /
``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN`` (or any other source in botocore's chain:
``AWS_PROFILE``, web identity / IRSA, instance metadata), ``AWS_CA_BUNDLE``.

boto3 >= 1.28 reads ``AWS_ENDPOINT_URL[_S3]`` itself (checked with 1.44); we still resolve it
here because (a) pyarrow needs it split into host and scheme and (b) a custom endpoint needs
path-style addressing (``http://host:9000/bucket/key``): MinIO and moto do not serve
virtual-host buckets (``bucket.host``) without extra DNS.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from rlsd.config import ConfigError
from rlsd.storage.errors import (
    AccessDeniedError,
    BucketNotFoundError,
    CredentialsError,
    NotFoundError,
    StorageError,
)
from rlsd.storage.uri import parse_s3

if TYPE_CHECKING:
    import boto3.session
    import pyarrow.fs

log = logging.getLogger(__name__)

MiB = 1024 * 1024
# S3 rejects multipart parts under 5 MiB (except the last one).
MIN_PART_SIZE = 5 * MiB

CREDENTIAL_VARS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
# Everything that changes how a client is built; a change makes a new cached client.
_ENV_VARS = (
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    *CREDENTIAL_VARS,
    "AWS_PROFILE",
    "AWS_CONFIG_FILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN",
    "AWS_EC2_METADATA_DISABLED",
    "AWS_CA_BUNDLE",
)

_ACCESS_CODES = {
    "AccessDenied",
    "403",
    "Forbidden",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "ExpiredToken",
    "InvalidToken",
    "TokenRefreshRequired",
}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}


@dataclasses.dataclass(frozen=True)
class TransferSettings:
    """How objects move: retries, timeouts and boto3 managed-transfer (multipart) tuning.

    Loadable with :mod:`rlsd.config` (``from_dict(TransferSettings, {...})``).
    """

    multipart_threshold: int = dataclasses.field(
        default=64 * MiB, metadata={"help": "files at least this many bytes go multipart"})
    multipart_chunksize: int = dataclasses.field(
        default=64 * MiB, metadata={"help": "bytes per multipart part (S3 minimum 5 MiB)"})
    max_concurrency: int = dataclasses.field(
        default=10, metadata={"help": "parallel requests per transfer"})
    retry_mode: Literal["standard", "adaptive"] = dataclasses.field(
        default="standard", metadata={"help": "botocore retry mode"})
    max_attempts: int = dataclasses.field(
        default=10, metadata={"help": "attempts per request, first one included"})
    connect_timeout: float = dataclasses.field(
        default=10.0, metadata={"help": "seconds to open a connection"})
    read_timeout: float = dataclasses.field(
        default=120.0, metadata={"help": "seconds to wait for response bytes"})
    checksums: Literal["when_supported", "when_required"] = dataclasses.field(
        default="when_supported",
        metadata={"help": "boto3 request/response checksums; 'when_required' for old "
                          "S3-compatible servers that reject the CRC32 headers"})

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        if self.multipart_chunksize < MIN_PART_SIZE:
            raise ConfigError(
                f"setting 'multipart_chunksize' must be at least {MIN_PART_SIZE} bytes (5 MiB, "
                f"the S3 minimum part size), got {self.multipart_chunksize}"
            )
        if self.multipart_threshold < 1:
            raise ConfigError("setting 'multipart_threshold' must be positive")
        if self.max_concurrency < 1:
            raise ConfigError("setting 'max_concurrency' must be at least 1")
        if self.max_attempts < 1:
            raise ConfigError("setting 'max_attempts' must be at least 1")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigError("settings 'connect_timeout' and 'read_timeout' must be positive")


DEFAULT_SETTINGS = TransferSettings()


def endpoint_url() -> str | None:
    """The custom S3 endpoint from the environment, or None for AWS itself."""
    if os.environ.get("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "").lower() == "true":
        return None
    url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
    return url.strip() or None


def region() -> str | None:
    """``AWS_REGION`` (what the SDKs prefer) or ``AWS_DEFAULT_REGION``."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def redact(text: str) -> str:
    """``text`` with every credential value from the environment replaced by ``***``."""
    for name in CREDENTIAL_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def missing_credentials_message(uri: str) -> str:
    return (
        f"no AWS credentials found for {uri}: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
        f"(plus AWS_SESSION_TOKEN for temporary credentials), or AWS_PROFILE, or run with a "
        f"web-identity (IRSA) role"
    )


def _env_key() -> tuple[str | None, ...]:
    return tuple(os.environ.get(name) for name in _ENV_VARS)


@functools.lru_cache(maxsize=8)
def _session(env_key: tuple[str | None, ...]) -> boto3.session.Session:
    import boto3.session

    # One session per environment: credentials resolve once and refresh themselves.
    return boto3.session.Session(region_name=region())


def boto_session() -> boto3.session.Session:
    """The boto3 session for the current environment (cached)."""
    return _session(_env_key())


@functools.lru_cache(maxsize=8)
def _client(env_key: tuple[str | None, ...], settings: TransferSettings) -> Any:
    from botocore.config import Config

    endpoint = endpoint_url()
    config = Config(
        # botocore's "max_attempts" counts retries only; "total_max_attempts" counts the first
        # try too, the same meaning as AWS_MAX_ATTEMPTS and pyarrow's max_attempts.
        retries={"mode": settings.retry_mode, "total_max_attempts": settings.max_attempts},
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        # One connection per transfer thread, else urllib3 warns and serialises requests.
        max_pool_connections=max(10, settings.max_concurrency * 2),
        s3={"addressing_style": "path"} if endpoint else {},
        request_checksum_calculation=settings.checksums,
        response_checksum_validation=settings.checksums,
    )
    kwargs: dict[str, Any] = {"config": config}
    log.debug("new S3 client: endpoint %s, region %s", endpoint or "(AWS default)", region())
    if endpoint:
        kwargs["endpoint_url"] = endpoint
        # A custom endpoint still needs some region to sign with.
        kwargs["region_name"] = region() or "us-east-1"
    return _session(env_key).client("s3", **kwargs)


def s3_client(settings: TransferSettings | None = None) -> Any:
    """A boto3 S3 client for the current environment (cached per environment and settings)."""
    return _client(_env_key(), settings or DEFAULT_SETTINGS)


def missing_profile_message(exc: Any, uri: str) -> str:
    return (f"AWS_PROFILE names the profile {exc.kwargs.get('profile')!r}, which is not in the "
            f"AWS config files (accessing {uri}): set a profile that exists, or unset "
            f"AWS_PROFILE and set AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY")


def frozen_credentials(uri: str) -> Any:
    """Resolve credentials through botocore's chain; :class:`CredentialsError` if there are none.

    pyarrow gets these same credentials so that both halves accept exactly the same setups.
    """
    from botocore.exceptions import ProfileNotFound

    try:
        creds = boto_session().get_credentials()
    except ProfileNotFound as exc:
        raise CredentialsError(missing_profile_message(exc, uri)) from None
    if creds is None:
        raise CredentialsError(missing_credentials_message(uri))
    frozen = creds.get_frozen_credentials()
    if not frozen.access_key or not frozen.secret_key:
        raise CredentialsError(missing_credentials_message(uri))
    return frozen


def split_endpoint(url: str) -> tuple[str, str]:
    """``"http://host:9000"`` -> ``("host:9000", "http")``: pyarrow takes them apart.

    An endpoint without a scheme is taken as https, as the AWS SDKs do.
    """
    parts = urlsplit(url if "://" in url else f"https://{url}")
    return parts.netloc + parts.path.rstrip("/"), parts.scheme or "https"


def s3_filesystem(uri: str, settings: TransferSettings | None = None) -> pyarrow.fs.S3FileSystem:
    """A pyarrow ``S3FileSystem`` with the same endpoint, region and credentials as boto3.

    Built per call (cheap) so that temporary credentials are always fresh.
    """
    import pyarrow.fs as pafs

    settings = settings or DEFAULT_SETTINGS
    creds = frozen_credentials(uri)
    kwargs: dict[str, Any] = {
        "access_key": creds.access_key,
        "secret_key": creds.secret_key,
        "session_token": creds.token,
        "region": region(),
        "connect_timeout": settings.connect_timeout,
        "request_timeout": settings.read_timeout,
        # pyarrow has no adaptive mode; standard retries with the same attempt budget.
        "retry_strategy": pafs.AwsStandardS3RetryStrategy(max_attempts=settings.max_attempts),
        # Small files go up as one PutObject at close instead of a 3-request multipart upload.
        "allow_delayed_open": True,
    }
    endpoint = endpoint_url()
    if endpoint:
        check_reachable(endpoint, uri, settings)
        kwargs["endpoint_override"], kwargs["scheme"] = split_endpoint(endpoint)
        kwargs["region"] = kwargs["region"] or "us-east-1"
        kwargs["force_virtual_addressing"] = False  # path-style, as for boto3 above
    ca_bundle = os.environ.get("AWS_CA_BUNDLE")
    if ca_bundle and kwargs.get("scheme", "https") == "https":
        kwargs["tls_ca_file_path"] = ca_bundle
    return pafs.S3FileSystem(**kwargs)


_reachable: set[str] = set()


def check_reachable(endpoint: str, uri: str, settings: TransferSettings | None = None,
                    attempts: int = 4) -> None:
    """Fail in seconds, with a clear message, when nothing listens at a custom endpoint.

    pyarrow's retry loop spends about a minute on an endpoint that refuses every connection
    before it reports one; boto3's gives up in about six seconds. Both still retry failures
    during an operation. The first success per endpoint is remembered for the process.
    """
    if endpoint in _reachable:
        return
    settings = settings or DEFAULT_SETTINGS
    parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    delay, last = 0.5, None
    for attempt in range(attempts):
        try:
            with socket.create_connection((parts.hostname or "", port),
                                          timeout=settings.connect_timeout):
                _reachable.add(endpoint)
                return
        except OSError as exc:
            last = exc
            if attempt + 1 < attempts:
                time.sleep(delay)
                delay *= 2
    raise StorageError(f"cannot reach the S3 endpoint {endpoint} for {uri}: check "
                       f"AWS_ENDPOINT_URL and the network ({last})")


def bucket_exists(bucket: str, client: Any | None = None) -> bool:
    """True when HEAD bucket succeeds, False on 404; other failures raise translated errors."""
    client = client or s3_client()
    try:
        with s3_errors(f"s3://{bucket}", client, check_bucket=False):
            client.head_bucket(Bucket=bucket)
    except NotFoundError:
        return False
    return True


def translate(exc: BaseException, uri: str, client: Any | None = None,
              check_bucket: bool = True) -> StorageError | None:
    """The :class:`StorageError` for a botocore exception, or None when it is not one."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        HTTPClientError,
        NoCredentialsError,
        PartialCredentialsError,
        ProfileNotFound,
    )
    from botocore.exceptions import ConnectionError as BotoConnectionError

    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return CredentialsError(missing_credentials_message(uri))
    if isinstance(exc, ProfileNotFound):
        return CredentialsError(missing_profile_message(exc, uri))
    endpoint = endpoint_url() or "(AWS default)"
    if isinstance(exc, EndpointConnectionError):
        return StorageError(
            f"cannot reach the S3 endpoint {endpoint} for {uri}: check AWS_ENDPOINT_URL and "
            f"the network ({type(exc).__name__})"
        )
    if isinstance(exc, (BotoConnectionError, HTTPClientError)):
        # Retried (TransferSettings.max_attempts) and still failing: dropped or reset
        # connections, or answers that never came within the read timeout.
        return StorageError(
            f"the connection to the S3 endpoint {endpoint} kept failing for {uri}, after "
            f"retries ({type(exc).__name__}): check the network, the endpoint's health and "
            f"the timeouts (TransferSettings)"
        )
    if not isinstance(exc, ClientError):
        return None
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    bucket = parse_s3(uri).bucket
    if code == "NoSuchBucket":
        return BucketNotFoundError(f"bucket '{bucket}' does not exist (accessing {uri})")
    if code in _NOT_FOUND_CODES or status == 404:
        # HEAD responses have no body, so a 404 does not say whether the bucket is missing.
        if check_bucket and not bucket_exists(bucket, client):
            return BucketNotFoundError(f"bucket '{bucket}' does not exist (accessing {uri})")
        return NotFoundError(f"{uri} does not exist")
    if code in _ACCESS_CODES or status == 403:
        return AccessDeniedError(
            f"access to {uri} was denied ({code}): check the credentials in AWS_ACCESS_KEY_ID / "
            f"AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN and the bucket policy"
        )
    message = redact(str(error.get("Message", "")))
    return StorageError(f"S3 request for {uri} failed: {code or status}: {message}")


@contextmanager
def s3_errors(uri: str, client: Any | None = None, check_bucket: bool = True) -> Iterator[None]:
    """Turn botocore exceptions raised inside the block into clear :class:`StorageError` s."""
    try:
        yield
    except StorageError:
        raise
    except Exception as exc:
        translated = translate(exc, uri, client, check_bucket)
        if translated is None:
            raise
        raise translated from exc


def transfer_config(settings: TransferSettings | None = None) -> Any:
    """boto3 ``TransferConfig`` for managed (multipart, concurrent) uploads and downloads."""
    from boto3.s3.transfer import TransferConfig

    settings = settings or DEFAULT_SETTINGS
    return TransferConfig(
        multipart_threshold=settings.multipart_threshold,
        multipart_chunksize=settings.multipart_chunksize,
        max_concurrency=settings.max_concurrency,
        # The classic (s3transfer) manager: same behaviour whether or not awscrt is installed.
        preferred_transfer_client="classic",
    )
