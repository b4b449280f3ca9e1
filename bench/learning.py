"""The learning experiment: does RLSD learn, and faster than GRPO, on the built-in default?

R rounds of GRPO and of RLSD from the same start (SmolLM2-135M-Instruct), with the same seeds
and the same prompts per round, on the synthetic arithmetic task; held-out greedy accuracy
after every round. Writes ``bench/results/learning.json`` and ``learning.png`` and prints, as
its last line, both final accuracies and how many rounds RLSD needed to reach GRPO's final
accuracy.

Each round runs the library's stage functions in one process (a "fused" loop: no process
start, model load or checkpoint round trip per round) with exactly the trainer's loss
(``rlsd.train.loss``) and micro-batching (``rlsd.train.plan``); the optimizer is torch's AdamW
on one process instead of DeepSpeed's, which does not change the math on one rank.

    .venv/bin/python bench/learning.py              # about an hour on 2 CPU cores
    .venv/bin/python bench/learning.py --rounds 2 --prompts 2 --eval-prompts 4   # smoke run

This is a benchmark, run by hand; it is not part of ``make test``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import sys
import time
from pathlib import Path

import pyarrow as pa
import torch

from rlsd.algorithms import AlgorithmConfig
from rlsd.data import DataConfig, prepare
from rlsd.models import load_policy, resolve_model
from rlsd.rollout import RolloutConfig, generate_rollouts
from rlsd.score import ScoreConfig, score_rollouts
from rlsd.train.loss import make_micro_batch, micro_batch_loss
from rlsd.train.plan import plan_round
from rlsd.train.samples import build_round_data
from rlsd.verify import VerifyConfig, verify_batch
from rlsd.verify.tables import rewards_table, rollout_items

RESULTS = Path(__file__).resolve().parent / "results"


def rewards_of(rollouts: pa.Table, rows: dict, verify: VerifyConfig) -> pa.Table:
    """The verify stage's own join and rewards table, in process."""
    keys, items = rollout_items(rollouts, pa.Table.from_pylist(list(rows.values())), verify)
    return rewards_table(keys, verify_batch(items, verify))


def held_out_accuracy(model, tokenizer, rows: list[dict], args, verify: VerifyConfig) -> float:
    model.eval()
    rollouts = generate_rollouts(model, tokenizer, rows, RolloutConfig(
        samples_per_prompt=1, temperature=0.0, max_new_tokens=args.max_new_tokens,
        batch_size=64))
    table = rewards_of(rollouts, {r["id"]: r for r in rows}, verify)
    return sum(table["accuracy"].to_pylist()) / table.num_rows


def train_step(model, tokenizer, optimizer, data, algo, step: int, args) -> dict:
    """One optimizer step on the round's samples: the trainer's loss, on one rank."""
    model.train()
    plan = plan_round(data.samples, 1, 1, 0, args.micro_batch_tokens, args.seed + step)
    (step_plan,) = plan.steps
    optimizer.zero_grad(set_to_none=True)
    lam = algo.lam_at(step)
    for indices in step_plan.micro_batches:
        mb = make_micro_batch([data.samples[i] for i in indices], tokenizer.pad_token_id)
        loss, _ = micro_batch_loss(model, mb, algo, lam, num_tokens=max(1, step_plan.global_tokens))
        loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()
    return {"lambda": lam, "grad_norm": float(grad_norm)}


def run(algorithm: str, base_dir: Path, train_rows, eval_rows, base_accuracy, args) -> dict:
    torch.manual_seed(args.seed)
    model, tokenizer = load_policy(base_dir, dtype="float32", device="cpu")
    model.requires_grad_(True)
    # The frozen self-teacher (design.md): refreshed every K rounds; K > R keeps the base.
    teacher = copy.deepcopy(model).eval().requires_grad_(False)
    algo = AlgorithmConfig(algorithm=algorithm)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    verify = VerifyConfig(default_verifier="numeric")
    history = [{"round": 0, "eval_accuracy": base_accuracy}]
    for r in range(args.rounds):
        started = time.perf_counter()
        if algo.teacher_refresh_rounds and r % algo.teacher_refresh_rounds == 0 and r:
            teacher.load_state_dict(model.state_dict())
        # The same prompts for both algorithms; the pool wraps around after an epoch.
        rows = [train_rows[(r * args.prompts + i) % len(train_rows)] for i in range(args.prompts)]
        by_id = {row["id"]: row for row in rows}
        model.eval()
        rollouts = generate_rollouts(model, tokenizer, rows, RolloutConfig(
            samples_per_prompt=args.samples, temperature=1.0,
            max_new_tokens=args.max_new_tokens, seed=args.seed + r, batch_size=64), policy_step=r)
        rewards = rewards_of(rollouts, by_id, verify)
        # GRPO needs no scoring: one step per batch is on-policy (π_old = π_θ, detached).
        scores = score_rollouts(model, tokenizer, rollouts, by_id, ScoreConfig(), teacher=teacher,
                                progress=False) if algo.needs_teacher else None
        data = build_round_data(rollouts, rewards, scores, algo)
        stats = train_step(model, tokenizer, optimizer, data, algo, r, args)
        accuracy = held_out_accuracy(model, tokenizer, eval_rows, args, verify)
        record = {"round": r + 1, "eval_accuracy": accuracy, "train_reward": data.reward_mean,
                  "train_accuracy": data.accuracy_mean,
                  "zero_advantage_groups": data.zero_advantage_group_fraction,
                  "seconds": time.perf_counter() - started, **stats}
        history.append(record)
        print(f"[{algorithm}] round {r + 1}/{args.rounds}: held-out accuracy {accuracy:.3f}, "
              f"train reward {data.reward_mean:.3f} ({record['seconds']:.0f} s)", flush=True)
    return {"algorithm": algorithm, "history": history}


def rounds_to_reach(history: list[dict], target: float) -> int | None:
    """The first trained round (>= 1) whose held-out accuracy reaches ``target``."""
    return next((h["round"] for h in history if h["round"] >= 1 and h["eval_accuracy"] >= target),
                None)


def plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for run_ in results["runs"]:
        h = run_["history"]
        ax.plot([x["round"] for x in h], [x["eval_accuracy"] for x in h], marker="o",
                label=run_["algorithm"].upper())
    ax.set_xlabel("round (one optimizer step each)")
    ax.set_ylabel("held-out greedy accuracy")
    ax.set_title("SmolLM2-135M-Instruct, synthetic arithmetic")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--prompts", type=int, default=8, help="prompts per round")
    parser.add_argument("--samples", type=int, default=4, help="samples per prompt (G)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--eval-prompts", type=int, default=24)
    parser.add_argument("--pool", type=int, default=100, help="synthetic problems in all")
    parser.add_argument("--difficulty", type=int, default=1)
    parser.add_argument("--lr", type=float, default=5e-6)
    parser.add_argument("--micro-batch-tokens", type=int, default=4096)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    random.seed(args.seed)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    # Level 1 has 100 distinct problems: held-out prompts are never trained on.
    prepared = prepare(DataConfig(synthetic_n=args.pool, synthetic_difficulty=args.difficulty,
                                  seed=args.seed, n_eval=args.eval_prompts))
    train_rows, eval_rows = prepared.train.to_pylist(), prepared.eval.to_pylist()
    base_dir = resolve_model("default")
    model, tokenizer = load_policy(base_dir, dtype="float32", device="cpu")
    verify = VerifyConfig(default_verifier="numeric")
    base_accuracy = held_out_accuracy(model, tokenizer, eval_rows, args, verify)
    del model
    print(f"base model held-out accuracy {base_accuracy:.3f}", flush=True)

    started = time.perf_counter()
    runs = [run(a, base_dir, train_rows, eval_rows, base_accuracy, args) for a in ("grpo", "rlsd")]
    results = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
               "model": "SmolLM2-135M-Instruct", "task": f"synthetic arithmetic, level {args.difficulty}",
               "seconds": time.perf_counter() - started, "runs": runs}
    grpo, rlsd = (r["history"] for r in runs)
    target = grpo[-1]["eval_accuracy"]
    reached = rounds_to_reach(rlsd, target)
    results["summary"] = {"grpo_final": target, "rlsd_final": rlsd[-1]["eval_accuracy"],
                          "rlsd_rounds_to_grpo_final": reached}
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "learning.json").write_text(json.dumps(results, indent=2))
    plot(results, args.output / "learning.png")
    print(f"final held-out accuracy: GRPO {target:.3f}, RLSD {rlsd[-1]['eval_accuracy']:.3f}; "
          f"RLSD reached GRPO's final accuracy after "
          f"{reached if reached is not None else 'no'} of {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    sys.exit(main())
