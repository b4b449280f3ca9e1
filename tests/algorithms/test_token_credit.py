"""Token advantages of every algorithm, RLSD weights, and the estimator registry.

design.md: Δ_t = stopgrad(τ_t − s_t); w_t = clip(exp(sign(A_i)·Δ_t), 1 − ε_w, 1 + ε_w);
RLSD Â_t = A_i·((1 − λ) + λ·w_t); GRPO Â_t = A_i; OPSD/OPD Â_t = Δ_t; GRPO+OPSD A_i + β·Δ_t.
"""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rlsd.algorithms import (
    TOKEN_ADVANTAGES,
    AlgorithmInputError,
    get_token_advantage_estimator,
    needs_teacher_logprobs,
    register_token_advantage,
    rlsd_weights,
    self_distillation_delta,
    token_advantages,
)

F64 = torch.float64
INF = math.inf

# A fixed batch: A = [1, -0.5, 0]; student logprobs 0, so the teacher logprobs are Δ.
ADV = torch.tensor([1.0, -0.5, 0.0], dtype=F64)
MASK = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0]], dtype=torch.bool)
STUDENT = torch.zeros(3, 3, dtype=F64)
TEACHER = torch.tensor([[0.1, 1.0, -1.0], [0.1, -0.1, 5.0], [0.3, INF, -INF]], dtype=F64)


def test_grpo_is_the_sequence_advantage_on_valid_tokens():
    got = token_advantages("grpo", ADV, MASK)
    assert torch.equal(got, torch.tensor([[1, 1, 1], [-0.5, -0.5, 0], [0, 0, 0]], dtype=F64))


def test_rlsd_weights_by_hand():
    # Row 0 (A > 0): sign·Δ = [0.1, 1.0, -1.0] -> w = [e^0.1, 1.2 (clipped), 0.8 (clipped)].
    # Row 1 (A < 0): sign·Δ = [-0.1, 0.1] -> w = [e^-0.1, e^0.1]; third token masked -> 1.
    # Row 2 (A = 0): sign 0 -> w = 1 everywhere (no clip), even where Δ = ±inf.
    out = rlsd_weights(ADV, MASK, STUDENT, TEACHER, eps_w=0.2)
    expected = torch.tensor(
        [[math.exp(0.1), 1.2, 0.8], [math.exp(-0.1), math.exp(0.1), 1.0], [1.0, 1.0, 1.0]],
        dtype=F64,
    )
    assert torch.allclose(out.weights, expected, rtol=0, atol=1e-15)
    assert out.clipped_high.tolist() == [[False, True, False], [False] * 3, [False] * 3]
    assert out.clipped_low.tolist() == [[False, False, True], [False] * 3, [False] * 3]
    assert out.clipped.tolist() == [[False, True, True], [False] * 3, [False] * 3]


def test_rlsd_token_advantages_by_hand():
    # Â = A·(0.5 + 0.5·w) with the weights of the test above.
    got = token_advantages("rlsd", ADV, MASK, STUDENT, TEACHER, lam=0.5, eps_w=0.2)
    expected = torch.tensor(
        [
            [0.5 + 0.5 * math.exp(0.1), 0.5 + 0.5 * 1.2, 0.5 + 0.5 * 0.8],  # [1.0526, 1.1, 0.9]
            [-0.5 * (0.5 + 0.5 * math.exp(-0.1)), -0.5 * (0.5 + 0.5 * math.exp(0.1)), 0.0],
            [0.0, 0.0, 0.0],
        ],
        dtype=F64,
    )
    assert torch.allclose(got, expected, rtol=0, atol=1e-15)
    assert got[0, 1].item() == pytest.approx(1.1) and got[1, 0].item() == pytest.approx(-0.4762094)


def test_opsd_opd_and_grpo_plus_opsd_by_hand():
    teacher = TEACHER.clone()
    teacher[2, 1:] = 0.0  # OPSD reads Δ itself, so it needs finite Δ on valid tokens
    delta = torch.tensor([[0.1, 1.0, -1.0], [0.1, -0.1, 0.0], [0.3, 0.0, 0.0]], dtype=F64)
    for name in ("opsd", "opd"):
        got = token_advantages(name, ADV, MASK, STUDENT, teacher)
        assert torch.allclose(got, delta, atol=1e-15)
    got = token_advantages("grpo+opsd", ADV, MASK, STUDENT, teacher, beta=2.0)
    expected = torch.tensor([[1.2, 3.0, -1.0], [-0.3, -0.7, 0.0], [0.6, 0.0, 0.0]], dtype=F64)
    assert torch.allclose(got, expected, atol=1e-15)
    assert torch.allclose(self_distillation_delta(STUDENT, teacher, MASK), delta, atol=1e-15)


def test_delta_is_teacher_minus_student():
    student = torch.tensor([[-2.0, -0.5]], dtype=F64)
    teacher = torch.tensor([[-1.0, -1.5]], dtype=F64)
    got = self_distillation_delta(student, teacher, torch.ones(1, 2))
    assert got.tolist() == [[1.0, -1.0]]


def test_float32_inputs_give_float32_and_half_is_promoted():
    got = token_advantages("rlsd", ADV.float(), MASK, STUDENT.bfloat16(), TEACHER.float())
    assert got.dtype == torch.float32


def test_outputs_are_detached_and_inputs_get_no_gradient():
    adv = ADV.clone().requires_grad_()
    student = STUDENT.clone().requires_grad_()
    teacher = torch.where(MASK, TEACHER, 0.0).requires_grad_()  # finite, for OPSD
    for name in TOKEN_ADVANTAGES:
        assert not token_advantages(name, adv, MASK, student, teacher).requires_grad, name
    assert not rlsd_weights(adv, MASK, student, teacher).weights.requires_grad


def test_infinite_or_nan_delta_on_valid_tokens():
    # RLSD bounds Δ through the clip: ±inf gives the clip bound, never inf/NaN.
    teacher = torch.tensor([[INF, -INF, 1e30, -1e30]], dtype=torch.float32)
    adv = torch.tensor([2.0])
    out = token_advantages("rlsd", adv, torch.ones(1, 4), torch.zeros(1, 4), teacher, lam=1.0)
    assert torch.allclose(out, torch.tensor([[2.4, 1.6, 2.4, 1.6]]))
    # OPSD would turn inf into an infinite advantage: refused with the position named.
    first_two = r"non-finite on 2 valid token\(s\), first at .*\[\[0, 0\], \[0, 1\]\]"
    with pytest.raises(AlgorithmInputError, match=first_two):
        token_advantages("opsd", adv, torch.ones(1, 4), torch.zeros(1, 4), teacher)
    # Both logprobs -inf gives NaN Δ: refused for RLSD too.
    both = torch.full((1, 1), -INF)
    first_one = r"NaN on 1 valid token\(s\), first at .*\[\[0, 0\]\]"
    with pytest.raises(AlgorithmInputError, match=first_one):
        token_advantages("rlsd", adv, torch.ones(1, 1), both, both)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: token_advantages("ppo", ADV, MASK), r"unknown algorithm 'ppo'; valid: \['grpo'"),
        (lambda: token_advantages("rlsd", ADV, MASK),
         "needs student_logprobs and teacher_logprobs"),
        (lambda: token_advantages("opsd", ADV, MASK, STUDENT), "needs teacher_logprobs"),
        (lambda: token_advantages("grpo", ADV[:2], MASK), r"advantages has shape \(2,\)"),
        (lambda: token_advantages("grpo", ADV, MASK[0]), "mask must be 2-D"),
        (lambda: token_advantages("grpo", ADV, MASK.float() * 2), "0/1"),
        (lambda: token_advantages("rlsd", ADV, MASK, STUDENT[:, :2], TEACHER),
         r"student_logprobs has shape \(3, 2\), expected \(3, 3\)"),
        (lambda: token_advantages("rlsd", ADV, MASK, STUDENT, TEACHER, eps_w=1.0),
         r"eps_w must be in \(0.0, 1.0\)"),
        (lambda: token_advantages("rlsd", ADV, MASK, STUDENT, TEACHER, lam=-0.1),
         r"lam must be in \[0.0, 1.0\]"),
        (lambda: token_advantages("grpo", ADV * INF, MASK), "advantages must be finite"),
        (lambda: token_advantages("grpo", ADV.tolist(), MASK), "advantages must be a torch.Tensor"),
    ],
)
def test_bad_input_is_one_clear_error(call, match):
    with pytest.raises(AlgorithmInputError, match=match):
        call()


def test_registry_adds_estimators_by_name_and_refuses_duplicates():
    assert {"grpo", "rlsd", "opsd", "opd", "grpo+opsd"} <= set(TOKEN_ADVANTAGES)
    assert not needs_teacher_logprobs("grpo") and needs_teacher_logprobs("rlsd")

    @register_token_advantage("test-half-delta", needs_logprobs=True)
    def half_delta(inputs):
        return 0.5 * inputs.delta()

    try:
        out = token_advantages("test-half-delta", ADV, MASK, STUDENT, torch.ones(3, 3, dtype=F64))
        assert torch.equal(out, torch.where(MASK, 0.5, 0.0).to(F64))
        assert get_token_advantage_estimator("test-half-delta").fn is half_delta
        with pytest.raises(AlgorithmInputError, match="already registered"):
            register_token_advantage("test-half-delta")(half_delta)
    finally:
        del TOKEN_ADVANTAGES["test-half-delta"]


# ---- properties ---------------------------------------------------------------------------

finite_logprob = st.floats(-50, 0, allow_nan=False)
any_delta_value = st.one_of(
    st.floats(-60, 60), st.sampled_from([INF, -INF, 1e30, -1e30, 0.0])
)


@st.composite
def batches(draw, extreme_delta=False):
    rows, cols = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    adv = draw(st.lists(st.one_of(st.just(0.0), st.floats(-5, -1e-3), st.floats(1e-3, 5)),
                        min_size=rows, max_size=rows))
    mask = draw(st.lists(st.booleans(), min_size=rows * cols, max_size=rows * cols))
    student = draw(st.lists(finite_logprob, min_size=rows * cols, max_size=rows * cols))
    teacher_values = any_delta_value if extreme_delta else finite_logprob
    teacher = draw(st.lists(teacher_values, min_size=rows * cols, max_size=rows * cols))
    return (
        torch.tensor(adv, dtype=F64),
        torch.tensor(mask).view(rows, cols),
        torch.tensor(student, dtype=F64).view(rows, cols),
        torch.tensor(teacher, dtype=F64).view(rows, cols),
    )


lams = st.floats(0, 1)
eps_ws = st.floats(0.01, 0.99)


@settings(max_examples=50, deadline=None)
@given(batches(extreme_delta=True), lams, eps_ws)
def test_rlsd_sign_bounds_and_finiteness(batch, lam, eps_w):
    adv, mask, student, teacher = batch
    out = token_advantages("rlsd", adv, mask, student, teacher, lam=lam, eps_w=eps_w)
    assert torch.isfinite(out).all()
    expected_sign = torch.where(mask, torch.sign(adv)[:, None].expand_as(mask), 0.0)
    assert torch.equal(torch.sign(out), expected_sign)
    w = rlsd_weights(adv, mask, student, teacher, eps_w=eps_w).weights
    assert torch.isfinite(w).all()
    assert ((w >= 1 - eps_w) & (w <= 1 + eps_w)).all()
    # Â / A = (1 − λ) + λ·w stays inside [1 − λ·ε_w, 1 + λ·ε_w].
    live = mask & (adv[:, None] != 0)
    ratio = out[live] / adv[:, None].expand_as(mask)[live]
    assert ((ratio >= 1 - lam * eps_w - 1e-12) & (ratio <= 1 + lam * eps_w + 1e-12)).all()


@settings(max_examples=40, deadline=None)
@given(batches(extreme_delta=True), eps_ws)
def test_lambda_zero_is_grpo_exactly(batch, eps_w):
    adv, mask, student, teacher = batch
    rlsd = token_advantages("rlsd", adv, mask, student, teacher, lam=0.0, eps_w=eps_w)
    assert torch.equal(rlsd, token_advantages("grpo", adv, mask))


@settings(max_examples=40, deadline=None)
@given(batches(), st.sampled_from(sorted(TOKEN_ADVANTAGES)), st.data())
def test_masked_values_change_nothing(batch, algorithm, data):
    adv, mask, student, teacher = batch
    garbage = st.sampled_from([math.nan, INF, -INF, 123.0, -7.5])
    noise_s = torch.tensor(data.draw(st.lists(garbage, min_size=mask.numel(),
                                              max_size=mask.numel())), dtype=F64).view_as(mask)
    noise_t = torch.tensor(data.draw(st.lists(garbage, min_size=mask.numel(),
                                              max_size=mask.numel())), dtype=F64).view_as(mask)
    base = token_advantages(algorithm, adv, mask, student, teacher)
    changed = token_advantages(algorithm, adv, mask, torch.where(mask, student, noise_s),
                               torch.where(mask, teacher, noise_t))
    assert torch.equal(base, changed)
    assert (base[~mask] == 0).all()
