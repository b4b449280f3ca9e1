"""PPO clipped surrogate with clip-higher (0.2 / 0.28) and dual-clip (c = 3), token-mean;
k3 KL penalty."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rlsd.algorithms import AlgorithmInputError, kl_penalty_k3, policy_loss

F64 = torch.float64
NAN, INF = math.nan, math.inf

# A fixed batch, one token per case (ρ, Â):
#   [0,0] ρ=1.0 Â=1   -> −1                          (no clip)
#   [0,1] ρ=1.5 Â=2   -> max(−3, −2·1.28) = −2.56     (upper clip)
#   [0,2] ρ=0.5 Â=−1  -> max(0.5, 0.8) = 0.8          (lower clip), under dual bound 3
#   [0,3] ρ=4.0 Â=−1  -> min(max(4, 1.28), 3) = 3     (dual clip)
#   [1,0] ρ=0.5 Â=1   -> max(−0.5, −0.8) = −0.5       (no clip: pessimistic side)
#   [1,1] ρ=1.1 Â=−2  -> 2.2                          (no clip)
#   [1,2], [1,3] masked, holding garbage.
RATIOS = [[1.0, 1.5, 0.5, 4.0], [0.5, 1.1, 1.0, 1.0]]
MASK = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
ADV = torch.tensor([[1.0, 2.0, -1.0, -1.0], [1.0, -2.0, NAN, INF]], dtype=F64)
OLD = torch.tensor([[-1.0, -2.0, -0.5, -3.0], [-1.0, -0.7, INF, NAN]], dtype=F64)


def new_logprobs():
    logp = OLD.nan_to_num(0.0, 0.0, 0.0) + torch.tensor(RATIOS, dtype=F64).log()
    logp[1, 2:] = torch.tensor([-INF, NAN])
    return logp.requires_grad_()


def test_loss_stats_and_gradient_by_hand():
    logp = new_logprobs()
    loss, stats = policy_loss(logp, OLD, ADV, MASK)
    assert loss.item() == pytest.approx((-1 - 2.56 + 0.8 + 3 - 0.5 + 2.2) / 6, abs=1e-12)
    floats = stats.as_floats()
    assert floats["clip_frac_low"] == pytest.approx(1 / 6)
    assert floats["clip_frac_high"] == pytest.approx(1 / 6)
    assert floats["clip_frac"] == pytest.approx(2 / 6)
    assert floats["dual_clip_frac"] == pytest.approx(1 / 6)
    assert floats["ratio_mean"] == pytest.approx((1 + 1.5 + 0.5 + 4 + 0.5 + 1.1) / 6)
    k3 = sum(r - 1 - math.log(r) for r in (1.0, 1.5, 0.5, 4.0, 0.5, 1.1)) / 6
    assert floats["approx_kl"] == pytest.approx(k3)
    assert floats["num_tokens"] == 6.0
    loss.backward()
    # dL/dlogp = dL/dρ · ρ / N; zero wherever a clip (or the mask) holds the loss constant.
    expected = torch.tensor([[-1.0, 0, 0, 0], [-0.5, 2.2, 0, 0]], dtype=F64) / 6
    assert torch.allclose(logp.grad, expected, atol=1e-12)


def reference_loss(logp, old, adv, mask, clip_low=0.2, clip_high=0.28, c=3.0):
    """Straight transcription of design.md, token by token, with plain autograd."""
    total = 0.0
    count = 0
    for i in range(mask.shape[0]):
        for t in range(mask.shape[1]):
            if not mask[i, t]:
                continue
            ratio = torch.exp(logp[i, t] - old[i, t])
            a = adv[i, t]
            term = torch.max(-a * ratio, -a * torch.clamp(ratio, 1 - clip_low, 1 + clip_high))
            if a < 0:
                term = torch.min(term, -c * a)
            total = total + term
            count += 1
    return total / count


def test_gradient_matches_an_autograd_reference_on_a_fixed_batch():
    gen = torch.Generator().manual_seed(0)
    old = -torch.rand(3, 7, generator=gen, dtype=F64) * 3
    logp = (old + torch.randn(3, 7, generator=gen, dtype=F64) * 0.6).requires_grad_()
    adv = torch.randn(3, 7, generator=gen, dtype=F64) * 2
    mask = torch.rand(3, 7, generator=gen) > 0.3
    loss, _ = policy_loss(logp, old, adv, mask)
    (grad,) = torch.autograd.grad(loss, logp)
    ref_logp = logp.detach().clone().requires_grad_()
    ref = reference_loss(ref_logp, old, adv, mask)
    (ref_grad,) = torch.autograd.grad(ref, ref_logp)
    assert loss.item() == pytest.approx(ref.item(), abs=1e-12)
    assert torch.allclose(grad, ref_grad, atol=1e-12)
    assert (grad != 0).sum() >= 5  # the batch exercises unclipped tokens too


def test_gradient_flows_only_through_logprobs():
    logp = new_logprobs()
    old = OLD.clone().requires_grad_()
    adv = ADV.clone().requires_grad_()
    loss, stats = policy_loss(logp, old, adv, MASK)
    loss.backward()
    assert old.grad is None and adv.grad is None
    assert logp.grad is not None and torch.isfinite(logp.grad).all()
    assert not stats.approx_kl.requires_grad
    ref = torch.zeros_like(OLD).requires_grad_()
    kl_penalty_k3(logp, ref, MASK).backward()
    assert ref.grad is None


def test_num_tokens_makes_accumulated_micro_batches_equal_one_batch():
    gen = torch.Generator().manual_seed(1)
    old = -torch.rand(4, 6, generator=gen, dtype=F64)
    logp = (old + 0.3 * torch.randn(4, 6, generator=gen, dtype=F64)).requires_grad_()
    adv = torch.randn(4, 6, generator=gen, dtype=F64)
    mask = torch.rand(4, 6, generator=gen) > 0.4
    full, _ = policy_loss(logp, old, adv, mask)
    (full_grad,) = torch.autograd.grad(full, logp)
    total = int(mask.sum())
    parts = [policy_loss(logp[s], old[s], adv[s], mask[s], num_tokens=total)[0]
             for s in (slice(0, 1), slice(1, 4))]
    accumulated = parts[0] + parts[1]
    (acc_grad,) = torch.autograd.grad(accumulated, logp)
    assert accumulated.item() == pytest.approx(full.item(), abs=1e-12)
    assert torch.allclose(acc_grad, full_grad, atol=1e-12)
    # A tensor count (e.g. all-reduced across ranks) works the same.
    tensor_count = policy_loss(logp, old, adv, mask, num_tokens=torch.tensor(total))[0]
    assert tensor_count.item() == pytest.approx(full.item(), abs=1e-12)


def test_empty_mask_gives_zero_loss_not_nan():
    logp = torch.zeros(2, 3, requires_grad=True)
    loss, stats = policy_loss(logp, torch.zeros(2, 3), torch.ones(2, 3), torch.zeros(2, 3))
    loss.backward()
    assert loss.item() == 0.0 and stats.as_floats()["clip_frac"] == 0.0
    assert torch.equal(logp.grad, torch.zeros(2, 3))


def test_dual_clip_none_disables_the_bound():
    logp = torch.tensor([[math.log(4.0)]], dtype=F64)
    adv = torch.tensor([[-1.0]], dtype=F64)
    zero, ones = torch.zeros(1, 1, dtype=F64), torch.ones(1, 1)
    assert policy_loss(logp, zero, adv, ones)[0].item() == pytest.approx(3.0)
    assert policy_loss(logp, zero, adv, ones, dual_clip=None)[0].item() == pytest.approx(4.0)


def test_wild_log_ratios_give_finite_loss_and_gradient():
    logp = torch.tensor([[0.0, -200.0, 0.0, -200.0]], requires_grad=True)
    old = torch.tensor([[-200.0, 0.0, -200.0, 0.0]])
    adv = torch.tensor([[1.0, 1.0, -1.0, -1.0]])
    loss, _ = policy_loss(logp, old, adv, torch.ones(1, 4))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logp.grad).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"clip_low": 1.0}, r"clip_low must be in \[0, 1\)"),
        ({"clip_high": -0.1}, "clip_high must be >= 0"),
        ({"dual_clip": 1.0}, "dual_clip must be > 1"),
        ({"num_tokens": 0}, "num_tokens must be > 0"),
        ({"num_tokens": torch.tensor([1, 2])}, "num_tokens must be a single number"),
        ({"old_logprobs": torch.zeros(2, 3)},
         r"old_logprobs has shape \(2, 3\), expected \(2, 4\)"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, match):
    args = {"logprobs": OLD, "old_logprobs": OLD, "token_advantages": ADV, "mask": MASK}
    args.update(kwargs)
    with pytest.raises(AlgorithmInputError, match=match):
        policy_loss(**args)


def test_k3_kl_by_hand():
    # d = ref − logp = [−1, 1, (masked)]: k3 = [e^−1 + 1 − 1, e − 1 − 1]; dk3/dlogp = 1 − e^d.
    logp = torch.tensor([[0.0, -1.0, 5.0]], dtype=F64, requires_grad=True)
    ref = torch.tensor([[-1.0, 0.0, NAN]], dtype=F64)
    mask = torch.tensor([[1, 1, 0]])
    kl = kl_penalty_k3(logp, ref, mask)
    assert kl.item() == pytest.approx((math.exp(-1) + math.e - 2) / 2)
    kl.backward()
    expected = torch.tensor([[1 - math.exp(-1), 1 - math.e, 0.0]], dtype=F64) / 2
    assert torch.allclose(logp.grad, expected)
    assert kl_penalty_k3(logp, logp.detach(), mask).item() == 0.0


# ---- properties ---------------------------------------------------------------------------

@st.composite
def loss_batches(draw):
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 5))
    n = rows * cols

    def values(strategy):
        drawn = draw(st.lists(strategy, min_size=n, max_size=n))
        return torch.tensor(drawn, dtype=F64).view(rows, cols)

    old = values(st.floats(-10, 0))
    logp = old + values(st.floats(-3, 3))
    adv = values(st.floats(-5, 5))
    mask = torch.tensor(draw(st.lists(st.booleans(), min_size=n, max_size=n))).view(rows, cols)
    return logp, old, adv, mask


garbage = st.sampled_from([NAN, INF, -INF, 1e6, -42.0])


@settings(max_examples=40, deadline=None)
@given(loss_batches(), st.data())
def test_masked_values_change_neither_loss_nor_gradient(batch, data):
    logp, old, adv, mask = batch

    def noisy(t):
        noise = torch.tensor(data.draw(st.lists(garbage, min_size=t.numel(), max_size=t.numel())),
                             dtype=F64).view_as(t)
        return torch.where(mask, t, noise)

    def run(lp, o, a):
        lp = lp.clone().requires_grad_()
        loss, stats = policy_loss(lp, o, a, mask)
        kl = kl_penalty_k3(lp, o, mask)
        (grad,) = torch.autograd.grad(loss + kl, lp)
        return loss, kl, grad[mask], stats.as_floats()

    base = run(logp, old, adv)
    changed = run(noisy(logp), noisy(old), noisy(adv))
    assert torch.equal(base[0], changed[0]) and torch.equal(base[1], changed[1])
    assert torch.equal(base[2], changed[2])
    assert base[3] == changed[3]


@settings(max_examples=50, deadline=None)
@given(st.floats(-12, 12), st.floats(-10, -1e-3), st.floats(1.01, 10))
def test_dual_clip_bounds_negative_advantage_loss(log_ratio, adv, c):
    logp = torch.tensor([[log_ratio]], dtype=F64)
    loss, _ = policy_loss(logp, torch.zeros(1, 1, dtype=F64), torch.tensor([[adv]], dtype=F64),
                          torch.ones(1, 1), dual_clip=c)
    assert loss.item() <= -c * adv * (1 + 1e-12)
    # ... and never below the ordinary clipped surrogate of a negative advantage, −Â·(1 − ε_low).
    assert loss.item() >= -adv * 0.8 * (1 - 1e-12)


@settings(max_examples=40, deadline=None)
@given(loss_batches())
def test_k3_is_non_negative(batch):
    logp, old, _, mask = batch
    assert kl_penalty_k3(logp, old, mask).item() >= 0.0
