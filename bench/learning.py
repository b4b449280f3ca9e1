"""The learning benchmark: does training make the built-in model better, and RLSD faster?

GRPO and RLSD on the fused loop (``python -m rlsd.loop`` under ``torchrun``, the product's own
path), from the same start (the built-in default, SmolLM2-135M-Instruct) with the same data, the
built-in profile ``smollm2-arithmetic`` (:mod:`rlsd.profiles`) and the paper's algorithm
defaults, over several seeds. Every run evaluates held-out greedy accuracy on the profile's
held-out prompts (128) before its first step and every ``--eval-every`` steps (the loop's own
``--eval-prompts``). A seed fixes the sampling and the trainer's seed; both algorithms see the
same prompts in the same order. With ``--trl`` (and ``trl`` installed) TRL's ``GRPOTrainer``
runs the same profile in the same run (``bench/peer_trl.py --learning``) as a side-by-side peer.
With ``--lora`` an arm ``rlsd-lora`` runs RLSD with a LoRA adapter (:data:`LORA_ARM`: rank 16,
alpha 32, at its own learning rate, 10x the profile's full fine-tuning rate, the usual LoRA
practice, fixed before any LoRA run); ``--reuse-results`` takes the other arms' finished runs
from an earlier ``learning.json`` with the same settings instead of running them again.

    .venv/bin/python bench/learning.py                  # 3 seeds x 2 algorithms x 30 rounds
    .venv/bin/python bench/learning.py --steps 2 --seeds 0 --eval-every 1 --eval-prompts 8 \\
        --output /tmp/learning-smoke                    # a smoke run, a few minutes

Writes ``learning.json`` (every evaluation and every step's metrics per run, a ``summary`` and
a ``diagnosis`` of RLSD's token weights, lambda, all-equal groups and the teacher's log-prob
gap over the student's, from the trainer's step metrics) and ``learning.png`` (mean curves with their min-max spread) under ``--output``. A
benchmark, run by hand; not part of ``make test``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
RESULTS = REPO / "bench" / "results"
PROFILE = "smollm2-arithmetic"

#: The peer's measurement quoted by issue 13 (TRL GRPOTrainer, 8 prompts x 4, lr 1e-5, T 0.8,
#: 32 tokens, 64 held-out prompts): the bar our GRPO must clear.
PEER_REFERENCE = {"base": 0.344, "after_30_steps": 0.641, "gain": 0.297}
#: The LoRA arm: RLSD with an adapter. Its learning rate is 10x the profile's (1e-5), chosen
#: before any LoRA run from common LoRA practice (adapters need a larger step than full
#: fine-tuning), never tuned on this benchmark.
LORA_ARM = {"train.lora_rank": 16, "train.lora_alpha": 32, "train.learning_rate": 1e-4}
#: Arm name -> (algorithm, extra --set values).
ARMS = {"grpo": ("grpo", {}), "rlsd": ("rlsd", {}), "rlsd-lora": ("rlsd", LORA_ARM)}


def prepare_data(work: Path) -> tuple[Path, Path]:
    """The profile's data, prepared once by the data stage (train and held-out tables)."""
    from rlsd.data import DataConfig, prepare
    from rlsd.profiles import get_profile
    from rlsd.storage import write_table

    out = work / "data"
    if not (out / "eval.parquet").is_file():
        prepared = prepare(DataConfig(**get_profile(PROFILE).section("data")))
        write_table(prepared.train, str(out / "train.parquet"))
        write_table(prepared.eval, str(out / "eval.parquet"))
    return out / "train.parquet", out / "eval.parquet"


def loop_command(algorithm: str, seed: int, train: Path, held_out: Path, output: Path,
                 args: argparse.Namespace, port: int) -> list[str]:
    """One fused run of arm ``algorithm`` (:data:`ARMS`): the profile, the paper's algorithm
    defaults, one step per round."""
    algorithm, extra = ARMS[algorithm]
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "1",
               "--master-port", str(port), "-m", "rlsd.loop", "--policy", "default",
               "--profile", PROFILE, "--prompts", str(train), "--eval-prompts", str(held_out),
               "--output", str(output), "--rounds", str(args.steps),
               "--save-every", str(args.steps), "--algorithm", algorithm,
               "--set", f"loop.eval_every={args.eval_every}",
               "--set", f"rollout.seed={seed}", "--set", f"train.seed={seed}",
               "--set", "train.tensorboard=false"]
    if args.eval_prompts:
        command += ["--set", f"evaluate.max_prompts={args.eval_prompts}"]
    for key, value in extra.items():
        command += ["--set", f"{key}={value}"]
    return command


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def run_seed(algorithms: list[str], seed: int, train: Path, held_out: Path, work: Path,
             args: argparse.Namespace) -> list[dict]:
    """One fused job per algorithm for one seed: one after another on every core, or side by
    side on one thread each with ``--parallel`` (measured 2.5x slower per round on 2 cores:
    generation is memory-bound). Returns each job's evaluations and step metrics."""
    threads = "1" if args.parallel else str(os.cpu_count() or 1)
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", RLSD_NO_PROGRESS="1",
               OMP_NUM_THREADS=threads)
    jobs, runs = [], []
    for i, algorithm in enumerate(algorithms):
        output = work / f"{algorithm}-seed{seed}"
        done = reuse(algorithm, seed, output, args)
        if done is not None:
            runs.append(done)
            continue
        shutil.rmtree(output, ignore_errors=True)
        log = work / f"{algorithm}-seed{seed}.log"
        command = loop_command(algorithm, seed, train, held_out, output, args, args.port + i)
        handle = log.open("w")
        jobs.append((algorithm, output, log, handle, time.perf_counter(), subprocess.Popen(
            command, cwd=REPO, env=env, stdout=handle, stderr=subprocess.STDOUT)))
        if not args.parallel:  # stop at the first failure; keep each record as it finishes
            runs.append(finish(*jobs.pop(), seed, args))
    runs += [finish(*job, seed, args) for job in jobs]
    return sorted(runs, key=lambda r: algorithms.index(r["algorithm"]))


def finish(algorithm: str, output: Path, log: Path, handle, started: float,
           process: subprocess.Popen, seed: int, args: argparse.Namespace) -> dict:
    """Wait for one job; its record, or SystemExit naming its log when it failed."""
    code = process.wait()
    handle.close()
    if code != 0:
        raise SystemExit(f"{algorithm} seed {seed} failed (exit {code}); see {log}")
    return collect(algorithm, seed, output, time.perf_counter() - started, args)


def run_key(args: argparse.Namespace) -> dict:
    """What a finished run's record must match to be reused by a later invocation."""
    return {"profile": PROFILE, "steps": args.steps, "eval_every": args.eval_every,
            "eval_prompts": args.eval_prompts}


def reuse(algorithm: str, seed: int, output: Path, args: argparse.Namespace) -> dict | None:
    """A run this benchmark finished before with the same settings (its record next to the
    output folder, or its final checkpoint when the benchmark stopped before reading it):
    an interrupted benchmark continues instead of starting over. ``--fresh`` reruns all."""
    if args.fresh:
        return None
    record = output.with_suffix(".json")
    if record.is_file():
        run = json.loads(record.read_text())
        if run.get("key") == run_key(args):
            print(f"   {algorithm} seed {seed}: reusing {record}", flush=True)
            return run
    if (output / f"round-{args.steps - 1:04d}" / "manifest.json").is_file():
        print(f"   {algorithm} seed {seed}: reading its finished job in {output}", flush=True)
        return collect(algorithm, seed, output, None, args)  # its wall time is unknown
    return None


def collect(algorithm: str, seed: int, output: Path, seconds: float | None,
            args: argparse.Namespace) -> dict:
    """A finished job's evaluations and step metrics, kept in ``<output>.json``; then its
    final weights and optimizer state (2.7 GB) are deleted."""
    final = output / f"round-{args.steps - 1:04d}"
    run = {"algorithm": algorithm, "seed": seed, "seconds": seconds, "key": run_key(args),
           "evaluations": read_jsonl(final / "evaluations.jsonl"),
           "steps": read_jsonl(final / "metrics_history.jsonl")}
    output.with_suffix(".json").write_text(json.dumps(run))
    shutil.rmtree(final, ignore_errors=True)
    return run


def run_trl(seed: int, train: Path, held_out: Path, work: Path, args: argparse.Namespace) -> dict:
    """TRL's GRPOTrainer on the same profile, data and evaluation (bench/peer_trl.py)."""
    out = work / f"trl-seed{seed}.json"
    command = [sys.executable, str(REPO / "bench" / "peer_trl.py"), "--learning",
               "--profile", PROFILE, "--prompts-table", str(train), "--eval-table",
               str(held_out), "--steps", str(args.steps), "--eval-every", str(args.eval_every),
               "--seed", str(seed), "--output", str(out)]
    if args.eval_prompts:
        command += ["--eval-prompts", str(args.eval_prompts)]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE", RLSD_NO_PROGRESS="1")
    with (work / f"trl-seed{seed}.log").open("w") as handle:
        code = subprocess.run(command, cwd=REPO, env=env, stdout=handle,
                              stderr=subprocess.STDOUT).returncode
    if code != 0:
        raise SystemExit(f"trl seed {seed} failed (exit {code}); see {work}/trl-seed{seed}.log")
    return json.loads(out.read_text())


def reused_runs(path: Path, args: argparse.Namespace) -> dict[tuple[str, int], dict]:
    """(arm, seed) -> finished run of an earlier benchmark whose settings match these."""
    earlier = json.loads(path.read_text())
    same = earlier.get("profile") == PROFILE and all(
        str(getattr(args, k)) == earlier["settings"].get(k)
        for k in ("steps", "eval_every", "eval_prompts"))
    if not same:
        raise SystemExit(f"{path} ran other settings ({earlier.get('settings')}); cannot reuse")
    print(f"reusing {len(earlier['runs'])} finished run(s) from {path}", flush=True)
    return {(r["algorithm"], r["seed"]): r for r in earlier["runs"]}


def curve(run: dict) -> dict[int, float]:
    """Held-out accuracy by rounds done (0 = the starting policy). A round is one optimizer
    step, except a round whose groups all had equal rewards, which has no update (the loop
    skips it; TRL steps with a zero gradient), so rounds are what all arms share."""
    return {e["round"] + 1: e["accuracy"] for e in run["evaluations"]}


def mean_curve(runs: list[dict]) -> dict[int, dict[str, float]]:
    """Mean, std, min and max over seeds at every evaluated step all runs share."""
    curves = [curve(r) for r in runs]
    steps = sorted(set.intersection(*(set(c) for c in curves)))
    out = {}
    for step in steps:
        values = [c[step] for c in curves]
        out[step] = {"mean": statistics.fmean(values),
                     "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                     "min": min(values), "max": max(values)}
    return out


def steps_to_reach(mean: dict[int, dict[str, float]], target: float) -> int | None:
    """The first evaluated step >= 1 whose mean accuracy reaches ``target``."""
    return next((s for s in sorted(mean) if s >= 1 and mean[s]["mean"] >= target - 1e-12), None)


def diagnosis(runs: list[dict]) -> dict:
    """What RLSD's update saw, averaged over its seeds, early (first third) and late (last)."""
    def avg(values):
        values = [v for v in values if v is not None]
        return statistics.fmean(values) if values else None

    out = {}
    for algorithm in sorted({r["algorithm"] for r in runs} - {"trl"}):
        mine = [r for r in runs if r["algorithm"] == algorithm]
        # A round whose groups all had equal rewards has no update and so no step record.
        skipped = [r["key"]["steps"] - len(r["steps"]) for r in mine if r.get("key")]
        out[algorithm] = {"rounds_without_update_mean": avg(skipped)}
        for part in ("first_third", "last_third"):
            steps = []
            for r in mine:  # each run's own first / last third of its rounds
                total = r["key"]["steps"] if r.get("key") else len(r["steps"])
                third = max(1, total // 3)
                window = range(third) if part == "first_third" else range(total - third, total)
                steps += [s for s in r["steps"] if s["round"] in window]
            entry = {k: avg([s.get(k) for s in steps]) for k in (
                "reward_mean", "zero_advantage_group_fraction", "lambda", "rlsd_weight_mean",
                "rlsd_weight_clip_low", "rlsd_weight_clip_high", "abs_token_advantage",
                "entropy", "clip_frac", "teacher_logprob_gap")}
            out.setdefault(algorithm, {})[part] = entry
    return out


def summarize(runs: list[dict], seeds: list[int], steps: int) -> dict:
    by = {a: [r for r in runs if r["algorithm"] == a] for a in ("grpo", "rlsd", "trl",
                                                                 "rlsd-lora")}
    means = {a: mean_curve(rs) for a, rs in by.items() if rs}
    base = statistics.fmean(curve(r)[0] for r in runs if r["algorithm"] != "trl")

    def finals(algorithm):
        return [curve(r)[max(curve(r))] for r in by[algorithm]]

    grpo, rlsd = finals("grpo"), finals("rlsd")
    summary = {
        "base_accuracy": base,
        "grpo_final_mean": statistics.fmean(grpo),
        "grpo_final_std": statistics.stdev(grpo) if len(grpo) > 1 else 0.0,
        "rlsd_final_mean": statistics.fmean(rlsd),
        "rlsd_final_std": statistics.stdev(rlsd) if len(rlsd) > 1 else 0.0,
        "seeds": seeds, "steps": steps,
        "rlsd_steps_to_grpo_final": steps_to_reach(means["rlsd"], statistics.fmean(grpo)),
        "grpo_gain": statistics.fmean(grpo) - base,
        "peer_reference": PEER_REFERENCE,
        "grpo_finals": grpo, "rlsd_finals": rlsd,
    }
    if by["rlsd-lora"]:
        lora = finals("rlsd-lora")
        summary.update(rlsd_lora_final_mean=statistics.fmean(lora),
                       rlsd_lora_final_std=statistics.stdev(lora) if len(lora) > 1 else 0.0,
                       rlsd_lora_finals=lora, rlsd_lora_seeds=[r["seed"] for r in by["rlsd-lora"]],
                       rlsd_lora_settings=LORA_ARM)
    if by["trl"]:
        trl = finals("trl")
        summary.update(trl_final_mean=statistics.fmean(trl),
                       trl_final_std=statistics.stdev(trl) if len(trl) > 1 else 0.0,
                       trl_base_accuracy=statistics.fmean(r["evaluations"][0]["accuracy"]
                                                          for r in by["trl"]))
    targets = {
        "grpo_gain_at_least_peer": summary["grpo_gain"] >= PEER_REFERENCE["gain"],
        "rlsd_final_at_least_grpo": summary["rlsd_final_mean"] >= summary["grpo_final_mean"],
        "rlsd_reaches_grpo_final_in_half_the_steps": (
            summary["rlsd_steps_to_grpo_final"] is not None
            and summary["rlsd_steps_to_grpo_final"] <= steps / 2),
    }
    return {"summary": summary, "targets": targets,
            "mean_curves": {a: {str(s): v for s, v in m.items()} for a, m in means.items()}}


def plot(result: dict, path: Path) -> None:
    """Mean held-out accuracy per algorithm with its min-max band over seeds."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    colors = {"grpo": "tab:blue", "rlsd": "tab:red", "trl": "tab:gray", "rlsd-lora": "tab:orange"}
    for algorithm, mean in result["mean_curves"].items():
        steps = [int(s) for s in mean]
        values = list(mean.values())
        label = {"trl": "TRL GRPO (peer)", "rlsd-lora": "RLSD + LoRA r16"}.get(
            algorithm, algorithm.upper())
        seeds = len({r["seed"] for r in result["runs"] if r["algorithm"] == algorithm})
        ax.plot(steps, [v["mean"] for v in values], marker="o", color=colors[algorithm],
                label=f"{label} (mean of {seeds} seeds)")
        ax.fill_between(steps, [v["min"] for v in values], [v["max"] for v in values],
                        color=colors[algorithm], alpha=0.15)
    ax.set_xlabel("round (one optimizer step on 4 prompts x 8 samples)")
    ax.set_ylabel("held-out greedy accuracy")
    ax.set_title(f"SmolLM2-135M-Instruct, a + b (profile {PROFILE})", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def write_results(runs: list[dict], seeds: list[int], command: str, started: float,
                  args: argparse.Namespace) -> dict:
    """``learning.json`` and ``learning.png`` for the seeds finished so far."""
    result = {
        "command": command,
        "model": "SmolLM2-135M-Instruct (built-in default, dequantised Q4_1 GGUF)",
        "profile": PROFILE, "settings": {k: str(v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count()}, "seconds": time.perf_counter() - started,
        **summarize(runs, seeds, args.steps), "diagnosis": diagnosis(runs), "runs": runs,
    }
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "learning.json").write_text(json.dumps(result, indent=1))
    plot(result, args.output / "learning.png")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=30, help="optimizer steps (= rounds)")
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument("--eval-prompts", type=int, default=None,
                        help="evaluate on the first N held-out prompts (default: all 128)")
    parser.add_argument("--trl", action="store_true",
                        help="also run TRL's GRPOTrainer on the same profile (needs trl)")
    parser.add_argument("--lora", action="store_true",
                        help="also run the RLSD + LoRA arm (LORA_ARM)")
    parser.add_argument("--reuse-results", type=Path, default=None, metavar="JSON",
                        help="take finished runs of the other arms from this learning.json "
                             "(same profile, steps and evaluation) instead of rerunning them")
    parser.add_argument("--parallel", action="store_true",
                        help="run a seed's jobs side by side, one thread each (default: one "
                             "after another on all cores)")
    parser.add_argument("--fresh", action="store_true",
                        help="rerun every job (default: reuse the finished jobs of an earlier, "
                             "interrupted invocation with the same settings under --work)")
    parser.add_argument("--port", type=int, default=29531)
    parser.add_argument("--work", type=Path, default=REPO / ".cache" / "bench" / "learning")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    args.work.mkdir(parents=True, exist_ok=True)
    train, held_out = prepare_data(args.work)
    started = time.perf_counter()
    runs: list[dict] = []
    command = "python bench/learning.py " + " ".join(argv if argv is not None else sys.argv[1:])
    arms = ["grpo", "rlsd"] + (["rlsd-lora"] if args.lora else []) + (["trl"] if args.trl else [])
    earlier = reused_runs(args.reuse_results, args) if args.reuse_results else {}
    # Seed-major order: every finished seed holds a complete comparison if the run stops.
    for seed in args.seeds:
        print(f"== seed {seed}: {', '.join(arms)}, {args.steps} rounds each", flush=True)
        fresh = [a for a in arms if a != "trl" and (a, seed) not in earlier]
        seed_runs = run_seed(fresh, seed, train, held_out, args.work, args) + [
            earlier[(a, seed)] for a in arms if (a, seed) in earlier]
        if "trl" in arms:
            seed_runs.append(run_trl(seed, train, held_out, args.work, args))
        for run in seed_runs:
            runs.append(run)
            print(f"   {run['algorithm']}: held-out accuracy by round: " + ", ".join(
                f"{s}: {a:.3f}" for s, a in sorted(curve(run).items()))
                + (f" ({run['seconds']:.0f} s)" if run.get("seconds") else ""), flush=True)
        # The results so far after every seed: a stopped benchmark still leaves its seeds.
        result = write_results(runs, args.seeds[:args.seeds.index(seed) + 1], command, started,
                               args)
    s = result["summary"]
    print(json.dumps({"summary": {k: s[k] for k in (
        "base_accuracy", "grpo_final_mean", "grpo_final_std", "rlsd_final_mean",
        "rlsd_final_std", "rlsd_steps_to_grpo_final")}, "targets": result["targets"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
