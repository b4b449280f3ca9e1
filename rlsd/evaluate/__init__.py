"""Benchmark evaluation: pass@k (unbiased), mean@n, maj@n over n samples per prompt."""

from rlsd.evaluate.config import EvalConfig
from rlsd.evaluate.evaluation import aggregate, run_evaluation, score_samples
from rlsd.evaluate.metrics import majority_answer, mean_at_n, pass_at_k

__all__ = ["EvalConfig", "aggregate", "majority_answer", "mean_at_n", "pass_at_k",
           "run_evaluation", "score_samples"]
