"""Joining a round's tables: contracts checked before compute, advantages as in design.md."""

import pyarrow as pa
import pytest
import torch

from rlsd.algorithms import AlgorithmConfig, group_advantages
from rlsd.schemas import response_digest
from rlsd.train.samples import RoundDataError, build_round_data
from tests.train.roundtables import make_round


def test_advantages_follow_groups_in_prompt_order():
    rewards = [1, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1]
    roll, rew, sco = make_round(3, 4, rewards=[float(r) for r in rewards])
    data = build_round_data(roll, rew, sco, AlgorithmConfig())
    expected = group_advantages(torch.tensor(rewards, dtype=torch.float64), 4)
    got = [s.advantage for s in data.samples]
    assert got == pytest.approx(expected.tolist())
    # The second prompt's rewards are all equal: its group carries no signal.
    assert data.zero_advantage_group_fraction == pytest.approx(1 / 3)
    assert data.reward_mean == pytest.approx(sum(rewards) / 12)


def test_filter_zero_groups_drops_uninformative_prompts():
    rewards = [1.0, 0, 0, 0, 1, 1, 1, 1, 0, 1, 0, 1]
    roll, rew, sco = make_round(3, 4, rewards=rewards)
    data = build_round_data(roll, rew, sco, AlgorithmConfig(filter_zero_groups=True))
    assert {s.prompt_id for s in data.samples} == {"p0", "p2"}
    assert data.filtered_samples == 4


def _replace_row(table: pa.Table, index: int, **changes) -> pa.Table:
    rows = table.to_pylist()
    rows[index].update(changes)
    return pa.Table.from_pylist(rows, schema=table.schema)


def test_scores_of_other_tokens_are_refused():
    roll, rew, sco = make_round()
    other = [7, 8, 9]
    sco = _replace_row(sco, 5, response_digest=response_digest(other), response_length=3)
    with pytest.raises(RoundDataError, match="scores do not match rollouts for prompt 'p1' sample 1"):
        build_round_data(roll, rew, sco, AlgorithmConfig())


def test_tampered_token_ids_are_refused():
    roll, rew, sco = make_round()
    roll = _replace_row(roll, 0, response_token_ids=[1, 2, 3])
    with pytest.raises(RoundDataError, match="do not match their digest"):
        build_round_data(roll, rew, sco, AlgorithmConfig())


def test_missing_reward_and_uneven_groups_are_named():
    roll, rew, sco = make_round()
    with pytest.raises(RoundDataError, match="no reward for prompt 'p2' sample 3"):
        build_round_data(roll, rew.slice(0, rew.num_rows - 1), sco, AlgorithmConfig())
    with pytest.raises(RoundDataError, match="uneven groups: prompt 'p2' has 3 samples"):
        build_round_data(roll.slice(0, roll.num_rows - 1), rew, sco, AlgorithmConfig())


def test_rlsd_needs_scores_but_grpo_does_not():
    roll, rew, _ = make_round()
    with pytest.raises(RoundDataError, match="needs the scores table"):
        build_round_data(roll, rew, None, AlgorithmConfig(algorithm="rlsd"))
    data = build_round_data(roll, rew, None, AlgorithmConfig(algorithm="grpo"))
    assert all(s.old_logprobs is None and s.teacher_logprobs is None for s in data.samples)
