"""The λ schedule: λ0 = 0.5, linear decay to 0 over 60 steps, optional warm-up."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rlsd.algorithms import AlgorithmInputError, rlsd_lambda


@pytest.mark.parametrize(
    ("step", "expected"),
    [(0, 0.5), (1, 0.5 * 59 / 60), (30, 0.25), (45, 0.125), (59, 0.5 / 60), (60, 0.0), (500, 0.0)],
)
def test_paper_schedule(step, expected):
    assert rlsd_lambda(step) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(
    ("step", "expected"), [(0, 0.4), (9, 0.4), (10, 0.4), (15, 0.2), (20, 0.0), (21, 0.0)]
)
def test_warmup_then_decay(step, expected):
    assert rlsd_lambda(step, lam0=0.4, decay_steps=10, warmup_steps=10) == pytest.approx(expected)


def test_zero_decay_steps_keeps_lam0():
    assert [rlsd_lambda(s, lam0=0.3, decay_steps=0) for s in (0, 60, 10_000)] == [0.3] * 3


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"step": -1}, "step must be an int >= 0"),
        ({"step": 1.5}, "step must be an int >= 0"),
        ({"step": 0, "lam0": 1.5}, r"lam0 must be in \[0.0, 1.0\]"),
        ({"step": 0, "decay_steps": -3}, "decay_steps must be an int >= 0"),
        ({"step": 0, "warmup_steps": -1}, "warmup_steps must be an int >= 0"),
    ],
)
def test_bad_settings_raise(kwargs, match):
    with pytest.raises(AlgorithmInputError, match=match):
        rlsd_lambda(**kwargs)


@given(st.floats(0, 1), st.integers(0, 100), st.integers(0, 20), st.integers(0, 300))
def test_non_increasing_and_within_zero_and_lam0(lam0, decay, warmup, step):
    now, later = rlsd_lambda(step, lam0, decay, warmup), rlsd_lambda(step + 1, lam0, decay, warmup)
    assert 0.0 <= later <= now <= lam0
