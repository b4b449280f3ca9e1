"""Where RLSD's token weights come from, measured on the learning benchmark's first round.

In round 0 of an RLSD run the frozen teacher and the student are the same weights; only the
teacher's prompt differs (it carries the reference answer). The gap tau_t - s_t between the
teacher's and the student's log-prob of each sampled token is then the privileged context's
effect alone, which RLSD turns into w_t = clip(exp(sign(A) (tau_t - s_t)), 1 - eps_w,
1 + eps_w) (design.md, "The algorithm"). This script recomputes s_t for that round's
rollouts with the base model (the score stage's behaviour pass), takes tau_t from the round's
scores table, and reports the mean gap per token split by the sample's reward and by whether
the token is part of the reference answer (a token made of digits found in the answer).

    .venv/bin/python bench/learning_gap.py      # after bench/learning.py; under a minute

Reads ``.cache/bench/learning/rlsd-seed<seed>/tables/round-0000`` (kept by the benchmark's
fused jobs) and writes ``bench/results/learning_gap.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def mean(values: list[float]) -> dict:
    return {"mean_gap": sum(values) / len(values) if values else None, "tokens": len(values)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "bench" / "learning")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--eps-w", type=float, default=0.2)
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results")
    args = parser.parse_args(argv)

    import pyarrow.parquet as pq

    from rlsd.models import load_policy, resolve_model
    from rlsd.score import ScoreConfig
    from rlsd.score.scoring import score_rollouts

    rows = {r["id"]: r for r in pq.read_table(args.work / "data" / "train.parquet").to_pylist()}
    model, processor = load_policy(resolve_model("default"), dtype="float32", device="cpu")
    groups: dict[str, list[float]] = {}
    weights: dict[str, list[float]] = {}
    seeds = []
    for seed in args.seeds:
        tables = args.work / f"rlsd-seed{seed}" / "tables" / "round-0000"
        if not (tables / "scores.parquet").is_file():
            continue
        seeds.append(seed)
        rollouts = pq.read_table(tables / "rollouts.parquet")
        reward = {(r["prompt_id"], r["sample_index"]): r["reward"]
                  for r in pq.read_table(tables / "rewards.parquet").to_pylist()}
        teacher = {(r["prompt_id"], r["sample_index"]): r["teacher_logprobs"]
                   for r in pq.read_table(tables / "scores.parquet").to_pylist()}
        # The student's log-probs: the score stage's behaviour pass with the base weights,
        # which are the round-0 policy (no teacher: with_teacher=False).
        student = {(r["prompt_id"], r["sample_index"]): r["old_logprobs"] for r in score_rollouts(
            model, processor, rollouts, rows, ScoreConfig(behaviour_logprobs=True),
            with_teacher=False, progress=False).to_pylist()}
        for r in rollouts.to_pylist():
            key = (r["prompt_id"], r["sample_index"])
            outcome = "correct" if reward[key] > 0 else "wrong"
            gold = str(rows[r["prompt_id"]]["answer"])
            sign = 1.0 if outcome == "correct" else -1.0  # sign(A) within a mixed group
            for token, tau, s in zip(r["response_token_ids"], teacher[key], student[key],
                                     strict=False):
                text = processor.decode([token]).strip()
                part = "answer" if text.isdigit() and text in gold else "other"
                groups.setdefault(f"{outcome}/{part}", []).append(tau - s)
                w = min(max(math.exp(sign * (tau - s)), 1 - args.eps_w), 1 + args.eps_w)
                weights.setdefault(f"{outcome}/{part}", []).append(w)
    result = {"seeds": seeds, "round": 0, "eps_w": args.eps_w,
              "gap_by_outcome_and_token": {k: mean(v) for k, v in sorted(groups.items())},
              "clipped_weight_mean": {k: sum(v) / len(v) for k, v in sorted(weights.items())}}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "learning_gap.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
