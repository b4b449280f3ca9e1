"""Per-token log-probs of sampled responses: the one forward pass scoring and training share.

Two layouts of a batch of B (prompt, response) pairs:

* **packed right** (the default): ``[prompt | response | right pad]``. Every row is as long as
  its own prompt and response, so the padded width is the longest *sequence*, and batches of
  sequences sorted by length (:func:`token_budget_batches`) carry almost no padding. Response
  token t of row i is predicted at position ``p_i - 1 + t``; the model computes logits only
  at those positions (``logits_to_keep`` as a [B, R] index tensor, transformers >= 5).
* **split** (older transformers, which take only one set of positions for all rows):
  ``[left pad | prompt | response | right pad]``, prompts left-padded to the longest prompt P
  and responses right-padded to the longest response R, so every response starts at column
  P. The width is longest prompt + longest response: rows whose prompt and response lengths
  differ in opposite ways pad more (measured in bench/throughput.py).

Either way only the R response positions' logits are computed, which keeps the [B, R, V]
tensor as small as it can be. Self-distillation scoring and the RLSD update both call
:func:`response_logprobs`, so the behaviour log-probs and the trainer's log-probs come from
the same numerics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from rlsd.algorithms import token_entropy, token_logprobs
from rlsd.prompting import EncodedPrompt

PACKED_RIGHT, SPLIT = "packed-right", "split"


def default_layout() -> str:
    """``packed-right`` when transformers takes per-row logit positions, else ``split``."""
    from transformers import modeling_utils

    return PACKED_RIGHT if hasattr(modeling_utils, "slice_logits_to_keep") else SPLIT


@dataclass
class SequenceBatch:
    """Padded model inputs for B (prompt, response) pairs (see the module's layouts)."""

    input_ids: torch.Tensor  # [B, W]
    attention_mask: torch.Tensor  # [B, W]
    response_ids: torch.Tensor  # [B, R]
    response_mask: torch.Tensor  # [B, R], 1 on real response tokens
    response_starts: torch.Tensor  # [B], the column of each row's first response token
    model_kwargs: dict[str, torch.Tensor] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> SequenceBatch:
        return SequenceBatch(
            input_ids=self.input_ids.to(device),
            attention_mask=self.attention_mask.to(device),
            response_ids=self.response_ids.to(device),
            response_mask=self.response_mask.to(device),
            response_starts=self.response_starts.to(device),
            model_kwargs={k: v.to(device) for k, v in self.model_kwargs.items()},
        )

    @property
    def padding(self) -> float:
        """Share of the batch's token positions that are padding."""
        return 1.0 - float(self.attention_mask.sum()) / max(1, self.attention_mask.numel())


def collate(
    prompts: Sequence[EncodedPrompt], responses: Sequence[Sequence[int]], pad_id: int,
    layout: str | None = None,
) -> SequenceBatch:
    """Pad B prompts and their responses into one :class:`SequenceBatch` (``layout``: see the
    module docstring; default :func:`default_layout`)."""
    if len(prompts) != len(responses):
        raise ValueError(f"{len(prompts)} prompts but {len(responses)} responses")
    if not prompts:
        raise ValueError("cannot collate an empty batch")
    layout = layout or default_layout()
    if layout not in (PACKED_RIGHT, SPLIT):
        raise ValueError(f"unknown layout {layout!r}")
    P = max(len(p.input_ids) for p in prompts)
    R = max(1, max(len(r) for r in responses))
    B = len(prompts)
    W = max(len(p.input_ids) + len(r) for p, r in zip(prompts, responses, strict=True)) \
        if layout == PACKED_RIGHT else P + R
    input_ids = torch.full((B, W), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((B, W), dtype=torch.long)
    response_ids = torch.full((B, R), pad_id, dtype=torch.long)
    response_mask = torch.zeros((B, R), dtype=torch.long)
    starts = torch.zeros(B, dtype=torch.long)
    multimodal = any(p.mm_token_type_ids is not None for p in prompts)
    mm_types = torch.zeros((B, W), dtype=torch.long) if multimodal else None
    for i, (prompt, response) in enumerate(zip(prompts, responses, strict=True)):
        n_p, n_r = len(prompt.input_ids), len(response)
        first = 0 if layout == PACKED_RIGHT else P - n_p  # column of the prompt's first token
        start = first + n_p  # column of the response's first token
        starts[i] = start
        input_ids[i, first:start] = torch.tensor(prompt.input_ids, dtype=torch.long)
        attention_mask[i, first : start + n_r] = 1
        if n_r:
            response_ids[i, :n_r] = torch.tensor(list(response), dtype=torch.long)
            input_ids[i, start : start + n_r] = response_ids[i, :n_r]
            response_mask[i, :n_r] = 1
        if mm_types is not None and prompt.mm_token_type_ids is not None:
            # Response tokens are text: their type stays 0, as the model expects.
            mm_types[i, first:start] = torch.tensor(prompt.mm_token_type_ids, dtype=torch.long)
    model_kwargs: dict[str, torch.Tensor] = {}
    if multimodal:
        model_kwargs["mm_token_type_ids"] = mm_types  # type: ignore[assignment]
        for key in ("pixel_values", "image_grid_thw"):
            parts = [p.vision[key] for p in prompts if key in p.vision]
            if parts:
                model_kwargs[key] = torch.cat(parts, dim=0)
    else:
        # Positions start at 0 on every row's first real token, as in generation, so scores
        # match what the sampler saw whatever the padding.
        model_kwargs["position_ids"] = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    return SequenceBatch(input_ids, attention_mask, response_ids, response_mask, starts,
                         model_kwargs)


def response_logprobs(
    model: torch.nn.Module, batch: SequenceBatch, with_entropy: bool = False
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Log-prob (and optionally entropy) of every response token: ([B, R], [B, R] | None).

    Differentiable: the trainer backpropagates through it; scoring calls it under
    ``torch.no_grad()``. Values at padded response positions are meaningless; mask them with
    ``batch.response_mask``.
    """
    B, R = batch.response_ids.shape
    W = batch.input_ids.shape[1]
    # Position start-1+t predicts response token t: ask for exactly those positions' logits,
    # so no [B, W, V] tensor is built or sliced (a slice would keep a second full-size
    # gradient buffer). Padded response slots point at the last column; they are masked.
    offsets = torch.arange(R, device=batch.input_ids.device)
    same_start = bool((batch.response_starts == batch.response_starts[0]).all())
    if same_start:  # one set of positions for all rows: works with any transformers
        keep = batch.response_starts[0] - 1 + offsets  # [R]
    else:
        keep = (batch.response_starts[:, None] - 1 + offsets[None, :]).clamp(max=W - 1)  # [B, R]
    out = model(
        input_ids=batch.input_ids,
        attention_mask=batch.attention_mask,
        logits_to_keep=keep,
        use_cache=False,
        **batch.model_kwargs,
    )
    logits = out.logits  # [B, R, V]
    if logits.shape[:2] != (B, R):
        raise RuntimeError(f"the model returned logits of shape {tuple(logits.shape)} for "
                           f"{B} rows x {R} response positions: this transformers version does "
                           "not take per-row logits_to_keep; collate with layout='split'")
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
