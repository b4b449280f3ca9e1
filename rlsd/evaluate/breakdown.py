"""Per-benchmark, per-subject and per-difficulty metrics, and one result record per item.

Every graded sample carries ``benchmark``, ``subject`` and ``difficulty`` (from the prompt
row's ``meta``, see :mod:`rlsd.evaluate.presets`); a group's metrics are
:func:`rlsd.evaluate.evaluation.aggregate` over the samples of that group alone, so a
subject's pass@k is the same unbiased estimator averaged over the subject's prompts.

Benchmarks are averaged two ways: the pooled metrics weight every item equally (what
``metrics.json`` holds), and ``macro/<metric>`` weights every benchmark equally (what the RLSD
paper's table averages: MMMU, MathVista, MathVision, ZeroBench, WeMath).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rlsd.evaluate.metrics import majority_answer, pass_at_k

#: Group name for samples whose prompt has no subject / difficulty in its meta.
NONE_LABEL = "(none)"
#: The metrics repeated per benchmark in the flat metrics (``<benchmark>/<metric>``).
HEADLINE_PREFIXES = ("pass@", "mean@", "maj@")

Aggregate = Callable[[Sequence[Mapping[str, Any]], Sequence[int]], dict[str, float]]


def label(value: Any) -> str:
    """A group label: the text of ``value``, or :data:`NONE_LABEL` for none/blank."""
    text = "" if value is None else str(value).strip()
    return text or NONE_LABEL


def group_samples(samples: Sequence[Mapping[str, Any]], field: str
                  ) -> dict[str, list[Mapping[str, Any]]]:
    """Samples grouped by ``label(sample[field])``, groups in sorted order."""
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for s in samples:
        groups[label(s.get(field))].append(s)
    return dict(sorted(groups.items()))


def headline_metric(metrics: Mapping[str, float]) -> str:
    """The metric tables and charts lead with: pass@1 if computed, else the mean@n."""
    if "pass@1" in metrics:
        return "pass@1"
    return next((k for k in metrics if k.startswith("mean@")), next(iter(metrics)))


def breakdown(samples: Sequence[Mapping[str, Any]], k_values: Sequence[int],
              aggregate: Aggregate) -> dict[str, Any]:
    """``{"benchmarks": {b: metrics}, "subjects": {b: {s: metrics}},
    "difficulties": {b: {d: metrics}}}`` over the graded samples."""
    out: dict[str, Any] = {"benchmarks": {}, "subjects": {}, "difficulties": {}}
    for bench, bench_samples in group_samples(samples, "benchmark").items():
        out["benchmarks"][bench] = aggregate(bench_samples, k_values)
        out["subjects"][bench] = {s: aggregate(g, k_values)
                                  for s, g in group_samples(bench_samples, "subject").items()}
        out["difficulties"][bench] = {d: aggregate(g, k_values)
                                      for d, g in group_samples(bench_samples,
                                                                "difficulty").items()}
    return out


def per_benchmark_metrics(by_benchmark: Mapping[str, Mapping[str, float]]) -> dict[str, float]:
    """Flat ``<benchmark>/<metric>`` values and their ``macro/<metric>`` means, for the
    pass@k, mean@n and maj@n metrics (empty with fewer than two benchmarks: nothing to add)."""
    if len(by_benchmark) < 2:
        return {}
    flat: dict[str, float] = {}
    sums: dict[str, list[float]] = defaultdict(list)
    for bench, metrics in by_benchmark.items():
        for key, value in metrics.items():
            if key.startswith(HEADLINE_PREFIXES):
                flat[f"{bench}/{key}"] = value
                sums[key].append(value)
    for key, values in sums.items():
        if len(values) == len(by_benchmark):  # a metric every benchmark has (same n)
            flat[f"macro/{key}"] = sum(values) / len(values)
    return flat


def item_results(samples: Sequence[Mapping[str, Any]], k_values: Sequence[int],
                 prompts: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One record per item (prompt), in first-seen order: its labels, the gold answer, every
    sample's answer and verdict, pass@k, the majority vote, and response lengths.

    ``prompts`` maps prompt id to its text, included when given.
    """
    by_prompt: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for s in samples:
        by_prompt[s["prompt_id"]].append(s)
    items = []
    for pid, group in by_prompt.items():
        group = sorted(group, key=lambda s: s.get("sample_index", 0))
        n = len(group)
        correct = sum(s["correct"] >= 1.0 for s in group)
        voted = majority_answer([s.get("answer") for s in group])
        first = group[0]
        item: dict[str, Any] = {
            "prompt_id": pid,
            "benchmark": label(first.get("benchmark")),
            "subject": label(first.get("subject")),
            "difficulty": label(first.get("difficulty")),
            "gold": first.get("gold"),
            "samples": n,
            "correct": correct,
            "accuracy": sum(s["correct"] for s in group) / n,
            **{f"pass@{k}": pass_at_k(n, correct, k) for k in k_values if k <= n},
            "majority_answer": voted,
            "majority_correct": next((s["correct"] for s in group if s.get("answer") == voted),
                                     0.0) if voted else 0.0,
            "answers": [s.get("answer") for s in group],
            "verdicts": [s["correct"] for s in group],
            "response_lengths": [s["response_length"] for s in group],
            "truncated": sum(bool(s.get("truncated")) for s in group),
        }
        if prompts is not None and pid in prompts:
            item["prompt"] = prompts[pid]
        items.append(item)
    return items
