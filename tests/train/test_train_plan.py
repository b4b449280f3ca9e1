"""Micro-batch planning: every sample trained once per round, equal counts on every rank."""

from rlsd.algorithms import AlgorithmConfig
from rlsd.train.plan import plan_round
from rlsd.train.samples import build_round_data
from tests.train.roundtables import make_round


def _samples():
    roll, rew, sco = make_round(5, 4, seed=3)
    return build_round_data(roll, rew, sco, AlgorithmConfig()).samples


def test_every_sample_once_and_equal_micro_batch_counts():
    samples = _samples()
    world, steps = 2, 2
    plans = [plan_round(samples, steps, world, r, micro_batch_tokens=30, seed=1) for r in range(world)]
    assert len({p.micro_batches_per_step for p in plans}) == 1
    seen = []
    for step in range(steps):
        counts = {len(p.steps[step].micro_batches) for p in plans}
        assert counts == {plans[0].micro_batches_per_step}
        step_indices = [i for p in plans for mb in p.steps[step].micro_batches for i in mb]
        tokens = sum(len(samples[i].response_ids) for i in step_indices)
        assert plans[0].steps[step].global_tokens == tokens == plans[1].steps[step].global_tokens
        seen += step_indices
    assert sorted(seen) == list(range(len(samples)))


def test_token_budget_is_respected_except_for_single_long_rows():
    samples = _samples()
    plan = plan_round(samples, 1, 1, 0, micro_batch_tokens=40, seed=0)
    for mb in plan.steps[0].micro_batches:
        longest = max(samples[i].length for i in mb)
        assert len(mb) == 1 or longest * len(mb) <= 40
