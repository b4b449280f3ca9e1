"""pass@k against hand-worked cases of the unbiased estimator; aggregation of samples."""

import math

import pytest

from rlsd.evaluate import aggregate, majority_answer, pass_at_k


@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (1, 1, 1, 1.0),
    (1, 0, 1, 0.0),
    (4, 1, 1, 0.25),            # pass@1 = c / n
    (4, 2, 2, 1 - 1 / 6),       # 1 − C(2,2)/C(4,2)
    (5, 2, 3, 1 - 1 / 10),      # 1 − C(3,3)/C(5,3)
    (10, 3, 5, 1 - 21 / 252),   # 1 − C(7,5)/C(10,5)
    (4, 3, 2, 1.0),             # n − c < k: every draw of 2 holds a correct one
])
def test_pass_at_k_hand_worked(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected)


def test_pass_at_k_matches_binomial_formula_on_a_grid():
    for n in range(1, 12):
        for c in range(n + 1):
            for k in range(1, n + 1):
                exact = 1 - math.comb(n - c, k) / math.comb(n, k)
                assert pass_at_k(n, c, k) == pytest.approx(exact, abs=1e-12)


def test_pass_at_k_rejects_impossible_counts():
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(3, 4, 1)
    with pytest.raises(ValueError, match="1 <= k <= n"):
        pass_at_k(3, 1, 4)


def test_majority_vote_ignores_missing_answers_and_breaks_ties_by_order():
    assert majority_answer(["7", None, "8", "8", "7"]) == "7"
    assert majority_answer([None, ""]) is None


def _sample(pid, i, answer, correct, length=10, truncated=False):
    return {"prompt_id": pid, "sample_index": i, "answer": answer, "correct": correct,
            "format": 1.0, "response_length": length, "truncated": truncated}


def test_aggregate_by_hand():
    samples = [
        _sample("a", 0, "5", 1.0), _sample("a", 1, "6", 0.0), _sample("a", 2, "5", 1.0),
        _sample("b", 0, "1", 0.0), _sample("b", 1, "1", 0.0, truncated=True),
        _sample("b", 2, "2", 1.0, length=40),
    ]
    m = aggregate(samples, [1, 2])
    assert m["pass@1"] == pytest.approx((2 / 3 + 1 / 3) / 2)
    assert m["pass@2"] == pytest.approx(((1 - 0 / 3) + (1 - 1 / 3)) / 2)
    assert m["mean@3"] == pytest.approx(0.5)
    assert m["maj@3"] == pytest.approx(0.5)  # a votes "5" (right), b votes "1" (wrong)
    assert m["truncation_rate"] == pytest.approx(1 / 6)
    assert m["response_length"] == pytest.approx(90 / 6)
