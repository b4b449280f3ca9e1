"""Which rank trains on which samples, in which micro-batches, at which optimizer step.

Every rank loads the whole (small) round tables and computes the same plan, so no data is
exchanged. The shuffled samples are cut into ``steps_per_round`` mini-batches (one per
optimizer step); rank r takes every world-th sample of a mini-batch and packs its share into
micro-batches under a token budget. DeepSpeed needs the same number of micro-batches on every
rank at every step (gradient reduction and ZeRO-3 gathers are collective), so every rank's list
is padded with empty micro-batches up to the largest count: an empty micro-batch runs a
zero-weighted forward and backward so the collectives line up.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from rlsd.sequences import token_budget_batches
from rlsd.train.samples import TrainSample


@dataclass
class StepPlan:
    micro_batches: list[list[int]]  # sample indices per micro-batch on this rank ([] = padding)
    global_tokens: int  # valid response tokens of the whole mini-batch, all ranks


@dataclass
class RoundPlan:
    steps: list[StepPlan]
    micro_batches_per_step: int  # DeepSpeed's gradient_accumulation_steps


def plan_round(
    samples: list[TrainSample],
    steps: int,
    world_size: int,
    rank: int,
    micro_batch_tokens: int,
    seed: int,
) -> RoundPlan:
    """The same computation on every rank: this rank's micro-batches for every step."""
    if steps > len(samples):
        raise ValueError(f"steps_per_round={steps} exceeds the {len(samples)} samples of the round")
    order = list(range(len(samples)))
    random.Random(seed).shuffle(order)
    minibatches = [order[k::steps] for k in range(steps)]
    per_rank_counts: list[list[int]] = []
    mine: list[list[list[int]]] = []
    for mb in minibatches:
        counts = []
        for r in range(world_size):
            share = mb[r::world_size]
            lengths = [samples[i].length for i in share]
            groups = [[share[j] for j in g] for g in token_budget_batches(lengths, micro_batch_tokens)]
            counts.append(len(groups))
            if r == rank:
                mine.append(groups)
        per_rank_counts.append(counts)
    width = max(max(c) for c in per_rank_counts)
    plans = []
    for mb, groups in zip(minibatches, mine, strict=True):
        tokens = sum(len(samples[i].response_ids) for i in mb)
        plans.append(StepPlan(groups + [[] for _ in range(width - len(groups))], tokens))
    return RoundPlan(plans, width)
