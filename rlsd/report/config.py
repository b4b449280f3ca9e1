"""Settings of the training report (loaded by :mod:`rlsd.config`: YAML, flags, ``--set``)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rlsd.algorithms.config import AlgorithmConfig
from rlsd.config import ConfigError

_ALGO = AlgorithmConfig()


@dataclass
class ReportConfig:
    """What the training report shows and how the token credit is recomputed.

    ``eps_w`` and ``scale_by_std`` must be the run's own algorithm settings for the token
    weights to be the ones training used (defaults: the paper's, as in AlgorithmConfig).
    """

    responses: int = field(default=6, metadata={
        "help": "responses shown token by token per round (half best, half worst of a group)"})
    eps_w: float = field(default=_ALGO.eps_w, metadata={
        "help": "the run's RLSD weight clip ε_w: w_t in [1 − ε_w, 1 + ε_w]"})
    scale_by_std: bool = field(default=_ALGO.scale_by_std, metadata={
        "help": "the run's group advantage: divide by the group std (GRPO) or not (Dr.GRPO)"})
    max_tokens: int = field(default=600, metadata={
        "help": "tokens shown per response (the rest is cut, with a note)"})
    token_credit_rounds: list[int] | None = field(default=None, metadata={
        "help": "rounds shown in the token-credit view; none = the last round with tables"})
    title: str | None = field(default=None, metadata={"help": "report title"})

    def validate(self) -> None:
        if self.responses < 1:
            raise ConfigError(f"setting 'responses' must be >= 1, got {self.responses}")
        if not 0.0 < self.eps_w < 1.0:
            raise ConfigError(f"setting 'eps_w' must be in (0, 1), got {self.eps_w}")
        if self.max_tokens < 1:
            raise ConfigError(f"setting 'max_tokens' must be >= 1, got {self.max_tokens}")
