"""Load a policy model and its tokenizer (causal LM) or processor (vision-language model).

One entry point for every stage (rollout, scoring, training, evaluation), so that padding,
dtype and device are set the same way everywhere:

- causal LMs load with ``AutoModelForCausalLM`` + ``AutoTokenizer``;
- vision-language models (a ``vision_config`` in ``config.json``, or an architecture that
  transformers only knows as image-text-to-text) load with ``AutoModelForImageTextToText`` +
  ``AutoProcessor``;
- the pad token falls back to EOS, and padding is on the **left** so a batch of prompts ends
  at the same position for ``generate`` (callers that run a plain forward over a left-padded
  batch pass ``position_ids = cumsum(attention_mask) - 1``, as ``generate`` does).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from rlsd.models.checkpoint import check_model_folder
from rlsd.models.errors import InvalidModelFolderError

_DTYPES = {
    "float32": torch.float32, "fp32": torch.float32,
    "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
    "float16": torch.float16, "fp16": torch.float16,
}


def default_device() -> torch.device:
    """The first CUDA GPU when there is one, else the CPU."""
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``dtype`` as a torch dtype; ``None`` or ``"auto"`` picks bfloat16 on GPUs that support
    it and float32 elsewhere (CPU bfloat16 matmuls are slow and lose precision)."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype is None or str(dtype).lower() == "auto":
        if device.type == "cuda" and torch.cuda.is_bf16_supported():
            return torch.bfloat16
        return torch.float32
    try:
        return _DTYPES[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {sorted(_DTYPES)} or 'auto'") from None


def is_vision_language_model(config: Any) -> bool:
    """Whether a transformers config describes a model that takes images."""
    if getattr(config, "vision_config", None) is not None:
        return True
    from transformers.models.auto.modeling_auto import (
        MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
        MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
    )

    model_type = getattr(config, "model_type", None)
    return (model_type in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
            and model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES)


def load_processor(path: str | os.PathLike[str]) -> Any:
    """The multimodal processor saved in ``path``.

    ``AutoProcessor`` silently returns only the tokenizer when the saved processor class is
    not one transformers knows (our tiny test VLM's); the processor is then rebuilt from its
    saved parts.
    """
    from transformers import AutoProcessor

    processor = AutoProcessor.from_pretrained(path)
    if getattr(processor, "image_processor", None) is not None:
        return processor
    from rlsd.models.tiny import load_tiny_vlm_processor

    return load_tiny_vlm_processor(path)


def load_tokenizer_or_processor(folder: str | os.PathLike[str], vlm: bool | None = None) -> Any:
    """The tokenizer of a model folder, or for a vision-language model its processor
    (``vlm``: already known, else read from the folder's config)."""
    from transformers import AutoConfig, AutoTokenizer

    from rlsd.models.adapter import adapter_base, is_adapter_folder

    if vlm is None:
        config_folder = folder
        if is_adapter_folder(folder):  # the architecture is the base's
            from rlsd.models.resolve import resolve_model

            config_folder = resolve_model(adapter_base(folder))
        vlm = is_vision_language_model(AutoConfig.from_pretrained(config_folder))
    return load_processor(folder) if vlm else AutoTokenizer.from_pretrained(folder)


def load_policy(
    path: str | os.PathLike[str],
    dtype: str | torch.dtype | None = None,
    device: str | torch.device | None = None,
    for_training: bool = False,
) -> tuple[Any, Any]:
    """Load the model in folder ``path`` and return ``(model, tokenizer_or_processor)``.

    ``path`` is a local folder (see :func:`rlsd.models.resolve_model` for other references);
    it is checked for missing shards before anything is built. ``dtype`` defaults to bfloat16
    on GPUs and float32 on CPU; ``device`` defaults to the first GPU, else the CPU.
    ``for_training=False`` returns the model in eval mode with gradients off (rollout, the
    frozen teacher, evaluation); ``True`` returns it in train mode without the KV cache.
    A LoRA adapter folder loads over its base (:func:`rlsd.models.adapter.load_adapter_policy`:
    merged for inference, a trainable ``PeftModel`` for training).
    """
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText

    from rlsd.models.adapter import is_adapter_folder, load_adapter_policy

    folder = check_model_folder(path)
    if is_adapter_folder(folder):
        return load_adapter_policy(folder, dtype=dtype, device=device, for_training=for_training)
    target = torch.device(device) if device is not None else default_device()
    torch_dtype = resolve_dtype(dtype, target)
    config = AutoConfig.from_pretrained(folder)
    vlm = is_vision_language_model(config)
    model_class = AutoModelForImageTextToText if vlm else AutoModelForCausalLM
    # Load straight onto an accelerator rather than staging a full copy in host memory.
    placement = {} if target.type == "cpu" else {"device_map": {"": target}}
    model = model_class.from_pretrained(folder, dtype=torch_dtype, **placement)
    processor = load_tokenizer_or_processor(folder, vlm)
    tokenizer = processor.tokenizer if vlm else processor
    _set_padding(tokenizer, model, folder)
    if for_training:
        model.train()
        model.config.use_cache = False  # the cache only costs memory under teacher forcing
    else:
        model.eval()
        model.requires_grad_(False)
    return model, processor


def _set_padding(tokenizer: Any, model: Any, folder: Path) -> None:
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise InvalidModelFolderError(
                f"the tokenizer in {folder} has neither a pad token nor an EOS token to pad with"
            )
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "left"
    text_config = model.config.get_text_config()
    if getattr(text_config, "pad_token_id", None) is None:
        text_config.pad_token_id = tokenizer.pad_token_id
    generation = getattr(model, "generation_config", None)
    if generation is not None and generation.pad_token_id is None:
        generation.pad_token_id = tokenizer.pad_token_id
