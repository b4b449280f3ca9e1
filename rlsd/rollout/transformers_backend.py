"""Rollout with transformers ``generate``: runs everywhere (CPU, one GPU), no extra install.

Each prompt is repeated G times (one sequence per sample; greedy decoding generates once and
copies, since all G would be equal). Sequences are grouped into batches whose padded size,
sequences x (longest prompt + ``max_new_tokens``), fits ``max_batch_tokens`` (at most
``batch_size`` sequences), sorted by prompt length so little is spent on padding. Each batch
is laid out ``[left pad | prompt]`` so every row's next token is at the same column, which is
what ``generate`` needs; for a VLM the batch's image tensors are concatenated in row order and
``mm_token_type_ids`` (image-token markers, which Qwen-VL's M-RoPE needs) is left-padded with
zeros (see ``/work/shared/notes/tiny-vlm.md``).

The sampler is exactly softmax(logits / temperature) with nucleus ``top_p``: every other
knob a checkpoint's ``generation_config.json`` may set (Qwen3-VL ships top_k=20,
repetition_penalty, ...) is reset to neutral, because the RL objective assumes the
behaviour policy *is* the model's distribution.

Reproducibility: ``torch.manual_seed`` before each batch, with a seed mixed from the base
seed, the policy step, the shard and the batch index. A batch's draws depend on its
composition, so sampled (not greedy) outputs change with ``batch_size``; greedy outputs do
not in fp32 (left padding plus positions from the attention mask). In bf16 on a GPU the
kernels' reduction order depends on the batch shape and can flip a near-tied argmax (seen on
an H200: 2 of 16 greedy prompts differed between batch sizes 1 and 16).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from rlsd.prompting import EncodedPrompt
from rlsd.rollout.config import RolloutConfig
from rlsd.rollout.responses import SampledResponse, sampler_seed, trim_at_eos
from rlsd.sequences import token_budget_batches

VISION_KEYS = ("pixel_values", "image_grid_thw")


def left_pad_prompts(prompts: Sequence[EncodedPrompt], pad_id: int) -> dict[str, torch.Tensor]:
    """Generation inputs for B prompts: ``input_ids`` and ``attention_mask`` [B, P] (plus the
    VLM tensors), each prompt right-aligned at column P."""
    if not prompts:
        raise ValueError("cannot pad an empty batch of prompts")
    width = max(len(p.input_ids) for p in prompts)  # P
    rows = len(prompts)
    input_ids = torch.full((rows, width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((rows, width), dtype=torch.long)
    multimodal = any(p.mm_token_type_ids is not None for p in prompts)
    mm_types = torch.zeros((rows, width), dtype=torch.long) if multimodal else None
    for i, prompt in enumerate(prompts):
        n = len(prompt.input_ids)
        input_ids[i, width - n:] = torch.tensor(prompt.input_ids, dtype=torch.long)
        attention_mask[i, width - n:] = 1
        if mm_types is not None and prompt.mm_token_type_ids is not None:
            mm_types[i, width - n:] = torch.tensor(prompt.mm_token_type_ids, dtype=torch.long)
    batch = {"input_ids": input_ids, "attention_mask": attention_mask}
    if mm_types is not None:
        batch["mm_token_type_ids"] = mm_types
    for key in VISION_KEYS:
        # Images are consumed in the order their tokens appear in the flattened batch.
        parts = [p.vision[key] for p in prompts if key in p.vision]
        if parts:
            batch[key] = torch.cat(parts, dim=0)
    return batch


def sampling_kwargs(config: RolloutConfig, eos_ids: Sequence[int], pad_id: int) -> dict[str, Any]:
    """``generate`` arguments for the configured sampler, neutralising checkpoint defaults."""
    kwargs: dict[str, Any] = {
        "max_new_tokens": config.max_new_tokens,
        "min_new_tokens": 0,
        "eos_token_id": list(eos_ids),
        "pad_token_id": pad_id,
        "num_beams": 1,
        "num_return_sequences": 1,
        "repetition_penalty": 1.0,
        "no_repeat_ngram_size": 0,
        "do_sample": not config.greedy,
    }
    if not config.greedy:
        kwargs.update(temperature=config.temperature, top_p=config.top_p,
                      top_k=0, min_p=0.0, typical_p=1.0, epsilon_cutoff=0.0, eta_cutoff=0.0)
    return kwargs


def generate_with_transformers(
    model: Any,
    prompts: Sequence[EncodedPrompt],
    config: RolloutConfig,
    eos_ids: Sequence[int],
    pad_id: int,
    seed_parts: Sequence[int],
    on_batch: Callable[[int], None] | None = None,
) -> list[list[SampledResponse]]:
    """G responses for each prompt (outer list: prompts in order; inner: sample index).

    ``seed_parts`` (base seed, policy step, shard index) are mixed with the batch index into
    each batch's seed. ``on_batch(n)`` is told how many responses each batch finished.
    """
    G = config.samples_per_prompt
    copies = 1 if config.greedy else G
    jobs = [(p, s) for p in range(len(prompts)) for s in range(copies)]
    lengths = [len(prompts[p].input_ids) + config.max_new_tokens for p, _ in jobs]
    batches = token_budget_batches(lengths, config.max_batch_tokens, config.batch_size)
    results: list[list[SampledResponse | None]] = [[None] * G for _ in prompts]
    device = model.device
    kwargs = sampling_kwargs(config, eos_ids, pad_id)
    eos_set = set(eos_ids)
    for batch_index, members in enumerate(batches):
        batch_jobs = [jobs[i] for i in members]
        inputs = left_pad_prompts([prompts[p] for p, _ in batch_jobs], pad_id)
        width = inputs["input_ids"].shape[1]
        inputs = {k: v.to(device) for k, v in inputs.items()}
        torch.manual_seed(sampler_seed(*seed_parts, batch_index))
        with torch.inference_mode():
            out = model.generate(**inputs, **kwargs)  # [B, P + T], T <= max_new_tokens
        generated = out[:, width:].tolist()
        for (p, s), ids in zip(batch_jobs, generated, strict=True):
            trimmed, reason = trim_at_eos(ids, eos_set)
            results[p][s] = SampledResponse(trimmed, reason)
        if on_batch is not None:
            on_batch(len(batch_jobs) * (G // copies))
    if config.greedy:
        for group in results:
            group[1:] = [SampledResponse(list(group[0].token_ids), group[0].finish_reason)
                         for _ in range(G - 1)]
    return results  # type: ignore[return-value]
