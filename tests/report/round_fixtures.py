"""A tiny RLSD round (rollouts, rewards, scores in rlsd.schemas) with hand-chosen log-probs,
and per-step metrics records as rlsd.train writes them."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa

from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA, response_digest
from rlsd.storage import write_table

# One prompt, G = 2: sample 0 right (reward 1), sample 1 wrong (reward 0).
# A = (r − mean) / (std + 1e-6) with the unbiased std of [1, 0] = sqrt(0.5):
ADVANTAGE = 0.5 / (0.5 ** 0.5 + 1e-6)  # ≈ +0.7071 for sample 0, −0.7071 for sample 1
OLD = [[-1.0, -1.0, -1.0], [-2.0, -2.0]]
TEACHER = [[0.0, -1.1, -1.0],  # Δ = +1 (clip high: w 1.2), −0.1 (w e^−0.1), 0 (w 1)
           [-1.0, -2.05]]      # A < 0: Δ = +1 → w 0.8 (clip low); Δ = −0.05 → w e^0.05


def round_tables(response_ids: list[list[int]], prompt_id: str = "q1", extra_prompts: int = 0
                 ) -> tuple[pa.Table, pa.Table, pa.Table]:
    """(rollouts, rewards, scores) of the round above; ``extra_prompts`` adds prompts whose two
    samples got equal rewards (A = 0)."""
    rollouts, rewards, scores = [], [], []
    groups = [(prompt_id, [1.0, 0.0], OLD, TEACHER)]
    groups += [(f"z{k}", [1.0, 1.0], OLD, TEACHER) for k in range(extra_prompts)]
    for pid, rs, old, teacher in groups:
        for i, (ids, r) in enumerate(zip(response_ids, rs, strict=True)):
            digest = response_digest(ids)
            rollouts.append({
                "prompt_id": pid, "sample_index": i, "prompt_token_ids": [1, 2, 3],
                "response_token_ids": ids, "response_text": "", "finish_reason": "stop",
                "prompt_length": 3, "response_length": len(ids), "sampler_logprobs": None,
                "response_digest": digest, "policy_step": 0})
            rewards.append({"prompt_id": pid, "sample_index": i, "reward": r, "accuracy": r,
                            "format": 1.0, "reason": "ok"})
            scores.append({"prompt_id": pid, "sample_index": i, "response_digest": digest,
                           "response_length": len(ids), "old_logprobs": old[i],
                           "teacher_logprobs": teacher[i], "teacher_step": 0})
    return (pa.Table.from_pylist(rollouts, schema=ROLLOUT_SCHEMA),
            pa.Table.from_pylist(rewards, schema=REWARD_SCHEMA),
            pa.Table.from_pylist(scores, schema=SCORE_SCHEMA))


def metrics_records(round_index: int, steps: list[int]) -> list[dict]:
    out = []
    for step in steps:
        out.append({
            "step": step, "round": round_index, "lambda": 0.5 - 0.01 * step,
            "reward_mean": 0.3 + 0.05 * step, "accuracy_mean": 0.25 + 0.05 * step,
            "zero_advantage_group_fraction": 0.5, "grad_norm": 1.0 / step, "loss": -0.01 * step,
            "tokens_per_s": 100.0, "learning_rate": 1e-6, "samples": 8, "clip_frac": 0.01,
            "clip_frac_low": 0.004, "clip_frac_high": 0.006, "dual_clip_frac": 0.0,
            "approx_kl": 0.001 * step, "ratio_mean": 1.0, "entropy": 1.2 - 0.05 * step,
            "abs_token_advantage": 0.6, "rlsd_weight_mean": 1.0 + 0.01 * step,
            "rlsd_weight_clip_low": 0.1, "rlsd_weight_clip_high": 0.2})
    return out


def write_run(root: Path, response_ids: list[list[int]]) -> Path:
    """A run folder in the layout of rlsd.report.run_folder: two rounds, tables in both."""
    for r, steps in ((0, [1, 2]), (1, [3, 4, 5])):
        folder = root / f"round-{r}"
        (folder / "policy").mkdir(parents=True)
        (folder / "policy" / "metrics.jsonl").write_text(
            "".join(json.dumps(x) + "\n" for x in metrics_records(r, steps)))
        for name, table in zip(("rollouts", "rewards", "scores"), round_tables(response_ids),
                               strict=True):
            write_table(table, str(folder / f"{name}.parquet"))
    return root
