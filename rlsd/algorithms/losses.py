"""The policy loss (PPO clipped surrogate with clip-higher and dual-clip) and the optional k3
KL penalty, both token-mean aggregated.

design.md, "Policy loss": per valid token t, with ρ_t = exp(logp_t − logp_old_t) and token
advantage Â_t,

    L_t = max(−Â_t ρ_t, −Â_t clip(ρ_t, 1 − ε_low, 1 + ε_high))        (ε_low 0.2, ε_high 0.28)
    L_t = min(L_t, −c Â_t)                            only where Â_t < 0 (dual-clip, c = 3)
    loss = Σ_valid L_t / N                                              (token-mean)

N is the number of valid tokens in the batch, or the caller's ``num_tokens``: with gradient
accumulation pass the GLOBAL valid-token count of the whole mini-batch (all micro-batches and
ranks), so that the accumulated gradient equals that of one big batch.

Gradients flow only through ``logprobs``: old logprobs, advantages and reference logprobs are
detached here. Masked tokens contribute nothing — their values are replaced before any
arithmetic, so padding holding inf or NaN changes neither the loss nor its gradient.

The log-ratio is clamped to ±20 before ``exp`` so a wild ratio cannot overflow (0·inf = NaN in
backward). At |log ρ| > 20 the surrogate is already clipped or its gradient is below ρ ≈ 2e-9,
so the clamp changes nothing that matters.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from rlsd.algorithms._checks import float_dtype, require_mask, require_shape, require_tensor
from rlsd.algorithms.errors import AlgorithmInputError

#: Bound on |log ρ| before exp (see module docstring).
MAX_LOG_RATIO = 20.0


@dataclass(frozen=True)
class PolicyLossStats:
    """Diagnostics of one :func:`policy_loss` call, as detached 0-dim float tensors.

    Tensors, not floats, so that the training loop does not wait on the device at every
    micro-batch; call :meth:`as_floats` when logging. Fractions and means are over this call's
    valid tokens (not ``num_tokens``).
    """

    clip_frac_low: torch.Tensor  # Â < 0 and ρ < 1 − ε_low: the lower clip bound is active
    clip_frac_high: torch.Tensor  # Â > 0 and ρ > 1 + ε_high: the upper clip bound is active
    clip_frac: torch.Tensor  # clip_frac_low + clip_frac_high (disjoint)
    dual_clip_frac: torch.Tensor  # Â < 0 and the dual-clip bound −c·Â is active
    approx_kl: torch.Tensor  # k3 estimate of KL(π_old ‖ π_θ): mean of ρ − 1 − log ρ
    ratio_mean: torch.Tensor  # mean ρ
    num_tokens: torch.Tensor  # valid tokens in this call

    def as_floats(self) -> dict[str, float]:
        """All statistics as python floats (one device sync)."""
        values = torch.stack([getattr(self, f.name).float() for f in fields(self)]).tolist()
        return {f.name: v for f, v in zip(fields(self), values, strict=True)}


def _denominator(num_tokens: int | float | torch.Tensor | None, mask: torch.Tensor,
                 dtype: torch.dtype) -> torch.Tensor:
    """The token-mean divisor: the caller's global count, or this batch's valid tokens (≥ 1)."""
    if num_tokens is None:
        return mask.sum().to(dtype).clamp_min(1.0)
    if isinstance(num_tokens, torch.Tensor):
        if num_tokens.numel() != 1:
            raise AlgorithmInputError(
                f"num_tokens must be a single number, got shape {tuple(num_tokens.shape)}"
            )
        count = num_tokens.detach().reshape(()).to(device=mask.device, dtype=dtype)
    else:
        count = torch.tensor(float(num_tokens), device=mask.device, dtype=dtype)
    if not bool(count > 0):
        raise AlgorithmInputError(f"num_tokens must be > 0, got {num_tokens!r}")
    return count


def _check_same_shape(mask: torch.Tensor, **tensors: torch.Tensor) -> None:
    for name, value in tensors.items():
        require_tensor(name, value)
        require_shape(name, value, tuple(mask.shape), "same as mask [batch, tokens]")


def policy_loss(
    logprobs: torch.Tensor,
    old_logprobs: torch.Tensor,
    token_advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_low: float = 0.2,
    clip_high: float = 0.28,
    dual_clip: float | None = 3.0,
    num_tokens: int | float | torch.Tensor | None = None,
) -> tuple[torch.Tensor, PolicyLossStats]:
    """PPO clipped surrogate with clip-higher and dual-clip, token-mean aggregated.

    Args:
        logprobs: [B, T] log π_θ of the sampled tokens; the only input that receives gradient.
        old_logprobs: [B, T] log π_old (behaviour policy) of the same tokens.
        token_advantages: [B, T] Â_t (from :func:`token_advantages`).
        mask: [B, T] valid tokens; bool or 0/1.
        clip_low, clip_high: ε_low in [0, 1) and ε_high >= 0 of the clip range.
        dual_clip: c > 1 bounding the loss of negative-advantage tokens at −c·Â; None disables.
        num_tokens: divisor of the token sum (default: valid tokens of this batch).

    Returns:
        ``(loss, stats)``: 0-dim loss (float32, or float64 for float64 inputs) and
        :class:`PolicyLossStats`.
    """
    mask = require_mask(mask)
    _check_same_shape(mask, logprobs=logprobs, old_logprobs=old_logprobs,
                      token_advantages=token_advantages)
    if not 0.0 <= clip_low < 1.0:
        raise AlgorithmInputError(f"clip_low must be in [0, 1), got {clip_low!r}")
    if not clip_high >= 0.0:
        raise AlgorithmInputError(f"clip_high must be >= 0, got {clip_high!r}")
    if dual_clip is not None and not dual_clip > 1.0:
        raise AlgorithmInputError(f"dual_clip must be > 1 (or None to disable), got {dual_clip!r}")
    dtype = float_dtype(logprobs, old_logprobs, token_advantages)
    denom = _denominator(num_tokens, mask, dtype)

    # Masked positions get log ρ = 0 and Â = 0 before any arithmetic (padding may be inf/NaN).
    log_ratio = torch.where(mask, logprobs.to(dtype) - old_logprobs.detach().to(dtype), 0.0)
    log_ratio = log_ratio.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    ratio = log_ratio.exp()  # [B, T]
    adv = torch.where(mask, token_advantages.detach().to(dtype), 0.0)

    unclipped = -adv * ratio
    clipped = -adv * ratio.clamp(1.0 - clip_low, 1.0 + clip_high)
    per_token = torch.maximum(unclipped, clipped)
    negative = adv < 0
    if dual_clip is not None:
        dual_bound = -dual_clip * adv
        dual_active = negative & (per_token > dual_bound)
        per_token = torch.where(negative, torch.minimum(per_token, dual_bound), per_token)
    else:
        dual_active = torch.zeros_like(mask)
    loss = torch.where(mask, per_token, 0.0).sum() / denom

    with torch.no_grad():
        valid = mask.sum().to(dtype)
        n = valid.clamp_min(1.0)
        clip_active = (clipped > unclipped) & mask
        low = (clip_active & negative).sum() / n
        high = (clip_active & (adv > 0)).sum() / n
        kl_k3 = torch.where(mask, ratio - 1.0 - log_ratio, 0.0).sum() / n
        stats = PolicyLossStats(
            clip_frac_low=low,
            clip_frac_high=high,
            clip_frac=low + high,
            dual_clip_frac=(dual_active & mask).sum() / n,
            approx_kl=kl_k3,
            ratio_mean=torch.where(mask, ratio, 0.0).sum() / n,
            num_tokens=valid,
        )
    return loss, stats


def kl_penalty_k3(
    logprobs: torch.Tensor,
    ref_logprobs: torch.Tensor,
    mask: torch.Tensor,
    num_tokens: int | float | torch.Tensor | None = None,
) -> torch.Tensor:
    """Token-mean k3 estimate of KL(π_θ ‖ π_ref) on tokens sampled from π_θ (Schulman):

        k3_t = exp(ref_t − logp_t) − (ref_t − logp_t) − 1   (≥ 0, unbiased)

    Gradient flows only through ``logprobs``. ``num_tokens`` as in :func:`policy_loss`;
    ref − logp is clamped to ±20 like the policy log-ratio.
    """
    mask = require_mask(mask)
    _check_same_shape(mask, logprobs=logprobs, ref_logprobs=ref_logprobs)
    dtype = float_dtype(logprobs, ref_logprobs)
    denom = _denominator(num_tokens, mask, dtype)
    diff = torch.where(mask, ref_logprobs.detach().to(dtype) - logprobs.to(dtype), 0.0)
    diff = diff.clamp(-MAX_LOG_RATIO, MAX_LOG_RATIO)
    return torch.where(mask, diff.exp() - diff - 1.0, 0.0).sum() / denom
