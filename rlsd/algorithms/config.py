"""Settings of the RLSD objective and its baselines, with the paper's defaults (design.md).

Loaded and overridden like every other settings dataclass, through :mod:`rlsd.config`
(YAML, ``--flags``, ``--set name=value``); :meth:`AlgorithmConfig.validate` runs on load.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from rlsd.algorithms.schedule import rlsd_lambda
from rlsd.algorithms.token_credit import TOKEN_ADVANTAGES, needs_teacher_logprobs
from rlsd.config import ConfigError


@dataclass
class AlgorithmConfig:
    """How sequence rewards become the token advantages and loss of one training step."""

    algorithm: str = field(default="rlsd", metadata={
        "help": "token-advantage rule: rlsd, grpo, opsd, opd, grpo+opsd (or a registered name)"})
    scale_by_std: bool = field(default=True, metadata={
        "help": "divide group advantages by the group's std (GRPO); false drops it (Dr.GRPO)"})
    lam0: float = field(default=0.5, metadata={
        "help": "RLSD mixing λ at the start, in [0, 1]; λ = 0 is GRPO"})
    lam_decay_steps: int = field(default=60, metadata={
        "help": "optimizer steps over which λ decays linearly to 0 after warm-up "
                "(paper code 60, paper text 50); 0 keeps λ = lam0"})
    lam_warmup_steps: int = field(default=0, metadata={
        "help": "optimizer steps at λ = lam0 before the decay starts"})
    eps_w: float = field(default=0.2, metadata={
        "help": "RLSD token-weight clip ε_w: w_t is kept in [1 − ε_w, 1 + ε_w]; in (0, 1)"})
    beta: float = field(default=1.0, metadata={
        "help": "GRPO+OPSD weight β of the distillation term: Â_t = A + β·Δ_t"})
    clip_low: float = field(default=0.2, metadata={
        "help": "PPO ratio clip ε_low: ratio kept above 1 − ε_low; in [0, 1)"})
    clip_high: float = field(default=0.28, metadata={
        "help": "PPO ratio clip ε_high (clip-higher): ratio kept below 1 + ε_high; >= 0"})
    dual_clip: float | None = field(default=3.0, metadata={
        "help": "dual-clip c > 1 bounding the loss of negative-advantage tokens at −c·Â; "
                "none disables"})
    kl_coef: float = field(default=0.0, metadata={
        "help": "weight of the k3 KL penalty to the reference policy; 0 (paper) turns it off"})
    filter_zero_groups: bool = field(default=False, metadata={
        "help": "drop prompts whose samples all got the same reward (zero advantage)"})
    teacher_refresh_rounds: int = field(default=20, metadata={
        "help": "copy the policy into the frozen self-teacher every K rounds (paper code: 20, "
                "one optimizer step per round); 0 uses the live policy as teacher"})

    def validate(self) -> None:
        """Raise :class:`rlsd.config.ConfigError` naming the first invalid setting."""
        if self.algorithm not in TOKEN_ADVANTAGES:
            raise ConfigError(
                f"setting 'algorithm' must be one of {sorted(TOKEN_ADVANTAGES)}, "
                f"got {self.algorithm!r}"
            )
        _check("lam0", self.lam0, 0.0 <= self.lam0 <= 1.0, "in [0, 1]")
        _check("lam_decay_steps", self.lam_decay_steps, self.lam_decay_steps >= 0, ">= 0")
        _check("lam_warmup_steps", self.lam_warmup_steps, self.lam_warmup_steps >= 0, ">= 0")
        _check("eps_w", self.eps_w, 0.0 < self.eps_w < 1.0, "in (0, 1)")
        _check("beta", self.beta, math.isfinite(self.beta), "finite")
        _check("clip_low", self.clip_low, 0.0 <= self.clip_low < 1.0, "in [0, 1)")
        _check("clip_high", self.clip_high, self.clip_high >= 0.0, ">= 0")
        if self.dual_clip is not None:
            _check("dual_clip", self.dual_clip, self.dual_clip > 1.0, "> 1 (or none)")
        _check("kl_coef", self.kl_coef, self.kl_coef >= 0.0, ">= 0")
        _check("teacher_refresh_rounds", self.teacher_refresh_rounds,
               self.teacher_refresh_rounds >= 0, ">= 0 (0 = live policy)")

    def lam_at(self, step: int) -> float:
        """λ at optimizer step ``step`` under this config's schedule."""
        return rlsd_lambda(step, self.lam0, self.lam_decay_steps, self.lam_warmup_steps)

    @property
    def needs_teacher(self) -> bool:
        """Whether the configured algorithm reads teacher logprobs (all but GRPO)."""
        return needs_teacher_logprobs(self.algorithm)


def _check(name: str, value: object, ok: bool, rule: str) -> None:
    # NaN fails every comparison, so it is rejected here too.
    if not ok:
        raise ConfigError(f"setting '{name}' must be {rule}, got {value!r}")
