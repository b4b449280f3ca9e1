"""Per-token log-probs of sampled responses: the one forward pass scoring and training share.

A batch lays every sequence out as ``[left pad | prompt | response | right pad]``: prompts are
left-padded to the longest prompt ``P`` and responses right-padded to the longest response
``R``, so the response of every row starts at column ``P`` and its log-probs are the slice
``logits[:, P-1 : P+R-1]``. Only those ``R`` positions' logits are computed
(``logits_to_keep`` as indices), which keeps the [B, R, V] tensor as small as it can be.

Self-distillation scoring and the RLSD update both call :func:`response_logprobs`, so the
behaviour log-probs and the trainer's log-probs come from the same numerics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from rlsd.algorithms import token_entropy, token_logprobs
from rlsd.prompting import EncodedPrompt


@dataclass
class SequenceBatch:
    """Padded model inputs for B (prompt, response) pairs."""

    input_ids: torch.Tensor  # [B, P + R]
    attention_mask: torch.Tensor  # [B, P + R]
    response_ids: torch.Tensor  # [B, R]
    response_mask: torch.Tensor  # [B, R], 1 on real response tokens
    prompt_width: int  # P
    model_kwargs: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> SequenceBatch:
        return SequenceBatch(
            input_ids=self.input_ids.to(device),
            attention_mask=self.attention_mask.to(device),
            response_ids=self.response_ids.to(device),
            response_mask=self.response_mask.to(device),
            prompt_width=self.prompt_width,
            model_kwargs={k: v.to(device) for k, v in self.model_kwargs.items()},
        )


def collate(
    prompts: Sequence[EncodedPrompt], responses: Sequence[Sequence[int]], pad_id: int
) -> SequenceBatch:
    """Pad B prompts (left) and their responses (right) into one :class:`SequenceBatch`."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if not prompts:
        raise ValueError("cannot collate an empty batch")
    P = max(len(p.input_ids) for p in prompts)
    R = max(1, max(len(r) for r in responses))
    B = len(prompts)
    input_ids = torch.full((B, P + R), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((B, P + R), dtype=torch.long)
    response_ids = torch.full((B, R), pad_id, dtype=torch.long)
    response_mask = torch.zeros((B, R), dtype=torch.long)
    multimodal = any(p.mm_token_type_ids is not None for p in prompts)
    mm_types = torch.zeros((B, P + R), dtype=torch.long) if multimodal else None
    for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        n_p, n_r = len(prompt.input_ids), len(response)
        input_ids[i, P - n_p : P] = torch.tensor(prompt.input_ids, dtype=torch.long)
        attention_mask[i, P - n_p : P + n_r] = 1
        if n_r:
            response_ids[i, :n_r] = torch.tensor(list(response), dtype=torch.long)
            input_ids[i, P : P + n_r] = response_ids[i, :n_r]
            response_mask[i, :n_r] = 1
        if mm_types is not None and prompt.mm_token_type_ids is not None:
            # Response tokens are text: their type stays 0, as the model expects.
            mm_types[i, P - n_p : P] = torch.tensor(prompt.mm_token_type_ids, dtype=torch.long)
    model_kwargs: dict[str, torch.Tensor] = {}
    if multimodal:
        model_kwargs["mm_token_type_ids"] = mm_types  # type: ignore[assignment]
        for key in ("pixel_values", "image_grid_thw"):
            parts = [p.vision[key] for p in prompts if key in p.vision]
            if parts:
                model_kwargs[key] = torch.cat(parts, dim=0)
    else:
        # Left padding shifts positions; give every row positions that start at 0 on its
        # first real token, as generation does, so scores match what the sampler saw.
        model_kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return SequenceBatch(input_ids, attention_mask, response_ids, response_mask, P, model_kwargs)


def response_logprobs(
    model: torch.nn.Module, batch: SequenceBatch, with_entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-prob (and optionally entropy) of every response token: ([B, R], [B, R] | None).

    Differentiable: the trainer backpropagates through it; scoring calls it under
    ``torch.no_grad()``. Values at padded response positions are meaningless; mask them with
    ``batch.response_mask``.
    """
    R = batch.response_ids.shape[1]
    P = batch.prompt_width
    # Position P-1+t predicts response token t: ask for exactly those R positions' logits, so
    # no [B, R+1, V] tensor is sliced (a slice would keep a second full-size gradient buffer).
    keep = torch.arange(P - 1, P + R - 1, device=batch.input_ids.device)
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        logits_to_keep=keep,
        use_cache=False,
        **batch.model_kwargs,
    )
    logits = out.logits  # [B, R, V]
    logprobs = token_logprobs(logits, batch.response_ids)
    entropy = None
    if with_entropy:
        with torch.no_grad():  # a metric only: keep it out of the autograd graph
            entropy = token_entropy(logits.detach())
    return logprobs, entropy


def token_budget_batches(
    lengths: Sequence[int], max_tokens: int, max_batch_size: int | None = None
) -> list[list[int]]:
    """Group row indices into batches whose padded size (rows x longest row) fits a budget.

    Rows are sorted by length first so that rows of similar length share a batch and little
    compute is spent on padding. A single row longer than the budget gets a batch of its own.
    Returns index lists in the original numbering.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        candidate_longest = max(longest, lengths[i])
        too_many = max_batch_size is not None and len(current) >= max_batch_size
        if current and (candidate_longest * (len(current) + 1) > max_tokens or too_many):
            batches.append(current)
            current, candidate_longest = [], lengths[i]
        current.append(i)
        longest = candidate_longest
    if current:
        batches.append(current)
    return batches
