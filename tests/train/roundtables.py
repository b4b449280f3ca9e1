"""Small, hand-made round tables for trainer tests (no model needed)."""

from __future__ import annotations

import random

import pyarrow as pa

from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA, response_digest


def make_round(n_prompts: int = 3, group: int = 4, seed: int = 0, rewards=None,
               vocab: tuple[int, int] = (100, 5000), prompt_ids=None):
    """Rollouts, rewards and scores tables that agree with each other."""
    rng = random.Random(seed)
    rollouts, rew, scores = [], [], []
    for p in range(n_prompts):
        prompt = prompt_ids(p) if prompt_ids else [rng.randrange(*vocab) for _ in range(5 + p)]
        for g in range(group):
            resp = [rng.randrange(*vocab) for _ in range(rng.randrange(2, 9))]
            r = rewards[p * group + g] if rewards is not None else float(rng.random() < 0.5)
            rollouts.append(dict(
                prompt_id=f"p{p}", sample_index=g, prompt_token_ids=prompt,
                response_token_ids=resp, response_text="x", finish_reason="length",
                prompt_length=len(prompt), response_length=len(resp), sampler_logprobs=None,
                response_digest=response_digest(resp), policy_step=0))
            rew.append(dict(prompt_id=f"p{p}", sample_index=g, reward=r, accuracy=r,
                            format=0.0, reason="test"))
            scores.append(dict(
                prompt_id=f"p{p}", sample_index=g, response_digest=response_digest(resp),
                response_length=len(resp),
                old_logprobs=[-rng.uniform(0.5, 5.0) for _ in resp],
                teacher_logprobs=[-rng.uniform(0.5, 5.0) for _ in resp], teacher_step=0))
    return (pa.Table.from_pylist(rollouts, schema=ROLLOUT_SCHEMA),
            pa.Table.from_pylist(rew, schema=REWARD_SCHEMA),
            pa.Table.from_pylist(scores, schema=SCORE_SCHEMA))
