"""Tiny, randomly initialised models for tests and benchmarks (offline, CPU, < 1 s each).

They share the default model's real tokenizer (SmolLM2, 49,152 tokens, ChatML), so prompts,
chat templates and token counts behave as in production; only the network is tiny and random.

- :func:`build_tiny_causal_lm`: a 2-layer Llama (hidden 64, 4 heads, 2 KV heads).
- :func:`build_tiny_vlm`: a Qwen2-VL with a 1-block vision tower, built as
  ``/work/shared/notes/tiny-vlm.md`` describes. Qwen2-VL rather than Qwen2.5/3-VL because it
  has the smallest vision config and *raises* when ``mm_token_type_ids`` is missing instead
  of silently computing wrong M-RoPE positions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from transformers.models.qwen2_vl import Qwen2VLProcessor

from rlsd.models.chat_templates import VISION_CHATML_TEMPLATE, VISION_SPECIAL_TOKENS
from rlsd.models.default_model import ensure_default_tokenizer
from rlsd.models.errors import InvalidModelFolderError

# Shared text-model shape (from the brief and the notes): head_dim = 64 / 4 = 16.
TINY_TEXT = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 4096,
}
# Qwen2-VL vision geometry: 14-pixel patches merged 2x2 into one LLM token; images are
# resized to multiples of 28 and between 56x56 and 224x224 pixels (so at most 16 tokens).
PATCH_SIZE = 14
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2
MIN_PIXELS = 56 * 56
MAX_PIXELS = 224 * 224


class TinyQwen2VLProcessor(Qwen2VLProcessor):
    """A Qwen2-VL processor with no video processor.

    ``Qwen2VLProcessor`` insists on a video processor, whose only implementation needs
    torchvision; this subclass takes just the image processor, the tokenizer and the chat
    template (the processor mixin derives its parts from the ``__init__`` signature).
    """

    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs):
        super().__init__(image_processor, tokenizer, None, chat_template=chat_template, **kwargs)


def _prepare_out_dir(out_dir: str | os.PathLike[str]) -> Path:
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"will not build a tiny model into {out}: it exists and is not empty")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _default_tokenizer(cache_dir: str | os.PathLike[str] | None):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(ensure_default_tokenizer(cache_dir))


def _seeded_init(seed: int, build):
    """Build a model under ``seed`` without disturbing the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build()


def build_tiny_causal_lm(
    out_dir: str | os.PathLike[str], seed: int = 0, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Save a tiny random Llama with the default model's tokenizer into ``out_dir``.

    The same ``seed`` gives the same weights. ``out_dir`` must not exist or be empty.
    ``cache_dir`` is where the default tokenizer is cached (default ``$RLSD_CACHE``).
    """
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = _default_tokenizer(cache_dir)
    out = _prepare_out_dir(out_dir)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        **TINY_TEXT,
        rope_parameters={"rope_type": "default", "rope_theta": 1e4},
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    model = _seeded_init(seed, lambda: LlamaForCausalLM(config))
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def build_tiny_vlm(
    out_dir: str | os.PathLike[str], seed: int = 0, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Save a tiny random Qwen2-VL, its tokenizer and image processor into ``out_dir``.

    The tokenizer is the default model's plus the four Qwen-VL special tokens, whose ids go on
    the model config; the chat template renders ``{"type": "image"}`` parts as
    ``<|vision_start|><|image_pad|><|vision_end|>``. Load the processor back with
    :func:`load_tiny_vlm_processor` (or :func:`rlsd.models.load_policy`).
    """
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    tokenizer = _default_tokenizer(cache_dir)
    out = _prepare_out_dir(out_dir)
    tokenizer.add_special_tokens({"additional_special_tokens": list(VISION_SPECIAL_TOKENS)})
    tokenizer.chat_template = VISION_CHATML_TEMPLATE
    token_id = tokenizer.convert_tokens_to_ids
    # The Pil image processor: the default one imports torchvision, which is not usable here.
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": MIN_PIXELS, "longest_edge": MAX_PIXELS},
        patch_size=PATCH_SIZE, merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE,
    )
    processor = TinyQwen2VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=VISION_CHATML_TEMPLATE
    )
    config = Qwen2VLConfig(
        text_config={
            "vocab_size": len(tokenizer),
            **TINY_TEXT,
            # M-RoPE splits head_dim / 2 = 8 rotary frequencies into (time, height, width).
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e4,
                                "mrope_section": [2, 3, 3]},
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        },
        vision_config={
            "depth": 1, "embed_dim": 32, "hidden_size": TINY_TEXT["hidden_size"], "num_heads": 2,
            "patch_size": PATCH_SIZE, "spatial_merge_size": MERGE_SIZE,
            "temporal_patch_size": TEMPORAL_PATCH_SIZE,
        },
        image_token_id=token_id("<|image_pad|>"),
        video_token_id=token_id("<|video_pad|>"),
        vision_start_token_id=token_id("<|vision_start|>"),
        vision_end_token_id=token_id("<|vision_end|>"),
    )
    model = _seeded_init(seed, lambda: Qwen2VLForConditionalGeneration(config))
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out


def load_tiny_vlm_processor(path: str | os.PathLike[str]) -> TinyQwen2VLProcessor:
    """Rebuild the processor saved by :func:`build_tiny_vlm` from its tokenizer and image
    processor (``AutoProcessor`` returns only the tokenizer for it)."""
    from transformers import AutoImageProcessor, AutoTokenizer

    folder = Path(path)
    config_file = folder / "config.json"
    model_type = json.loads(config_file.read_text()).get("model_type") if config_file.is_file() else None
    if model_type != "qwen2_vl":
        raise InvalidModelFolderError(
            f"cannot build a processor for {folder}: AutoProcessor did not recognise its "
            f"processor, and it is not a tiny Qwen2-VL folder (model_type {model_type!r})"
        )
    if not (folder / "processor_config.json").is_file() and not (
        folder / "preprocessor_config.json"
    ).is_file():
        raise InvalidModelFolderError(
            f"{folder} has no image processor (processor_config.json or "
            "preprocessor_config.json); it is not a vision-language model folder"
        )
    tokenizer = AutoTokenizer.from_pretrained(folder)
    image_processor = AutoImageProcessor.from_pretrained(folder)
    return TinyQwen2VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=tokenizer.chat_template
    )
