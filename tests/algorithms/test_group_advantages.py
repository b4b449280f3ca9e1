"""Group advantages (design.md: A_i = (r_i - mean(r)) / (std(r) + 1e-6)), zero-advantage groups."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rlsd.algorithms import (
    AlgorithmInputError,
    group_advantages,
    informative_sample_mask,
    zero_advantage_fraction,
    zero_advantage_groups,
)


def test_two_groups_of_two_by_hand():
    # Each group [1, 0]: mean 0.5, unbiased std sqrt((0.25 + 0.25) / 1) = sqrt(0.5).
    a = 0.5 / (math.sqrt(0.5) + 1e-6)
    got = group_advantages(torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64), 2)
    expected = torch.tensor([a, -a, -a, a], dtype=torch.float64)
    assert torch.allclose(got, expected, rtol=0, atol=1e-12)


def test_group_of_four_grpo_and_dr_grpo_by_hand():
    # [1, 0, 0, 0]: mean 0.25, deviations [0.75, -0.25, -0.25, -0.25],
    # unbiased variance (0.5625 + 3 * 0.0625) / 3 = 0.25, std 0.5.
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    grpo = group_advantages(rewards, 4)
    expected = torch.tensor([0.75, -0.25, -0.25, -0.25], dtype=torch.float64) / (0.5 + 1e-6)
    assert torch.allclose(grpo, expected, rtol=0, atol=1e-12)
    dr = group_advantages(rewards, 4, scale_by_std=False)
    assert torch.equal(dr, torch.tensor([0.75, -0.25, -0.25, -0.25], dtype=torch.float64))


def test_partial_rewards_and_custom_eps():
    # 0.9·accuracy + 0.1·format rewards [1.0, 0.1]: mean 0.55, std sqrt(2·0.45²) = 0.45·√2.
    got = group_advantages(torch.tensor([1.0, 0.1], dtype=torch.float64), 2, eps=0.0)
    expected = torch.tensor([1, -1], dtype=torch.float64) / math.sqrt(2)
    assert torch.allclose(got, expected, atol=1e-12)


def test_all_equal_groups_are_exactly_zero():
    # The float64 mean of three 0.1s is 1.4e-17 off 0.1 (so r - mean != 0); A must still be 0.
    rewards = torch.tensor([0.1, 0.1, 0.1, 1.0, 0.0, 0.0], dtype=torch.float64)
    for scale in (True, False):
        got = group_advantages(rewards, 3, scale_by_std=scale)
        assert torch.equal(got[:3], torch.zeros(3, dtype=torch.float64))
        assert (got[3:] != 0).all()


def test_group_size_one_gives_zero_advantages():
    assert torch.equal(group_advantages(torch.tensor([1.0, 0.0, 0.5]), 1), torch.zeros(3))
    assert zero_advantage_groups([1.0, 0.0], 1).tolist() == [True, True]


def test_accepts_python_lists_and_int_rewards_as_float32():
    got = group_advantages([1, 0], 2, scale_by_std=False)
    assert got.dtype == torch.float32 and got.tolist() == [0.5, -0.5]


def test_result_is_detached():
    rewards = torch.tensor([1.0, 0.0], requires_grad=True)
    assert not group_advantages(rewards, 2).requires_grad


@pytest.mark.parametrize(
    ("rewards", "group_size", "match"),
    [
        ([1.0, 0.0, 1.0], 2, "not a multiple of group_size"),
        ([1.0, 0.0], 0, "group_size must be >= 1"),
        ([1.0, 0.0], 2.0, "group_size must be an int"),
        ([1.0, 0.0], True, "group_size must be an int"),
        ([[1.0, 0.0]], 2, "must be 1-D"),
        ([], 2, "empty"),
        ([1.0, float("nan")], 2, "finite"),
    ],
)
def test_bad_input_is_one_clear_error(rewards, group_size, match):
    with pytest.raises(AlgorithmInputError, match=match):
        group_advantages(rewards, group_size)


def test_zero_advantage_groups_fraction_and_filter_mask():
    rewards = [1.0, 1.0, 0.0, 1.0, 0.5, 0.5]
    assert zero_advantage_groups(rewards, 2).tolist() == [True, False, True]
    assert zero_advantage_fraction(rewards, 2) == pytest.approx(2 / 3)
    assert informative_sample_mask(rewards, 2).tolist() == [False, False, True, True, False, False]


reward_values = st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0, -1.0, 3.0])


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 6), st.integers(1, 4), st.data())
def test_group_means_are_zero_and_stds_at_most_one(group_size, prompts, data):
    rewards = torch.tensor(
        data.draw(st.lists(reward_values, min_size=group_size * prompts,
                           max_size=group_size * prompts)),
        dtype=torch.float64,
    )
    adv = group_advantages(rewards, group_size).view(prompts, group_size)
    assert torch.allclose(adv.mean(dim=1), torch.zeros(prompts, dtype=torch.float64), atol=1e-9)
    assert (adv.std(dim=1) <= 1.0).all()
    zero = zero_advantage_groups(rewards, group_size)
    assert torch.equal(zero, (adv == 0).all(dim=1))
    # Dr.GRPO is the same centring without the scale.
    dr = group_advantages(rewards, group_size, scale_by_std=False).view(prompts, group_size)
    assert torch.equal(torch.sign(dr), torch.sign(adv))
