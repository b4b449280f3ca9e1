"""Evaluate a policy on a prompt set: sample n responses, verify, aggregate.

Sampling reuses the rollout stage (:func:`rlsd.rollout.generate_rollouts`) and grading the
verify stage (:func:`rlsd.verify.verify_batch`, under its time limits), so an evaluation sees
the policy exactly as training does.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from rlsd.evaluate.config import EvalConfig
from rlsd.evaluate.metrics import majority_answer, mean_at_n, pass_at_k
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
    """One result per sampled response: the graded outcome and the extracted answer."""
    verify_config = verify_config or VerifyConfig()
    rows = rollouts.to_pylist()
    items = [VerifyItem(r["response_text"], str(prompt_rows[r["prompt_id"]]["answer"]),
                        prompt_rows[r["prompt_id"]].get("verifier") or None)
             for r in rows]
    graded = verify_batch(items, verify_config)
    out = []
    for r, item, g in zip(rows, items, graded, strict=True):
        verifier = item.verifier or verify_config.default_verifier
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
    lines = [f"# Evaluation of `{policy_ref}`", "", "| metric | value |", "| --- | --- |"]
    lines += [f"| {k} | {v:.4f} |" for k, v in metrics.items()]
    lines += ["", "## Sample responses", ""]
    for s in list(samples)[:shown]:
        verdict = "correct" if s["correct"] >= 1.0 else "wrong"
        text = s["response_text"].replace("\n", " ")[:400]
        lines += [f"- **{s['prompt_id']}** ({verdict}; gold `{s['gold']}`, "
                  f"answer `{s['answer']}`): {text}"]
    path.write_text("\n".join(lines) + "\n")


def run_evaluation(
    policy_ref: str,
    prompts_uri: str,
    output_dir: str,
    config: EvalConfig,
    verify_config: VerifyConfig | None = None,
) -> dict[str, float]:
    """Sample, grade and aggregate; write results.json, metrics.json and report.md."""
    from rlsd.models import load_policy, resolve_model
    from rlsd.rollout import RolloutConfig, generate_rollouts
    from rlsd.rollout.run import read_prompt_rows

    config.validate()
    rows = read_prompt_rows(prompts_uri)
    if config.max_prompts is not None:
        rows = rows[: config.max_prompts]
    model, processor = load_policy(resolve_model(policy_ref))
    started = time.perf_counter()
    rollouts = generate_rollouts(model, processor, rows, RolloutConfig(
        samples_per_prompt=config.samples_per_prompt, temperature=config.temperature,
        top_p=config.top_p, max_new_tokens=config.max_new_tokens, seed=config.seed,
        batch_size=config.batch_size))
    samples = score_samples(rollouts, {r["id"]: r for r in rows}, verify_config)
    metrics = aggregate(samples, config.k_values)
    metrics["seconds"] = time.perf_counter() - started
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(samples, indent=1))
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    write_report(out / "report.md", policy_ref, metrics, samples)
    return metrics
