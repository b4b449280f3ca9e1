"""LoRA next to full fine-tuning: peak training memory, step time and checkpoint bytes.

    .venv/bin/python bench/lora.py                     # rank 16, 4 steps, 2 repeats per arm
    .venv/bin/python bench/lora.py --rank 8 --steps 2 --repeats 1

Both arms run the same RLSD update the staged pipeline runs (``python -m rlsd.train`` on one
process, ZeRO-2, fp32 on CPU) on the built-in default policy (SmolLM2-135M-Instruct), with
the same round tables (synthetic token sequences with behaviour and teacher log-probs:
memory and time do not depend on what the tokens say) and the same seeds. The arms alternate
(full, LoRA, full, LoRA, ...) so that drift of the machine hits both; each value is the
median over repeats. Per arm: peak resident memory of the training process (``VmHWM``), the
update's compute time per optimizer step (:mod:`rlsd.phases`), and the checkpoint's bytes
from its manifest: all files, and the optimizer state alone. Prints the table and the
LoRA/full ratios; writes bench/results/lora.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from bench.machine import describe  # noqa: E402
from bench.stage_runner import run_stage  # noqa: E402
from rlsd.schemas import (  # noqa: E402
    REWARD_SCHEMA,
    ROLLOUT_SCHEMA,
    SCORE_SCHEMA,
    response_digest,
)
from rlsd.storage import read_manifest  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"


def write_round(folder: Path, prompts: int, group: int, prompt_len: int, response_len: int,
                vocab: int, seed: int) -> None:
    """Round tables of ``prompts`` x ``group`` responses with half the rewards 1."""
    rng = random.Random(seed)
    rollouts, rewards, scores = [], [], []
    for p in range(prompts):
        prompt = [rng.randrange(100, vocab) for _ in range(prompt_len)]
        for g in range(group):
            resp = [rng.randrange(100, vocab) for _ in range(response_len)]
            reward = float(g % 2)
            rollouts.append(dict(
                prompt_id=f"p{p}", sample_index=g, prompt_token_ids=prompt,
                response_token_ids=resp, response_text="", finish_reason="length",
                prompt_length=prompt_len, response_length=response_len, sampler_logprobs=None,
                response_digest=response_digest(resp), policy_step=0))
            rewards.append(dict(prompt_id=f"p{p}", sample_index=g, reward=reward,
                                accuracy=reward, format=1.0, reason="bench"))
            scores.append(dict(
                prompt_id=f"p{p}", sample_index=g, response_digest=response_digest(resp),
                response_length=response_len,
                old_logprobs=[-rng.uniform(5.0, 9.0) for _ in resp],
                teacher_logprobs=[-rng.uniform(5.0, 9.0) for _ in resp], teacher_step=0))
    folder.mkdir(parents=True, exist_ok=True)
    for name, rows, schema in (("rollouts", rollouts, ROLLOUT_SCHEMA),
                               ("rewards", rewards, REWARD_SCHEMA),
                               ("scores", scores, SCORE_SCHEMA)):
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / f"{name}.parquet")


def checkpoint_bytes(folder: Path) -> dict[str, int]:
    """Bytes of a checkpoint by its manifest: everything, weights, optimizer state."""
    files = {e.path: e.size for e in read_manifest(str(folder)).files}
    return {"total": sum(files.values()),
            "weights": sum(s for p, s in files.items() if p.endswith(".safetensors")
                           and not p.startswith("deepspeed/")),
            "optimizer_state": sum(s for p, s in files.items() if p.startswith("deepspeed/"))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rank", type=int, default=16, help="LoRA rank (default 16)")
    parser.add_argument("--alpha", type=float, default=32.0, help="LoRA alpha (default 32)")
    parser.add_argument("--steps", type=int, default=4, help="optimizer steps per run")
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--response-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--output", default=str(RESULTS / "lora.json"))
    args = parser.parse_args(argv)

    from rlsd.models import ensure_default_model

    policy = ensure_default_model()
    vocab = json.loads((policy / "config.json").read_text())["vocab_size"]
    work = Path(tempfile.mkdtemp(prefix="rlsd-bench-lora-"))
    env = {**os.environ, "RLSD_NO_PROGRESS": "1", "OMP_WAIT_POLICY": "PASSIVE"}
    arms = {"full": [], "lora": [f"--set=lora_rank={args.rank}", f"--set=lora_alpha={args.alpha}"]}
    runs: dict[str, list[dict]] = {arm: [] for arm in arms}
    try:
        write_round(work / "round", args.prompts, args.group, 24, args.response_tokens, vocab,
                    seed=0)
        for repeat in range(args.repeats):
            for arm, extra in arms.items():
                out = work / f"{arm}-{repeat}"
                argv_ = [sys.executable, "-m", "rlsd.train", "--policy", str(policy),
                         "--rollouts", str(work / "round" / "rollouts.parquet"),
                         "--rewards", str(work / "round" / "rewards.parquet"),
                         "--scores", str(work / "round" / "scores.parquet"),
                         "--output", str(out), "--steps-per-round", str(args.steps),
                         "--micro-batch-tokens", "2048", "--set=tensorboard=false", *extra]
                print(f"{arm}, repeat {repeat + 1}/{args.repeats}", flush=True)
                cost = run_stage(f"{arm}-{repeat}", argv_, env, work / "logs")
                runs[arm].append({"peak_rss_mb": cost.peak_rss_mb,
                                  "step_s": cost.compute_s / args.steps,
                                  "wall_s": cost.wall_s, **checkpoint_bytes(out)})
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    summary = {arm: {key: statistics.median(r[key] for r in rs) for key in rs[0]}
               for arm, rs in runs.items()}
    ratios = {key: summary["lora"][key] / summary["full"][key]
              for key in ("peak_rss_mb", "step_s", "total", "optimizer_state")}
    print(f"\n{'':8} {'peak MiB':>10} {'s/step':>8} {'ckpt MB':>10} {'optim MB':>10}")
    for arm, s in summary.items():
        print(f"{arm:8} {s['peak_rss_mb']:10.0f} {s['step_s']:8.2f} {s['total'] / 1e6:10.2f} "
              f"{s['optimizer_state'] / 1e6:10.2f}")
    print("LoRA / full: " + ", ".join(f"{k} {v:.3f}" for k, v in ratios.items()))
    result = {"machine": describe(), "model": "SmolLM2-135M-Instruct (default)",
              "settings": {"lora_rank": args.rank, "lora_alpha": args.alpha,
                           "steps": args.steps, "prompts": args.prompts, "group": args.group,
                           "response_tokens": args.response_tokens, "repeats": args.repeats,
                           "processes": 1, "zero_stage": 2, "precision": "fp32 (CPU)"},
              "runs": runs, "median": summary, "lora_over_full": ratios,
              "command": "python bench/lora.py " + " ".join(argv or sys.argv[1:])}
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
