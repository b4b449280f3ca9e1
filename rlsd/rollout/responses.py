"""From sampled token ids to rows of the rollouts table (:data:`rlsd.schemas.ROLLOUT_SCHEMA`).

Both backends hand back raw generated ids; this module applies the one EOS rule to them:

- the response is the generated ids up to and *including* the first end-of-sequence token,
  so the trainer sees (and learns to produce) the stop; anything after it (batch padding,
  or whatever a sampler kept going with) is dropped;
- ``finish_reason`` is ``"stop"`` when an EOS token ended the response, else ``"length"``
  (the sampler hit ``max_new_tokens``);
- ``response_text`` is ``decode(response ids, skip_special_tokens=True)``: derived from the
  ids, never the other way round (no later stage re-tokenises text).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from rlsd.schemas import ROLLOUT_SCHEMA, response_digest

STOP = "stop"
LENGTH = "length"


@dataclass
class SampledResponse:
    """One sampled response after the EOS rule."""

    token_ids: list[int]
    finish_reason: str  # STOP or LENGTH
    sampler_logprobs: list[float] | None = None  # per response token; None if not reported


def eos_token_ids(tokenizer: Any, generation_eos: int | Iterable[int] | None = None) -> list[int]:
    """Every id that ends a response: the tokenizer's EOS plus the model's generation config's.

    Chat models often stop on more than one id (Qwen: ``<|im_end|>`` and ``<|endoftext|>``);
    generation must stop on each, and the trimming must agree with it.
    """
    ids: list[int] = []
    if generation_eos is not None:
        ids.extend([generation_eos] if isinstance(generation_eos, int) else generation_eos)
    if tokenizer.eos_token_id is not None:
        ids.append(tokenizer.eos_token_id)
    unique = list(dict.fromkeys(int(i) for i in ids))
    if not unique:
        raise ValueError("the tokenizer and the generation config define no EOS token; a "
                         "response could never finish with 'stop'")
    return unique


def trim_at_eos(token_ids: Sequence[int], eos_ids: Collection[int]) -> tuple[list[int], str]:
    """``(ids up to and including the first EOS, "stop")``, or ``(all ids, "length")``."""
    for position, token in enumerate(token_ids):
        if token in eos_ids:
            return list(token_ids[: position + 1]), STOP
    return list(token_ids), LENGTH


def sampler_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers (base seed, policy step, shard, batch ...).

    ``numpy.random.SeedSequence`` hashes the parts, so neighbouring batches, shards and rounds
    get unrelated random streams instead of overlapping ``seed + i`` ones.
    """
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)
    return int(state[0] >> np.uint64(1))


def build_rollout_table(
    prompt_ids: Sequence[str],
    prompt_token_ids: Sequence[Sequence[int]],
    responses: Sequence[Sequence[SampledResponse]],
    tokenizer: Any,
    policy_step: int,
) -> pa.Table:
    """One row per (prompt, sample), ordered by prompt then ``sample_index``."""
    columns: dict[str, list[Any]] = {name: [] for name in ROLLOUT_SCHEMA.names}
    for pid, p_ids, group in zip(prompt_ids, prompt_token_ids, responses, strict=True):
        for sample_index, response in enumerate(group):
            ids = response.token_ids
            columns["prompt_id"].append(str(pid))
            columns["sample_index"].append(sample_index)
            columns["prompt_token_ids"].append(list(p_ids))
            columns["response_token_ids"].append(ids)
            columns["response_text"].append(tokenizer.decode(ids, skip_special_tokens=True))
            columns["finish_reason"].append(response.finish_reason)
            columns["prompt_length"].append(len(p_ids))
            columns["response_length"].append(len(ids))
            columns["sampler_logprobs"].append(response.sampler_logprobs)
            columns["response_digest"].append(response_digest(ids))
            columns["policy_step"].append(int(policy_step))
    return pa.Table.from_pydict(columns, schema=ROLLOUT_SCHEMA)


def empty_rollout_table() -> pa.Table:
    """A rollouts table with no rows (a shard that got no prompts)."""
    return ROLLOUT_SCHEMA.empty_table()

