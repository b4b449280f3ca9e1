"""Randomly initialised models of chosen sizes for the benchmarks, saved once in the cache with
the default model's tokenizer (so their vocabularies match the student's)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from rlsd.models import ensure_default_model, ensure_default_tokenizer
from rlsd.models.cache import build_once, cache_root

#: Llama shapes: about 4x the default model's 135M parameters (with the same 49,152 vocab).
TEACHER_4X = {"hidden_size": 1024, "intermediate_size": 3072, "num_hidden_layers": 40,
              "num_attention_heads": 16, "num_key_value_heads": 4, "head_dim": 64}
#: Qwen2-style shapes of realistic size for GPU throughput (vocab of the default tokenizer).
QWEN2_0_5B = {"hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
              "num_attention_heads": 14, "num_key_value_heads": 2}
QWEN2_1_5B = {"hidden_size": 1536, "intermediate_size": 8960, "num_hidden_layers": 28,
              "num_attention_heads": 12, "num_key_value_heads": 2}
SHAPES = {"teacher-4x": ("llama", TEACHER_4X), "qwen2-0.5b": ("qwen2", QWEN2_0_5B),
          "qwen2-1.5b": ("qwen2", QWEN2_1_5B)}


def parameter_count(folder: str | os.PathLike[str]) -> int:
    """Parameters of a saved model (from its safetensors headers, without loading it)."""
    from safetensors import safe_open

    total = 0
    for file in Path(folder).glob("*.safetensors"):
        with safe_open(str(file), "pt") as f:
            for name in f.keys():  # noqa: SIM118 (safe_open is not iterable)
                shape = f.get_slice(name).get_shape()
                n = 1
                for d in shape:
                    n *= d
                total += n
    return total


def build_model_config(name: str):
    """The transformers config of shape ``name`` (see :data:`SHAPES`)."""
    from transformers import AutoTokenizer, LlamaConfig, Qwen2Config

    kind, shape = SHAPES[name]
    tokenizer = AutoTokenizer.from_pretrained(ensure_default_tokenizer())
    cls = LlamaConfig if kind == "llama" else Qwen2Config
    return cls(vocab_size=len(tokenizer), tie_word_embeddings=True,
               bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
               pad_token_id=tokenizer.pad_token_id, max_position_embeddings=8192, **shape)


def ensure_random_model(name: str) -> Path:
    """A randomly initialised model of shape ``name`` in ``$RLSD_CACHE/bench/<name>`` (fp32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    def build(out: Path) -> None:
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(build_model_config(name))
        model.save_pretrained(out)
        AutoTokenizer.from_pretrained(ensure_default_tokenizer()).save_pretrained(out)
        (out / "bench.json").write_text(json.dumps({"shape": name, "random_init": True}))

    return build_once(cache_root(None) / "bench" / name, build)


def student_dir() -> Path:
    return ensure_default_model()
