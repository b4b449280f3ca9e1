"""Token-level credit: the self-distillation signal Δ_t, the RLSD weights w_t, and the token
advantages Â_t of every algorithm, kept in a small registry of estimators by name.

design.md, "The algorithm":

    Δ_t = stopgrad(τ_t − s_t)          teacher minus student log-prob of the sampled token
    w_t = exp(sign(A_i) · Δ_t)         computed clipped, in log space:
        = exp(clamp(sign(A_i) · Δ_t, log(1 − ε_w), log(1 + ε_w)))
    RLSD       Â_t = A_i · ((1 − λ) + λ · w_t)
    GRPO       Â_t = A_i
    OPSD, OPD  Â_t = Δ_t               (OPD: a separate teacher model, no hint — same formula)
    GRPO+OPSD  Â_t = A_i + β · Δ_t

Because w_t > 0, the RLSD token advantage always has the sign of A_i: the reward alone sets
the direction, the teacher only rescales each token's share. Clamping the exponent (not w_t)
means Δ = ±inf or 1e30 gives the clip bound instead of inf/NaN.

Every result is detached (advantages are constants in the policy loss) and exactly 0 on masked
tokens, whatever the logprobs hold there (padding may hold inf or NaN).

New estimators are added by name::

    @register_token_advantage("my-algo", needs_logprobs=True)
    def my_algo(inputs: TokenCreditInputs) -> torch.Tensor:  # [B, T]
        return inputs.sequence_advantages() * inputs.delta().sigmoid()
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import torch

from rlsd.algorithms._checks import (
    float_dtype,
    require_in_range,
    require_mask,
    require_shape,
    require_tensor,
)
from rlsd.algorithms.errors import AlgorithmInputError


@dataclass(frozen=True)
class TokenCreditInputs:
    """What an estimator sees; all tensors detached, validated, in one float dtype (float32,
    or float64 when any input is float64).

    ``advantages`` is [B]; ``mask`` is bool [B, T]; the logprobs are [B, T] or None when the
    algorithm does not need them (the registry checks ``needs_logprobs`` before calling).
    """

    advantages: torch.Tensor
    mask: torch.Tensor
    student_logprobs: torch.Tensor | None
    teacher_logprobs: torch.Tensor | None
    lam: float
    eps_w: float
    beta: float
    algorithm: str

    def sequence_advantages(self) -> torch.Tensor:
        """A_i broadcast over tokens: [B, 1]."""
        return self.advantages.unsqueeze(1)

    def delta(self, allow_infinite: bool = False) -> torch.Tensor:
        """Δ_t = τ_t − s_t on valid tokens, 0 on masked ones: [B, T].

        NaN on a valid token is always an error (e.g. both logprobs -inf). ±inf is an error
        unless ``allow_infinite``: only estimators that bound Δ (RLSD's clipped weight) can use it.
        """
        if self.student_logprobs is None or self.teacher_logprobs is None:
            raise AlgorithmInputError(
                f"algorithm '{self.algorithm}' needs student_logprobs and teacher_logprobs"
            )
        return _masked_delta(self.student_logprobs, self.teacher_logprobs, self.mask,
                             allow_infinite, self.algorithm)


def _masked_delta(student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor,
                  allow_infinite: bool, who: str) -> torch.Tensor:
    """τ − s where ``mask`` [B, T], else 0; an error naming the first bad tokens otherwise."""
    delta = torch.where(mask, teacher.detach() - student.detach(), 0.0)
    bad = torch.isnan(delta) if allow_infinite else ~torch.isfinite(delta)
    if bool(bad.any()):
        first = bad.nonzero()[:5].tolist()
        kind = "NaN" if allow_infinite else "non-finite"
        raise AlgorithmInputError(
            f"{who}: Δ = teacher_logprobs − student_logprobs is {kind} on {int(bad.sum())} "
            f"valid token(s), first at [row, token] {first}; check the scored logprobs "
            "(mask padding rather than leaving inf/NaN on valid tokens)"
        )
    return delta


TokenAdvantageFn = Callable[[TokenCreditInputs], torch.Tensor]


@dataclass(frozen=True)
class TokenAdvantageEstimator:
    """A registered token-advantage rule: its name, function, whether it reads logprobs, and
    whether it reads the group advantage A_i (which needs G >= 2 samples per prompt)."""

    name: str
    fn: TokenAdvantageFn
    needs_logprobs: bool
    uses_group_advantage: bool = True


#: name -> estimator; add entries with :func:`register_token_advantage`.
TOKEN_ADVANTAGES: dict[str, TokenAdvantageEstimator] = {}


def register_token_advantage(
    name: str, *, needs_logprobs: bool = False, uses_group_advantage: bool = True
) -> Callable[[TokenAdvantageFn], TokenAdvantageFn]:
    """Decorator registering ``fn(inputs) -> Tensor[B, T]`` as the estimator ``name``.

    ``needs_logprobs``: the estimator reads Δ, so callers must pass student and teacher
    logprobs (and the pipeline must run teacher scoring). ``uses_group_advantage``: it reads
    A_i, which is 0 for every response of a group of one (the trainer refuses G = 1).
    """
    if not isinstance(name, str) or not name:
        raise AlgorithmInputError(f"estimator name must be a non-empty string, got {name!r}")

    def decorate(fn: TokenAdvantageFn) -> TokenAdvantageFn:
        if name in TOKEN_ADVANTAGES:
            raise AlgorithmInputError(f"token-advantage estimator '{name}' is already registered")
        TOKEN_ADVANTAGES[name] = TokenAdvantageEstimator(name, fn, needs_logprobs,
                                                         uses_group_advantage)
        return fn

    return decorate


def get_token_advantage_estimator(algorithm: str) -> TokenAdvantageEstimator:
    """The registered estimator, or an error listing the valid names."""
    try:
        return TOKEN_ADVANTAGES[algorithm]
    except (KeyError, TypeError):
        raise AlgorithmInputError(
            f"unknown algorithm {algorithm!r}; valid: {sorted(TOKEN_ADVANTAGES)}"
        ) from None


def uses_group_advantage(algorithm: str) -> bool:
    """Whether ``algorithm`` reads the group advantage A_i (OPSD and OPD do not)."""
    return get_token_advantage_estimator(algorithm).uses_group_advantage


def needs_teacher_logprobs(algorithm: str) -> bool:
    """Whether ``algorithm`` reads teacher/student logprobs (GRPO does not: skip scoring)."""
    return get_token_advantage_estimator(algorithm).needs_logprobs


class RLSDWeights(NamedTuple):
    """RLSD token weights and where the clip was active; all [B, T].

    ``weights`` is w_t = clip(exp(sign(A_i)·Δ_t), 1 − ε_w, 1 + ε_w) on valid tokens and 1.0
    (the neutral GRPO weight) on masked ones. ``clipped_low`` / ``clipped_high``: the unclipped
    weight was below 1 − ε_w / above 1 + ε_w (never on masked tokens or where A_i = 0).
    """

    weights: torch.Tensor
    clipped_low: torch.Tensor
    clipped_high: torch.Tensor

    @property
    def clipped(self) -> torch.Tensor:
        """Bool [B, T]: the clip changed the weight at this token."""
        return self.clipped_low | self.clipped_high


def _clipped_weights(
    sign: torch.Tensor, delta: torch.Tensor, eps_w: float
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """w_t = exp(clamp(sign·Δ, log(1−ε_w), log(1+ε_w))) and the low/high clip masks, all [B, T].

    ``sign`` [B, 1] is in {−1, 0, 1}; Δ may be ±inf on valid tokens (masked ones are 0).
    sign = 0 with Δ = ±inf would give 0·inf = NaN, so the product is taken only where sign ≠ 0.
    exp(log(1 ± ε_w)) can round one ulp past 1 ± ε_w; the final clamp keeps w exactly inside.
    """
    low, high = 1.0 - eps_w, 1.0 + eps_w
    log_low, log_high = math.log(low), math.log(high)
    signed = torch.where(sign != 0, sign * delta, 0.0)  # [B, T]
    weights = signed.clamp(log_low, log_high).exp().clamp(low, high)
    return weights, signed < log_low, signed > log_high


def _inputs(
    algorithm: str,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    student_logprobs: torch.Tensor | None,
    teacher_logprobs: torch.Tensor | None,
    lam: float,
    eps_w: float,
    beta: float,
    needs_logprobs: bool,
) -> TokenCreditInputs:
    """Validate everything up front and build the estimator's detached inputs."""
    mask = require_mask(mask)
    batch, tokens = mask.shape
    advantages = require_tensor("advantages", advantages)
    require_shape("advantages", advantages, (batch,), "one sequence advantage per row of mask")
    lam = require_in_range("lam", lam, 0.0, 1.0)
    eps_w = require_in_range("eps_w", eps_w, 0.0, 1.0, low_open=True, high_open=True)
    if not math.isfinite(float(beta)):
        raise AlgorithmInputError(f"beta must be finite, got {beta!r}")
    if needs_logprobs:
        missing = [n for n, v in (("student_logprobs", student_logprobs),
                                  ("teacher_logprobs", teacher_logprobs)) if v is None]
        if missing:
            raise AlgorithmInputError(f"algorithm '{algorithm}' needs {' and '.join(missing)}")
    for name, value in (("student_logprobs", student_logprobs),
                        ("teacher_logprobs", teacher_logprobs)):
        if value is not None:
            require_tensor(name, value)
            require_shape(name, value, (batch, tokens), "same as mask [batch, tokens]")
    if not bool(torch.isfinite(advantages).all()):
        raise AlgorithmInputError("advantages must be finite (got NaN or inf)")
    dtype = float_dtype(advantages, student_logprobs, teacher_logprobs)

    def prepared(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.detach().to(dtype)

    return TokenCreditInputs(
        advantages=advantages.detach().to(dtype),
        mask=mask,
        student_logprobs=prepared(student_logprobs),
        teacher_logprobs=prepared(teacher_logprobs),
        lam=lam,
        eps_w=eps_w,
        beta=float(beta),
        algorithm=algorithm,
    )


def self_distillation_delta(
    student_logprobs: torch.Tensor, teacher_logprobs: torch.Tensor, mask: torch.Tensor
) -> torch.Tensor:
    """Δ_t = stopgrad(τ_t − s_t) [B, T], 0 on masked tokens; non-finite valid Δ is an error."""
    mask = require_mask(mask)
    for name, value in (("student_logprobs", student_logprobs),
                        ("teacher_logprobs", teacher_logprobs)):
        require_tensor(name, value)
        require_shape(name, value, tuple(mask.shape), "same as mask [batch, tokens]")
    dtype = float_dtype(student_logprobs, teacher_logprobs)
    return _masked_delta(student_logprobs.to(dtype), teacher_logprobs.to(dtype), mask,
                         allow_infinite=False, who="self_distillation_delta")


def rlsd_weights(
    advantages: torch.Tensor,
    mask: torch.Tensor,
    student_logprobs: torch.Tensor,
    teacher_logprobs: torch.Tensor,
    eps_w: float = 0.2,
) -> RLSDWeights:
    """The RLSD token weights w_t and the clipped tokens (for metrics and token shading).

    Args:
        advantages: [B] sequence advantages A_i (only their sign is used).
        mask: [B, T] valid-token mask.
        student_logprobs, teacher_logprobs: [B, T] s_t and τ_t of the sampled tokens.
        eps_w: weight clip ε_w in (0, 1).
    """
    inputs = _inputs("rlsd", advantages, mask, student_logprobs, teacher_logprobs,
                     0.0, eps_w, 0.0, needs_logprobs=True)
    weights, low, high = _clipped_weights(
        inputs.sequence_advantages().sign(), inputs.delta(allow_infinite=True), inputs.eps_w
    )
    weights = torch.where(inputs.mask, weights, 1.0)
    return RLSDWeights(weights, low & inputs.mask, high & inputs.mask)


def token_advantages(
    algorithm: str,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    student_logprobs: torch.Tensor | None = None,
    teacher_logprobs: torch.Tensor | None = None,
    lam: float = 0.5,
    eps_w: float = 0.2,
    beta: float = 1.0,
) -> torch.Tensor:
    """Token advantages Â [B, T] of ``algorithm`` (a name in :data:`TOKEN_ADVANTAGES`).

    Args:
        algorithm: ``grpo``, ``rlsd``, ``opsd``, ``opd``, ``grpo+opsd`` or a registered name.
        advantages: [B] sequence advantages A_i (from :func:`group_advantages`).
        mask: [B, T] valid (response) tokens; bool or 0/1.
        student_logprobs: [B, T] s_t, needed by every algorithm but GRPO.
        teacher_logprobs: [B, T] τ_t, needed by every algorithm but GRPO.
        lam: RLSD mixing λ in [0, 1] (see :func:`rlsd_lambda`); λ = 0 is GRPO exactly.
        eps_w: RLSD weight clip ε_w in (0, 1).
        beta: GRPO+OPSD weight β of Δ_t.

    Returns:
        Detached [B, T] tensor (float64 if any input is float64, else float32), 0 on masked
        tokens.
    """
    estimator = get_token_advantage_estimator(algorithm)
    inputs = _inputs(algorithm, advantages, mask, student_logprobs, teacher_logprobs,
                     lam, eps_w, beta, estimator.needs_logprobs)
    out = estimator.fn(inputs)
    require_shape(f"estimator '{algorithm}' output", out, tuple(inputs.mask.shape),
                  "one advantage per token")
    return torch.where(inputs.mask, out.detach().to(inputs.advantages.dtype), 0.0)


@register_token_advantage("grpo")
def grpo_token_advantages(inputs: TokenCreditInputs) -> torch.Tensor:
    """GRPO: Â_t = A_i on every token."""
    return inputs.sequence_advantages().expand(inputs.mask.shape)


@register_token_advantage("rlsd", needs_logprobs=True)
def rlsd_token_advantages(inputs: TokenCreditInputs) -> torch.Tensor:
    """RLSD: Â_t = A_i · ((1 − λ) + λ · w_t), w_t clipped in log space."""
    a = inputs.sequence_advantages()
    w, _, _ = _clipped_weights(a.sign(), inputs.delta(allow_infinite=True), inputs.eps_w)
    return a * ((1.0 - inputs.lam) + inputs.lam * w)


@register_token_advantage("opsd", needs_logprobs=True, uses_group_advantage=False)
def opsd_token_advantages(inputs: TokenCreditInputs) -> torch.Tensor:
    """OPSD (privileged self-teacher) and OPD (separate teacher): Â_t = Δ_t."""
    return inputs.delta()


register_token_advantage("opd", needs_logprobs=True, uses_group_advantage=False)(
    opsd_token_advantages)


@register_token_advantage("grpo+opsd", needs_logprobs=True)
def grpo_plus_opsd_token_advantages(inputs: TokenCreditInputs) -> torch.Tensor:
    """GRPO+OPSD: Â_t = A_i + β · Δ_t."""
    return inputs.sequence_advantages() + inputs.beta * inputs.delta()
