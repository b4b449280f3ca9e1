"""The trainer's RLSD gradient equals the gradient of the loss written out by hand.

The trainer's path pads rows into micro-batches, computes log-probs through the shared
forward (rlsd.sequences), token advantages (rlsd.algorithms) and the PPO loss with the global
token count as divisor. The reference below does none of that: one unpadded sequence at a
time, and every formula of design.md spelled out with plain tensor operations.
"""

import math

import pytest
import torch

from rlsd.algorithms import AlgorithmConfig
from rlsd.models import load_policy
from rlsd.models.tiny import build_tiny_causal_lm
from rlsd.train.loss import make_micro_batch, micro_batch_loss
from rlsd.train.samples import build_round_data
from tests.train.roundtables import make_round


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    folder = build_tiny_causal_lm(tmp_path_factory.mktemp("tiny") / "policy", seed=1)
    model, tokenizer = load_policy(folder, dtype="float32", device="cpu", for_training=True)
    return model, tokenizer


def _sequence_logprobs(model, prompt, response):
    ids = torch.tensor([prompt + response])
    logits = model(input_ids=ids).logits[0, len(prompt) - 1 : -1].double()
    return torch.log_softmax(logits, -1).gather(-1, torch.tensor(response)[:, None])[:, 0]


def _hand_loss(model, samples, algo, lam):
    """Σ over all tokens of the per-token PPO loss with RLSD advantages / total tokens."""
    total = sum(len(s.response_ids) for s in samples)
    loss = torch.zeros((), dtype=torch.float64)
    lo, hi = 1 - algo.clip_low, 1 + algo.clip_high
    for s in samples:
        logp = _sequence_logprobs(model, s.prompt_ids, s.response_ids)
        old = torch.tensor(s.old_logprobs, dtype=torch.float64)
        A = s.advantage
        if algo.algorithm == "grpo":
            adv = torch.full_like(old, A)
        else:
            delta = torch.tensor(s.teacher_logprobs, dtype=torch.float64) - old
            sign = math.copysign(1.0, A) if A != 0 else 0.0
            w = torch.exp(sign * delta).clamp(1 - algo.eps_w, 1 + algo.eps_w)
            adv = A * ((1 - lam) + lam * w)
        ratio = torch.exp(logp - old)
        per_token = torch.maximum(-adv * ratio, -adv * ratio.clamp(lo, hi))
        per_token = torch.where(adv < 0, torch.minimum(per_token, -algo.dual_clip * adv), per_token)
        loss = loss + per_token.sum()
    return loss / total


def _perturb_scores(model, data, seed):
    """Behaviour/teacher log-probs near the model's own, so some tokens clip and some don't."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for s in data.samples:
            cur = _sequence_logprobs(model, s.prompt_ids, s.response_ids)
            s.old_logprobs = (cur + 0.3 * torch.randn(cur.shape, generator=gen, dtype=torch.float64)).tolist()
            s.teacher_logprobs = (cur + torch.randn(cur.shape, generator=gen, dtype=torch.float64)).tolist()


def _grads(model):
    return torch.cat([p.grad.reshape(-1).double() for p in model.parameters() if p.grad is not None])


@pytest.mark.parametrize("algorithm", ["rlsd", "grpo"])
def test_trainer_gradient_equals_hand_written_loss(tiny_model, algorithm):
    model, tokenizer = tiny_model
    vocab = (10, len(tokenizer) - 10)
    roll, rew, sco = make_round(3, 4, seed=7, vocab=vocab)
    algo = AlgorithmConfig(algorithm=algorithm)
    data = build_round_data(roll, rew, sco, algo)
    _perturb_scores(model, data, seed=0)
    lam = algo.lam_at(5)

    model.zero_grad()
    reference = _hand_loss(model, data.samples, algo, lam)
    reference.backward()
    expected = _grads(model)

    model.zero_grad()
    total = sum(len(s.response_ids) for s in data.samples)
    halves = [data.samples[:5], data.samples[5:]]  # two micro-batches of unequal size, padded
    trainer_loss = 0.0
    for part in halves:
        mb = make_micro_batch(part, tokenizer.pad_token_id)
        loss, metrics = micro_batch_loss(model, mb, algo, lam, num_tokens=total)
        loss.backward()
        trainer_loss += loss.item()
    got = _grads(model)

    assert trainer_loss == pytest.approx(reference.item(), rel=1e-4, abs=1e-6)
    assert expected.abs().max() > 1e-4  # the check is not vacuous
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-6)
    if algorithm == "rlsd":
        assert 0.8 <= metrics["rlsd_weight_mean"] <= 1.2


def test_grpo_without_scores_is_on_policy_grpo(tiny_model):
    """Scoring skipped: π_old is the current policy, ratio 1, the loss is -mean(A) per token."""
    model, tokenizer = tiny_model
    roll, rew, _ = make_round(2, 4, seed=11, vocab=(10, len(tokenizer) - 10))
    algo = AlgorithmConfig(algorithm="grpo")
    data = build_round_data(roll, rew, None, algo)
    total = sum(len(s.response_ids) for s in data.samples)
    mb = make_micro_batch(data.samples, tokenizer.pad_token_id)
    model.zero_grad()
    loss, metrics = micro_batch_loss(model, mb, algo, lam=0.0, num_tokens=total)
    loss.backward()
    got = _grads(model)
    expected_loss = -sum(s.advantage * len(s.response_ids) for s in data.samples) / total
    assert loss.item() == pytest.approx(expected_loss, abs=1e-6)
    assert metrics["ratio_mean"] == pytest.approx(1.0)
    # Gradient of plain GRPO: -Σ A_i ∇log π(y_t) / N.
    model.zero_grad()
    ref = sum(-s.advantage * _sequence_logprobs(model, s.prompt_ids, s.response_ids).sum()
              for s in data.samples) / total
    ref.backward()
    torch.testing.assert_close(got, _grads(model), rtol=1e-3, atol=1e-6)


def test_rlsd_without_behaviour_logprobs_is_on_policy_rlsd(tiny_model):
    """Scoring skipped the behaviour pass: the trainer's own forward, detached, is s_t both
    in the PPO ratio and in Δ_t = τ_t − s_t. The gradient equals the hand-written loss with
    s_t computed separately, and the recorded s_t are those log-probs."""
    model, tokenizer = tiny_model
    roll, rew, sco = make_round(3, 4, seed=5, vocab=(10, len(tokenizer) - 10))
    algo = AlgorithmConfig(algorithm="rlsd")
    data = build_round_data(roll, rew, sco, algo)
    _perturb_scores(model, data, seed=3)  # teacher log-probs near the model's own
    for s in data.samples:
        s.old_logprobs = None
    lam = algo.lam_at(0)
    total = sum(len(s.response_ids) for s in data.samples)

    model.zero_grad()
    mb = make_micro_batch(data.samples, tokenizer.pad_token_id)
    assert mb.old_logprobs is None
    loss, metrics = micro_batch_loss(model, mb, algo, lam, num_tokens=total)
    loss.backward()
    got = _grads(model)
    assert metrics["ratio_mean"] == pytest.approx(1.0)

    with torch.no_grad():
        for j, s in enumerate(data.samples):
            current = _sequence_logprobs(model, s.prompt_ids, s.response_ids)
            torch.testing.assert_close(mb.current_logprobs[j, : len(s.response_ids)].double(),
                                       current, rtol=0, atol=1e-5)
            s.old_logprobs = current.tolist()
    model.zero_grad()
    _hand_loss(model, data.samples, algo, lam).backward()
    expected = _grads(model)
    assert expected.abs().max() > 1e-4
    torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-6)


def test_scores_with_and_without_behaviour_logprobs_do_not_mix(tiny_model):
    from rlsd.train.samples import RoundDataError

    roll, rew, sco = make_round(2, 2, seed=2)
    rows = sco.to_pylist()
    rows[0]["old_logprobs"] = None
    mixed = type(sco).from_pylist(rows, schema=sco.schema)
    with pytest.raises(RoundDataError, match="for some responses and not for others"):
        build_round_data(roll, rew, mixed, AlgorithmConfig(algorithm="rlsd"))
    for row in rows:
        row["old_logprobs"] = None
    data = build_round_data(roll, rew, type(sco).from_pylist(rows, schema=sco.schema),
                            AlgorithmConfig(algorithm="rlsd"))
    assert data.behaviour_logprobs is False
    assert build_round_data(roll, rew, sco, AlgorithmConfig()).behaviour_logprobs is True
