"""Join one round's tables into training samples, checking every contract before compute.

Inputs (``rlsd.schemas``): rollouts (token ids), rewards (per response) and, for every
algorithm that uses the self-teacher, scores (behaviour and teacher log-probs). A mismatch
between them (a response whose token ids differ from what was scored, a missing reward, an
uneven group) is a :class:`RoundDataError` naming the first offending row, raised before any
model is loaded.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import torch

from rlsd.algorithms import (
    AlgorithmConfig,
    group_advantages,
    informative_sample_mask,
    uses_group_advantage,
    zero_advantage_fraction,
)
from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA, response_digest


class RoundDataError(ValueError):
    """The round's tables do not fit together; the message names the row and the problem."""


@dataclass
class TrainSample:
    """One sampled response with everything the loss needs."""

    prompt_id: str
    sample_index: int
    prompt_ids: list[int]
    response_ids: list[int]
    reward: float
    advantage: float  # A_i, the group advantage
    old_logprobs: list[float] | None  # behaviour policy, from scoring
    teacher_logprobs: list[float] | None  # self-teacher, from scoring

    @property
    def length(self) -> int:
        return len(self.prompt_ids) + len(self.response_ids)


@dataclass
class RoundData:
    samples: list[TrainSample]
    group_size: int
    reward_mean: float
    accuracy_mean: float
    zero_advantage_group_fraction: float
    filtered_samples: int
    # Whether the scores carry the behaviour log-probs; without them the update is on-policy
    # and its own first forward gives s_t (one optimizer step per round only).
    behaviour_logprobs: bool = False


def _require_columns(table: pa.Table, schema: pa.Schema, name: str) -> None:
    missing = [f.name for f in schema if f.name not in table.column_names and not f.nullable]
    if missing:
        raise RoundDataError(f"{name} table lacks column(s) {missing}")


def _keyed(table: pa.Table, name: str) -> dict[tuple[str, int], dict]:
    rows: dict[tuple[str, int], dict] = {}
    for row in table.to_pylist():
        key = (row["prompt_id"], int(row["sample_index"]))
        if key in rows:
            raise RoundDataError(f"{name} table has two rows for prompt {key[0]!r} sample {key[1]}")
        rows[key] = row
    return rows


def build_round_data(
    rollouts: pa.Table,
    rewards: pa.Table,
    scores: pa.Table | None,
    algo: AlgorithmConfig,
) -> RoundData:
    """Validate and join the round's tables; compute group advantages A_i (design.md)."""
    _require_columns(rollouts, ROLLOUT_SCHEMA, "rollouts")
    _require_columns(rewards, REWARD_SCHEMA, "rewards")
    if rollouts.num_rows == 0:
        raise RoundDataError("rollouts table is empty: nothing to train on")
    if algo.needs_teacher and scores is None:
        raise RoundDataError(f"algorithm {algo.algorithm!r} needs the scores table "
                             f"(teacher log-probs); pass --scores")
    if scores is not None:
        _require_columns(scores, SCORE_SCHEMA, "scores")

    roll = _keyed(rollouts, "rollouts")
    rew = _keyed(rewards, "rewards")
    sco = _keyed(scores, "scores") if scores is not None else {}
    for key, row in roll.items():
        if key not in rew:
            raise RoundDataError(f"no reward for prompt {key[0]!r} sample {key[1]}")
        tokens = row["response_token_ids"]
        if response_digest(tokens) != row["response_digest"]:
            raise RoundDataError(f"rollouts row prompt {key[0]!r} sample {key[1]}: response "
                                 f"token ids do not match their digest (table corrupted)")
        if scores is not None:
            if key not in sco:
                raise RoundDataError(f"no scores for prompt {key[0]!r} sample {key[1]}")
            s = sco[key]
            if s["response_digest"] != row["response_digest"] or int(s["response_length"]) != len(tokens):
                raise RoundDataError(
                    f"scores do not match rollouts for prompt {key[0]!r} sample {key[1]}: the "
                    f"scored response tokens differ from the sampled ones (were the tables "
                    f"produced from different rollouts?)")
            if s.get("old_logprobs") is not None and len(s["old_logprobs"]) != len(tokens):
                raise RoundDataError(f"scores row prompt {key[0]!r} sample {key[1]} has "
                                     f"{len(s['old_logprobs'])} log-probs for {len(tokens)} tokens")
            if algo.needs_teacher and (s["teacher_logprobs"] is None
                                       or len(s["teacher_logprobs"]) != len(tokens)):
                raise RoundDataError(f"scores row prompt {key[0]!r} sample {key[1]} lacks "
                                     f"teacher log-probs for every token")

    with_old = {s.get("old_logprobs") is not None for s in sco.values()} if scores is not None \
        else {False}
    if len(with_old) > 1:
        raise RoundDataError("the scores table has behaviour log-probs for some responses and "
                             "not for others: score the round in one go, with or without them")

    # Group advantages need the G samples of a prompt side by side (design.md).
    counts = Counter(pid for pid, _ in roll)
    sizes = set(counts.values())
    if len(sizes) != 1:
        (size, _), *_ = Counter(counts.values()).most_common()
        odd = next(p for p, c in counts.items() if c != size)
        raise RoundDataError(f"uneven groups: prompt {odd!r} has {counts[odd]} samples, "
                             f"most prompts have {size}")
    group_size = sizes.pop()
    if group_size == 1 and uses_group_advantage(algo.algorithm):
        raise RoundDataError(
            f"one sample per prompt (G = 1): the group advantage A_i = (r_i - mean r) / std "
            f"is 0 for every response, so {algo.algorithm} would learn nothing. Sample G >= 2 "
            f"responses per prompt (samples_per_prompt; the paper uses 8)")
    keys = sorted(roll)
    rewards_t = torch.tensor([float(rew[k]["reward"]) for k in keys], dtype=torch.float64)
    advantages = group_advantages(rewards_t, group_size, scale_by_std=algo.scale_by_std)
    informative = informative_sample_mask(rewards_t, group_size)
    zero_fraction = zero_advantage_fraction(rewards_t, group_size)

    samples: list[TrainSample] = []
    for i, key in enumerate(keys):
        if algo.filter_zero_groups and not bool(informative[i]):
            continue
        row, s = roll[key], sco.get(key)
        samples.append(TrainSample(
            prompt_id=key[0],
            sample_index=key[1],
            prompt_ids=list(row["prompt_token_ids"]),
            response_ids=list(row["response_token_ids"]),
            reward=float(rewards_t[i]),
            advantage=float(advantages[i]),
            old_logprobs=list(s["old_logprobs"]) if s and s.get("old_logprobs") is not None
            else None,
            teacher_logprobs=list(s["teacher_logprobs"]) if s and s["teacher_logprobs"] else None,
        ))
    accuracy = [float(rew[k]["accuracy"]) for k in keys]
    return RoundData(
        samples=samples,
        group_size=group_size,
        reward_mean=float(rewards_t.mean()),
        accuracy_mean=sum(accuracy) / len(accuracy),
        zero_advantage_group_fraction=zero_fraction,
        filtered_samples=len(keys) - len(samples),
        behaviour_logprobs=with_old == {True},
    )
