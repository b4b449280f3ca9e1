"""Evaluate a policy on a prompt set: sample n responses, verify, aggregate.

Sampling reuses the rollout stage (:func:`rlsd.rollout.generate_rollouts`) and grading the
verify stage (:func:`rlsd.verify.verify_batch`, under its time limits), so an evaluation sees
the policy exactly as training does.

The prompts are a prepared prompt table (:func:`run_evaluation`) or benchmark presets
(:func:`run_benchmark_evaluation`, :mod:`rlsd.evaluate.presets`). Either way the output folder
holds (:func:`write_evaluation`):

- ``results.json``: every graded sample (answer, verdict, length, benchmark/subject labels);
- ``items.json``: one record per item (prompt) with its samples' verdicts and pass@k;
- ``metrics.json``: the pooled metrics (flat name -> number; with several benchmarks also
  ``<benchmark>/<metric>`` and ``macro/<metric>``);
- ``breakdown.json``: metrics per benchmark, per subject and per difficulty;
- ``report.md`` (for KFP's Markdown viewer) and ``report.html`` (self-contained, with plots).
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from rlsd.evaluate.breakdown import breakdown, item_results, per_benchmark_metrics
from rlsd.evaluate.config import EvalConfig
from rlsd.evaluate.metrics import majority_answer, mean_at_n, pass_at_k
from rlsd.evaluate.presets import benchmark_meta
from rlsd.verify import VerifyConfig, VerifyItem, verify_batch
from rlsd.verify.extract import extract_answer
from rlsd.verify.registry import get_verifier, resolve_ref


def _extracted(response: str, verifier: str) -> str | None:
    entry = get_verifier(verifier)
    fallback = resolve_ref(entry.fallback_ref) if entry.fallback_ref else None
    answer, _ = extract_answer(response, fallback)
    return answer.strip() if answer else None


def score_samples(
    rollouts: pa.Table,
    prompt_rows: Mapping[str, Mapping[str, Any]],
    verify_config: VerifyConfig | None = None,
) -> list[dict[str, Any]]:
    """One result per sampled response: the graded outcome, the extracted answer, and the
    prompt's benchmark / subject / difficulty (from its ``meta``) for the breakdowns."""
    verify_config = verify_config or VerifyConfig()
    rows = rollouts.to_pylist()
    items = [VerifyItem(r["response_text"], str(prompt_rows[r["prompt_id"]]["answer"]),
                        prompt_rows[r["prompt_id"]].get("verifier") or None)
             for r in rows]
    graded = verify_batch(items, verify_config)
    out = []
    for r, item, g in zip(rows, items, graded, strict=True):
        verifier = item.verifier or verify_config.default_verifier
        prompt = prompt_rows[r["prompt_id"]]
        meta = benchmark_meta(prompt.get("meta"))
        out.append({
            "prompt_id": r["prompt_id"],
            "sample_index": r["sample_index"],
            "gold": item.answer,
            "answer": _extracted(r["response_text"], verifier),
            "correct": g.accuracy,
            "format": g.format,
            "reason": g.reason,
            "response_text": r["response_text"],
            "response_length": r["response_length"],
            "truncated": r["finish_reason"] == "length",
            # Labels for the breakdowns: presets put them in meta; other sets by source.
            "benchmark": meta.get("benchmark") or prompt.get("source"),
            "subject": meta.get("subject"),
            "difficulty": meta.get("difficulty"),
        })
    return out


def aggregate(samples: Sequence[Mapping[str, Any]], k_values: Sequence[int]) -> dict[str, float]:
    """pass@k (unbiased), mean@n, maj@n, response length and truncation over all prompts."""
    by_prompt: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for s in samples:
        by_prompt[s["prompt_id"]].append(s)
    if not by_prompt:
        raise ValueError("no samples to aggregate")
    n_values = {len(v) for v in by_prompt.values()}
    n = min(n_values)
    metrics: dict[str, float] = {}
    for k in k_values:
        metrics[f"pass@{k}"] = sum(
            pass_at_k(len(v), sum(s["correct"] >= 1.0 for s in v), k) for v in by_prompt.values()
        ) / len(by_prompt)
    metrics[f"mean@{n}"] = sum(mean_at_n([s["correct"] for s in v])
                               for v in by_prompt.values()) / len(by_prompt)
    maj = 0.0
    for v in by_prompt.values():
        voted = majority_answer([s["answer"] for s in v])
        maj += next((s["correct"] for s in v if s["answer"] == voted), 0.0) if voted else 0.0
    metrics[f"maj@{n}"] = maj / len(by_prompt)
    metrics["format"] = sum(s["format"] for s in samples) / len(samples)
    metrics["response_length"] = sum(s["response_length"] for s in samples) / len(samples)
    metrics["truncation_rate"] = sum(bool(s["truncated"]) for s in samples) / len(samples)
    metrics["prompts"] = float(len(by_prompt))
    metrics["samples"] = float(len(samples))
    return metrics


def write_report(path: Path, policy_ref: str, metrics: Mapping[str, float],
                 samples: Sequence[Mapping[str, Any]], shown: int = 5) -> None:
    """A short Markdown report: the metrics table and a few graded responses."""
    from rlsd.evaluate.report import render_eval_markdown

    path.write_text(render_eval_markdown(f"Evaluation of `{policy_ref}`", metrics, None, samples,
                                         shown=shown, embed_images=False))


def _prompt_text(row: Mapping[str, Any]) -> str:
    if row.get("prompt"):
        return str(row["prompt"])
    users = [m["content"] for m in row.get("messages") or [] if m.get("role") == "user"]
    return users[-1] if users else ""


def write_evaluation(output_dir: str | Path, title: str, samples: Sequence[Mapping[str, Any]],
                     k_values: Sequence[int], extra: Mapping[str, float] | None = None,
                     prompt_rows: Sequence[Mapping[str, Any]] | None = None) -> dict[str, float]:
    """Aggregate ``samples`` and write the evaluation folder (see the module docstring).

    Returns the flat metrics written to ``metrics.json`` (``extra`` values, e.g. seconds, added).
    """
    from rlsd.evaluate.report import write_eval_reports

    metrics = aggregate(samples, k_values)
    parts = breakdown(samples, k_values, aggregate)
    metrics.update(per_benchmark_metrics(parts["benchmarks"]))
    metrics.update(extra or {})
    prompts = {r["id"]: _prompt_text(r) for r in prompt_rows} if prompt_rows else None
    items = item_results(samples, k_values, prompts)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(list(samples), indent=1))
    (out / "items.json").write_text(json.dumps(items, indent=1))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    (out / "breakdown.json").write_text(json.dumps(parts, indent=1))
    write_eval_reports(out, title, metrics, parts, samples)
    return metrics


def sample_and_score(
    model: Any,
    processor: Any,
    rows: Sequence[Mapping[str, Any]],
    config: EvalConfig,
    verify_config: VerifyConfig | None = None,
) -> list[dict[str, Any]]:
    """Sample ``config.samples_per_prompt`` responses per row from a loaded ``model`` (the
    rollout stage's sampler, greedy at temperature 0) and grade them (:func:`score_samples`).

    The evaluation CLI and the fused loop's periodic held-out evaluation both call this, so
    an accuracy curve during training and a final evaluation measure the same thing.
    """
    from rlsd.rollout import RolloutConfig, generate_rollouts

    if not rows:
        return []
    rollouts = generate_rollouts(model, processor, rows, RolloutConfig(
        samples_per_prompt=config.samples_per_prompt, temperature=config.temperature,
        top_p=config.top_p, max_new_tokens=config.max_new_tokens, seed=config.seed,
        batch_size=config.batch_size))
    return score_samples(rollouts, {r["id"]: r for r in rows}, verify_config)


def evaluate_rows(
    policy_ref: str,
    rows: Sequence[Mapping[str, Any]],
    output_dir: str,
    config: EvalConfig,
    verify_config: VerifyConfig | None = None,
    title: str | None = None,
) -> dict[str, float]:
    """Sample ``config.samples_per_prompt`` responses for every prompt row, grade them, and
    write the evaluation folder; returns the flat metrics."""
    from rlsd.models import load_policy, resolve_model

    config.validate()
    model, processor = load_policy(resolve_model(policy_ref))
    started = time.perf_counter()
    samples = sample_and_score(model, processor, rows, config, verify_config)
    return write_evaluation(output_dir, title or f"Evaluation of `{policy_ref}`", samples,
                            config.k_values, {"seconds": time.perf_counter() - started}, rows)


def run_evaluation(
    policy_ref: str,
    prompts_uri: str,
    output_dir: str,
    config: EvalConfig,
    verify_config: VerifyConfig | None = None,
) -> dict[str, float]:
    """Sample, grade and aggregate a prompt table; write the evaluation folder."""
    from rlsd.rollout.run import read_prompt_rows

    config.validate()
    rows = read_prompt_rows(prompts_uri)
    if config.max_prompts is not None:
        rows = rows[: config.max_prompts]
    return evaluate_rows(policy_ref, rows, output_dir, config, verify_config)


def benchmark_rows(benchmarks: Sequence[str], sources: Mapping[str, str] | None = None,
                   max_items: int | None = None) -> list[dict[str, Any]]:
    """The prompt rows of several benchmark presets, one after another (ids are
    ``<benchmark>/...``, so they never collide). ``sources`` maps a benchmark name to its
    parquet export / ``hf:`` location; the others load from the hub."""
    from rlsd.evaluate.presets import BenchmarkError, get_benchmark, load_benchmark
    from rlsd.rollout.selection import check_prompt_rows

    presets = [get_benchmark(b) for b in benchmarks]  # every name checked before any load
    by_name = {get_benchmark(k).name: v for k, v in (sources or {}).items()}
    unused = sorted(set(by_name) - {p.name for p in presets})
    if unused:
        raise BenchmarkError(f"benchmark source(s) given for {unused}, which are not evaluated "
                         f"(benchmarks: {[p.name for p in presets]})")
    rows: list[dict[str, Any]] = []
    for preset in presets:
        rows += load_benchmark(preset.name, by_name.get(preset.name), max_items).to_pylist()
    check_prompt_rows(rows, "benchmarks " + ",".join(p.name for p in presets))
    return rows


def run_benchmark_evaluation(
    policy_ref: str,
    benchmarks: Sequence[str],
    output_dir: str,
    config: EvalConfig,
    sources: Mapping[str, str] | None = None,
    verify_config: VerifyConfig | None = None,
) -> dict[str, float]:
    """Evaluate on benchmark presets (``config.max_prompts``: the first N items of EACH
    benchmark); write the evaluation folder with per-benchmark and per-subject breakdowns."""
    config.validate()
    rows = benchmark_rows(benchmarks, sources, config.max_prompts)
    names = ", ".join(benchmarks)
    return evaluate_rows(policy_ref, rows, output_dir, config, verify_config,
                         title=f"Evaluation of `{policy_ref}` on {names}")
