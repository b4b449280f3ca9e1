"""``python -m rlsd.demo`` (what ``make demo`` runs): one RLSD round on the built-in default.

It runs the stage commands exactly as the README shows them, each in its own process, on
SmolLM2-135M-Instruct and the synthetic arithmetic task:

    data prep -> self-check of the reference answers -> rollout -> verify -> score -> update

and finishes with where everything was written. The update runs under ``torchrun`` with two
processes (gloo on CPU), the same entry point a Kubeflow PyTorchJob runs on a cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path


def _run(title: str, argv: list[str], env: dict[str, str]) -> None:
    print(f"\n== {title}\n$ {shlex.join(argv)}", flush=True)
    started = time.perf_counter()
    result = subprocess.run(argv, env=env)
    if result.returncode != 0:
        sys.exit(f"demo: '{title}' failed with exit code {result.returncode}")
    print(f"({time.perf_counter() - started:.0f} s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsd.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="runs/demo", help="where the demo writes")
    parser.add_argument("--prompts", type=int, default=8, help="prompts in the round")
    parser.add_argument("--samples", type=int, default=4, help="samples per prompt (G)")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--algorithm", default="rlsd")
    parser.add_argument("--nproc", type=int, default=2, help="training processes")
    args = parser.parse_args(argv)

    root = Path(args.root)
    data, round0 = root / "data", root / "round-0"
    py = sys.executable
    env = dict(os.environ)
    env.setdefault("RLSD_NO_PROGRESS", "0")
    train = str(data / "train.parquet")
    rollouts, rewards = str(round0 / "rollouts.parquet"), str(round0 / "rewards.parquet")
    scores, updated = str(round0 / "scores.parquet"), str(round0 / "policy")

    _run("data prep: synthetic arithmetic, level 1",
         [py, "-m", "rlsd.data", "--output", str(data)], env)
    _run("verification self-check: every reference answer passes its own verifier",
         [py, "-m", "rlsd.verify", "--self-check", "--prompts", train,
          "--output", str(data / "self-check.parquet")], env)
    _run("rollout: sample G responses per prompt from the default policy",
         [py, "-m", "rlsd.rollout", "--policy", "default", "--prompts", train,
          "--output", rollouts, "--max-prompts", str(args.prompts),
          "--samples-per-prompt", str(args.samples),
          "--max-new-tokens", str(args.max_new_tokens)], env)
    _run("verify: reward every response",
         [py, "-m", "rlsd.verify", "--prompts", train, "--rollouts", rollouts,
          "--output", rewards], env)
    _run("score: behaviour and self-teacher log-probs of every sampled token",
         [py, "-m", "rlsd.score", "--policy", "default", "--rollouts", rollouts,
          "--prompts", train, "--output", scores, "--algorithm", args.algorithm], env)
    _run(f"update: {args.algorithm} with DeepSpeed under torchrun ({args.nproc} processes)",
         [py, "-m", "torch.distributed.run", "--nproc-per-node", str(args.nproc),
          "--master-port", env.get("RLSD_DEMO_PORT", "29533"), "-m", "rlsd.train",
          "--policy", "default", "--rollouts", rollouts, "--rewards", rewards,
          "--scores", scores, "--output", updated, "--algorithm", args.algorithm], env)

    metrics = [json.loads(line) for line in (Path(updated) / "metrics.jsonl").read_text().splitlines()]
    last = metrics[-1]
    print("\n== done")
    print(f"reward mean {last['reward_mean']:.3f}, loss {last['loss']:.4f}, "
          f"RLSD weight mean {last.get('rlsd_weight_mean', float('nan')):.3f}, "
          f"grad norm {last['grad_norm']:.3f}, step {last['step']}")
    print(f"data:           {data}/ (train.parquet, eval.parquet, rejects.jsonl, summary.json)")
    print(f"round outputs:  {round0}/ (rollouts, rewards, scores)")
    print(f"updated policy: {updated}/ (safetensors model, DeepSpeed state, metrics.jsonl)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
