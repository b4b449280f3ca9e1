"""resolve_model: every reference form, and clear errors before any download or compute."""

from __future__ import annotations

import time

import pytest
import torch
from safetensors.torch import save_file

from rlsd.models import (
    InvalidModelFolderError,
    ModelNotFoundError,
    resolve_model,
)
from rlsd.models.resolve import s3_cache_dir


def test_existing_local_folder_resolves_to_itself(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    save_file({"w": torch.zeros(2)}, tmp_path / "model.safetensors")
    assert resolve_model(str(tmp_path)) == tmp_path
    assert resolve_model(tmp_path) == tmp_path


def test_local_folder_without_config_names_the_path(tmp_path):
    with pytest.raises(InvalidModelFolderError, match=f"{tmp_path} is not a Hugging Face model"):
        resolve_model(str(tmp_path))


@pytest.mark.parametrize("ref", ["./checkpoints/round-3", "/no/such/model", "runs/a/b/final",
                                 "../model", "~/not-here"])
def test_missing_path_fails_fast_before_touching_the_cache(tmp_path, ref):
    cache = tmp_path / "cache"
    start = time.perf_counter()
    with pytest.raises(ModelNotFoundError, match="model path does not exist"):
        resolve_model(ref, cache_dir=cache)
    assert time.perf_counter() - start < 1.0
    assert not cache.exists()


def test_empty_reference():
    with pytest.raises(ModelNotFoundError, match="empty model reference"):
        resolve_model("  ")


def test_hub_id_offline_gives_a_clear_message(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelNotFoundError) as info:
        resolve_model("rlsd-tests/no-such-model-xyz", cache_dir=tmp_path)
    message = str(info.value)
    assert "'rlsd-tests/no-such-model-xyz'" in message
    assert "HF_HUB_OFFLINE=1" in message
    assert "no local folder 'rlsd-tests/no-such-model-xyz' exists either" in message


def test_s3_prefix_maps_into_the_cache(tmp_path):
    assert s3_cache_dir("s3://bucket/runs/r1/ckpt/", tmp_path) == (
        tmp_path / "models" / "s3" / "bucket" / "runs" / "r1" / "ckpt")
    for bad in ("s3://", "s3://bucket/../etc"):
        with pytest.raises(ModelNotFoundError, match="not a usable S3 model prefix"):
            s3_cache_dir(bad, tmp_path)


@pytest.mark.integration
def test_default_aliases_resolve_to_the_converted_model(default_model_dir):
    assert resolve_model("default") == default_model_dir
    assert resolve_model("SmolLM2-135M") == default_model_dir
    assert default_model_dir.name == "SmolLM2-135M-Instruct"


@pytest.mark.integration
def test_s3_checkpoint_is_downloaded_into_the_cache(s3_root, tmp_path, tiny_lm_dir):
    from rlsd.storage import upload_dir

    upload_dir(tiny_lm_dir, f"{s3_root}/round-1/policy")
    local = resolve_model(f"{s3_root}/round-1/policy", cache_dir=tmp_path)
    bucket_and_key = s3_root[len("s3://"):].split("/")
    assert local == tmp_path.joinpath("models", "s3", *bucket_and_key, "round-1", "policy")
    assert (local / "model.safetensors").read_bytes() == (
        tiny_lm_dir / "model.safetensors").read_bytes()
    # Resolving again reuses the same folder.
    assert resolve_model(f"{s3_root}/round-1/policy", cache_dir=tmp_path) == local
