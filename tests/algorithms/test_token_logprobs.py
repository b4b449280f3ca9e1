"""token_logprobs / token_entropy: float32, equal to log_softmax().gather, chunked or not."""

import math

import pytest
import torch

from rlsd.algorithms import AlgorithmInputError, token_entropy, token_logprobs


def reference_logprobs(logits, tokens):
    """log_softmax + gather in float32 (float64 logits stay float64)."""
    logits = logits.to(torch.promote_types(logits.dtype, torch.float32))
    return torch.log_softmax(logits, dim=-1).gather(-1, tokens.unsqueeze(-1)).squeeze(-1)


def random_batch(dtype=torch.float32, batch=2, tokens=5, vocab=11, seed=0):
    gen = torch.Generator().manual_seed(seed)
    logits = (torch.randn(batch, tokens, vocab, generator=gen) * 4).to(dtype)
    ids = torch.randint(0, vocab, (batch, tokens), generator=gen)
    return logits, ids


def test_by_hand():
    # logits [0, ln 3]: probabilities [1/4, 3/4]; entropy −(¼ ln ¼ + ¾ ln ¾).
    logits = torch.tensor([[[0.0, math.log(3.0)], [1.0, 1.0]]])
    got = token_logprobs(logits, torch.tensor([[1, 0]]))
    assert torch.allclose(got, torch.tensor([[math.log(0.75), math.log(0.5)]]))
    ent = token_entropy(logits)
    assert torch.allclose(ent, torch.tensor([[-(0.25 * math.log(0.25) + 0.75 * math.log(0.75)),
                                              math.log(2.0)]]))


# chunk_elements: everything at once, one sequence per block, and part of a sequence per block.
@pytest.mark.parametrize("chunk_elements", [1 << 26, 55, 20, 1])
def test_matches_log_softmax_gather(chunk_elements):
    logits, ids = random_batch()
    got = token_logprobs(logits, ids, chunk_elements=chunk_elements)
    assert got.dtype == torch.float32
    assert torch.allclose(got, reference_logprobs(logits, ids), atol=1e-6)
    ent = token_entropy(logits, chunk_elements=chunk_elements)
    probs = torch.softmax(logits, -1)
    assert torch.allclose(ent, -(probs * torch.log_softmax(logits, -1)).sum(-1), atol=1e-5)


def test_bf16_logits_are_scored_in_float32():
    logits, ids = random_batch(torch.bfloat16)
    got = token_logprobs(logits, ids, chunk_elements=20)
    assert got.dtype == torch.float32
    assert torch.allclose(got, reference_logprobs(logits, ids), atol=1e-6)
    # bf16 arithmetic would be off by ~1e-2 at these magnitudes: the float32 path matters.
    bf16_path = torch.log_softmax(logits, -1).gather(-1, ids.unsqueeze(-1)).squeeze(-1).float()
    assert (bf16_path - got).abs().max() > 1e-3


def test_shifted_non_contiguous_logits():
    logits, ids = random_batch(tokens=6)
    shifted = logits[:, :-1]  # how a causal LM's output is aligned with its next tokens
    assert not shifted.is_contiguous()
    got = token_logprobs(shifted, ids[:, 1:], chunk_elements=30)
    assert torch.allclose(got, reference_logprobs(shifted, ids[:, 1:]), atol=1e-6)


@pytest.mark.parametrize("chunk_elements", [1 << 26, 20])
def test_gradient_matches_autograd_of_log_softmax(chunk_elements):
    logits, ids = random_batch(torch.float64)
    weights = torch.randn(ids.shape, dtype=torch.float64)
    mine = logits.clone().requires_grad_()
    (token_logprobs(mine, ids, chunk_elements=chunk_elements) * weights).sum().backward()
    ref = logits.clone().requires_grad_()
    (reference_logprobs(ref, ids) * weights).sum().backward()
    assert torch.allclose(mine.grad, ref.grad, atol=1e-12)
    small = logits[:1, :2, :4].clone().requires_grad_()
    assert torch.autograd.gradcheck(
        lambda z: token_logprobs(z, ids[:1, :2] % 4, chunk_elements=4), (small,)
    )


def test_bf16_gradient_has_the_logits_dtype():
    logits, ids = random_batch(torch.bfloat16)
    logits.requires_grad_()
    token_logprobs(logits, ids, chunk_elements=20).sum().backward()
    assert logits.grad.dtype == torch.bfloat16
    ref = logits.detach().float().requires_grad_()
    reference_logprobs(ref, ids).sum().backward()
    assert torch.allclose(logits.grad.float(), ref.grad, atol=1e-2)


@pytest.mark.parametrize(
    ("logits", "tokens", "match"),
    [
        (torch.zeros(2, 3, 5), torch.full((2, 3), 5), r"tokens must lie in \[0, 5\)"),
        (torch.zeros(2, 3, 5), torch.full((2, 3), -100), r"tokens must lie in \[0, 5\)"),
        (torch.zeros(2, 3, 5), torch.zeros(2, 4, dtype=torch.long), r"tokens has shape \(2, 4\)"),
        (torch.zeros(2, 3, 5), torch.zeros(2, 3), "tokens must be an integer tensor"),
        (torch.zeros(2, 5), torch.zeros(2, dtype=torch.long), r"logits must be a float \[batch"),
    ],
)
def test_bad_input_is_one_clear_error(logits, tokens, match):
    with pytest.raises(AlgorithmInputError, match=match):
        token_logprobs(logits, tokens)
