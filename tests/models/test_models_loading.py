"""load_policy: the right classes, padding, dtype and mode for LMs and VLMs."""

from __future__ import annotations

import shutil

import pytest
import torch
from transformers import AutoConfig, AutoTokenizer

from rlsd.models import (
    IncompleteCheckpointError,
    is_vision_language_model,
    load_policy,
)
from rlsd.models.loading import resolve_dtype
from rlsd.models.tiny import TinyQwen2VLProcessor


def test_causal_lm_loads_for_generation(tiny_lm_dir):
    model, tokenizer = load_policy(tiny_lm_dir, device="cpu")
    assert type(model).__name__ == "LlamaForCausalLM"
    assert model.dtype == torch.float32
    assert not model.training
    assert not any(p.requires_grad for p in model.parameters())
    assert tokenizer.padding_side == "left"
    assert tokenizer.pad_token == "<|im_end|>"
    assert model.generation_config.pad_token_id == tokenizer.pad_token_id == 2


def test_causal_lm_loads_for_training_in_bf16(tiny_lm_dir):
    model, _ = load_policy(tiny_lm_dir, dtype="bf16", device="cpu", for_training=True)
    assert model.training
    assert model.dtype == torch.bfloat16
    assert all(p.requires_grad for p in model.parameters())
    assert model.config.use_cache is False


def test_missing_pad_token_falls_back_to_eos(tmp_path, tiny_lm_dir):
    folder = tmp_path / "no-pad"
    shutil.copytree(tiny_lm_dir, folder)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    tokenizer.pad_token = None
    tokenizer.save_pretrained(folder)
    assert AutoTokenizer.from_pretrained(folder).pad_token is None
    _, loaded = load_policy(folder, device="cpu")
    assert loaded.pad_token == loaded.eos_token == "<|im_end|>"


def test_vlm_loads_model_and_full_processor(tiny_vlm_dir):
    model, processor = load_policy(tiny_vlm_dir, device="cpu")
    assert type(model).__name__ == "Qwen2VLForConditionalGeneration"
    assert isinstance(processor, TinyQwen2VLProcessor)
    assert processor.image_processor.merge_size == 2
    assert processor.tokenizer.padding_side == "left"
    assert processor.chat_template == processor.tokenizer.chat_template


def test_vlm_detection(tiny_lm_dir, tiny_vlm_dir):
    assert is_vision_language_model(AutoConfig.from_pretrained(tiny_vlm_dir))
    assert not is_vision_language_model(AutoConfig.from_pretrained(tiny_lm_dir))


def test_missing_shard_fails_before_loading(tmp_path, tiny_lm_dir):
    folder = tmp_path / "broken"
    shutil.copytree(tiny_lm_dir, folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(IncompleteCheckpointError, match="no model.safetensors"):
        load_policy(folder, device="cpu")


def test_dtype_choices():
    cpu = torch.device("cpu")
    assert resolve_dtype(None, cpu) == torch.float32
    assert resolve_dtype("auto", cpu) == torch.float32
    assert resolve_dtype("bfloat16", cpu) == torch.bfloat16
    assert resolve_dtype(torch.float16, cpu) == torch.float16
    with pytest.raises(ValueError, match="unknown dtype 'int8'"):
        resolve_dtype("int8", cpu)
