"""Benchmark evaluation: pass@k (unbiased), mean@n, maj@n over n samples per prompt, with
per-benchmark / per-subject breakdowns and HTML + Markdown reports.

Benchmark presets (GSM8K, MATH-500, AIME 2024/2025, MathVista, MathVision, MMMU, WeMath,
ZeroBench) are in :mod:`rlsd.evaluate.presets`; comparing two evaluations (and the
pipeline's before/after view) in :mod:`rlsd.evaluate.compare`.
"""

from rlsd.evaluate.breakdown import breakdown, item_results, per_benchmark_metrics
from rlsd.evaluate.config import EvalConfig
from rlsd.evaluate.evaluation import (
    aggregate,
    benchmark_rows,
    evaluate_rows,
    run_benchmark_evaluation,
    run_evaluation,
    score_samples,
    write_evaluation,
)
from rlsd.evaluate.metrics import majority_answer, mean_at_n, pass_at_k
from rlsd.evaluate.presets import BENCHMARKS, BenchmarkError, get_benchmark, load_benchmark
from rlsd.evaluate.report import render_eval_html, render_eval_markdown, write_eval_reports

__all__ = ["BENCHMARKS", "BenchmarkError", "EvalConfig", "aggregate", "benchmark_rows",
           "breakdown", "evaluate_rows", "get_benchmark", "item_results", "load_benchmark",
           "majority_answer", "mean_at_n", "pass_at_k", "per_benchmark_metrics",
           "render_eval_html", "render_eval_markdown", "run_benchmark_evaluation",
           "run_evaluation", "score_samples", "write_eval_reports", "write_evaluation"]
