"""Self-distillation scoring: behaviour and self-teacher log-probs of every sampled token."""

from rlsd.score.config import ScoreConfig
from rlsd.score.scoring import ScoringError, score_rollouts

__all__ = ["ScoreConfig", "ScoringError", "score_rollouts"]
