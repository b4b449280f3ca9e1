"""The cost of one round of GRPO, RLSD and OPD on the same batch, stage by stage.

    .venv/bin/python bench/step_cost.py                    # 8 prompts x 4 samples x 64 tokens
    .venv/bin/python bench/step_cost.py --prompts 16 --max-new-tokens 128 --repeats 2

Each algorithm runs a whole round the way the pipeline runs it: every stage its own process
(``python -m rlsd.rollout``, ``rlsd.verify``, ``rlsd.score``, and ``rlsd.train`` under
``torchrun`` with 2 processes), on the built-in default policy (SmolLM2-135M-Instruct) and
the synthetic task, with the same prompts and seeds. GRPO has no score stage; RLSD scores
with the policy as its own teacher (reference answer in the prompt); OPD scores with a
separate teacher about 4x the student's size (randomly initialised: cost does not depend on
the weights). With one optimizer step per round scoring runs only the teacher pass, as the
pipeline does; ``rlsd+behaviour`` adds the behaviour pass that several steps per round need. Per stage it records wall time, peak memory of the stage's largest process,
and the stage's own phases (rlsd.phases), so the round splits into compute and orchestration
(process start, imports, model load, artifact I/O).

Prints the stage table, then RLSD/GRPO and OPD/RLSD for round wall time, compute and peak
memory, and writes bench/results/step_cost.json.

``--mode fused`` (or ``both``) runs the same batch in the fused loop instead (``python -m
rlsd.loop`` under ``torchrun`` with 2 processes, the policy resident across rounds): GRPO
over ``--rounds`` rounds with one checkpoint at the end (orchestration share of the job's
wall time), RLSD with the live policy as teacher (K = 0) and with a frozen snapshot (K = 20),
and GRPO and RLSD again at ``--long-tokens`` new tokens. A fused round's time is the median
``round_s`` of its rounds after the first (generation, grading, teacher pass and update). When
``trl`` is installed (the ``bench`` extra), TRL's ``GRPOTrainer`` runs the 64-token batch in
the same benchmark run (``bench/peer_trl.py``) and the ratio to its median step is printed.
Writes bench/results/fused_cost.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import describe  # noqa: E402
from bench.scaled_models import ensure_random_model, parameter_count, student_dir  # noqa: E402
from bench.stage_runner import StageCost, run_stage  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
#: A variant name is the algorithm, optionally with "+behaviour": scoring also runs the
#: behaviour pass (what a round with several optimizer steps needs; the pipeline skips it at
#: one step per round, as here).
ALGORITHMS = ("grpo", "rlsd", "opd", "rlsd+behaviour")


def round_stages(algorithm: str, work: Path, prompts: Path, args: argparse.Namespace,
                 teacher: Path | None) -> list[tuple[str, list[str]]]:
    """The stage commands of one round of ``algorithm``, as the pipeline runs them."""
    py = sys.executable
    d = work / algorithm.replace("+", "-")
    algorithm, _, extra = algorithm.partition("+")
    rollouts, rewards, scores = d / "rollouts.parquet", d / "rewards.parquet", d / "scores.parquet"
    stages = [
        ("rollout", [py, "-m", "rlsd.rollout", "--policy", "default", "--prompts", str(prompts),
                     "--output", str(rollouts), "--max-prompts", str(args.prompts),
                     "--samples-per-prompt", str(args.samples),
                     "--max-new-tokens", str(args.max_new_tokens), "--seed", "0"]),
        ("verify", [py, "-m", "rlsd.verify", "--prompts", str(prompts), "--rollouts",
                    str(rollouts), "--output", str(rewards)]),
    ]
    train = [py, "-m", "torch.distributed.run", "--nproc-per-node", str(args.nproc),
             "--master-port", str(args.port), "-m", "rlsd.train", "--policy", "default",
             "--rollouts", str(rollouts), "--rewards", str(rewards), "--prompts", str(prompts),
             "--output", str(d / "policy"), "--algorithm", algorithm]
    if algorithm != "grpo":
        score = [py, "-m", "rlsd.score", "--policy", "default", "--rollouts", str(rollouts),
                 "--prompts", str(prompts), "--output", str(scores), "--algorithm", algorithm]
        if algorithm == "opd":
            score += ["--teacher", str(teacher)]
        score += ["--set", f"behaviour_logprobs={extra == 'behaviour'}"]
        stages.append(("score", score))
        train += ["--scores", str(scores)]
    stages.append(("update", train))
    return stages


def summarize(costs: list[StageCost]) -> dict:
    wall = sum(c.wall_s for c in costs)
    compute = sum(c.compute_s for c in costs)
    by_stage = {c.stage: c for c in costs}
    return {
        "round_wall_s": wall, "compute_s": compute, "orchestration_s": wall - compute,
        "orchestration_share": (wall - compute) / wall if wall else 0.0,
        "round_peak_rss_mb": max(c.peak_rss_mb for c in costs),
        "train_peak_rss_mb": by_stage["update"].peak_rss_mb,
        "stage_share": {c.stage: c.wall_s / wall for c in costs},
        "stages": [c.as_dict() for c in costs],
    }


def mean_summary(runs: list[dict]) -> dict:
    """Averages over repeats (peaks: the max)."""
    if len(runs) == 1:
        return runs[0]
    out = dict(runs[-1])
    for key in ("round_wall_s", "compute_s", "orchestration_s"):
        out[key] = sum(r[key] for r in runs) / len(runs)
    out["orchestration_share"] = out["orchestration_s"] / out["round_wall_s"]
    for key in ("round_peak_rss_mb", "train_peak_rss_mb"):
        out[key] = max(r[key] for r in runs)
    out["repeats"] = [{k: r[k] for k in ("round_wall_s", "compute_s")} for r in runs]
    return out


def ratios(s: dict) -> dict:
    def r(a: str, b: str, key: str) -> float | None:
        if a in s and b in s and s[b][key]:
            return s[a][key] / s[b][key]
        return None

    out = {}
    for a, b in (("rlsd", "grpo"), ("opd", "rlsd"), ("rlsd+behaviour", "grpo"),
                 ("rlsd+behaviour", "rlsd")):
        for key in ("round_wall_s", "compute_s", "round_peak_rss_mb", "train_peak_rss_mb"):
            value = r(a, b, key)
            if value is not None:
                out[f"{a}/{b} {key}"] = value
    if "opd" in s and "rlsd" in s:
        score = {a: next(st for st in s[a]["stages"] if st["stage"] == "score") for a in
                 ("opd", "rlsd")}
        out["opd/rlsd score_peak_rss_mb"] = score["opd"]["peak_rss_mb"] / \
            score["rlsd"]["peak_rss_mb"]
        out["opd/rlsd score_wall_s"] = score["opd"]["wall_s"] / score["rlsd"]["wall_s"]
    return out


def print_table(summaries: dict) -> None:
    print("\nstage rows: the last repeat; ROUND rows: the mean over repeats")
    print(f"{'algorithm':<15} {'stage':<8} {'wall s':>8} {'compute s':>10} {'share':>6} "
          f"{'peak MiB':>9}")
    for algo, s in summaries.items():
        for st in s["stages"]:
            print(f"{algo:<15} {st['stage']:<8} {st['wall_s']:>8.1f} {st['compute_s']:>10.1f} "
                  f"{s['stage_share'][st['stage']]:>6.1%} {st['peak_rss_mb']:>9.0f}")
        print(f"{algo:<15} {'ROUND':<8} {s['round_wall_s']:>8.1f} {s['compute_s']:>10.1f} "
              f"{'':>6} {s['round_peak_rss_mb']:>9.0f}   orchestration "
              f"{s['orchestration_share']:.1%}")


#: Fused variants: (name, algorithm, teacher refresh K, new tokens: "short" or "long", rounds:
#: "all" = --rounds, else --long-rounds).
FUSED_VARIANTS = (
    ("grpo", "grpo", 0, "short", "all"),
    ("rlsd", "rlsd", 0, "short", "short"),
    ("rlsd-k20", "rlsd", 20, "short", "short"),
    ("grpo-long", "grpo", 0, "long", "short"),
    ("rlsd-long", "rlsd", 0, "long", "short"),
)


def fused_command(name: str, algorithm: str, k: int, tokens: int, rounds: int, work: Path,
                  prompts: Path, args: argparse.Namespace) -> list[str]:
    """``torchrun -m rlsd.loop`` for one fused variant (one checkpoint, after the last round)."""
    return [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(args.nproc),
            "--master-port", str(args.port), "-m", "rlsd.loop", "--policy", "default",
            "--prompts", str(prompts), "--output", str(work / "fused" / name),
            "--rounds", str(rounds), "--save-every", str(rounds),
            "--prompts-per-round", str(args.prompts), "--algorithm", algorithm,
            "--set", f"algorithm.teacher_refresh_rounds={k}",
            "--set", f"rollout.samples_per_prompt={args.samples}",
            "--set", f"rollout.max_new_tokens={tokens}", "--set", "rollout.seed=0",
            "--set", "train.tensorboard=false"]


def fused_summary(cost: StageCost, output: Path, rounds: int) -> dict:
    """A fused job's wall time split into compute and orchestration, and its rounds' times."""
    final = output / f"round-{rounds - 1:04d}" / "metrics_history.jsonl"
    records = [json.loads(line) for line in final.read_text().splitlines() if line.strip()]
    round_s = [r["round_s"] for r in records if "round_s" in r]
    steady = round_s[1:] or round_s
    later = records[1:] or records
    parts = sorted({k for r in later for k in r if k.startswith("time_")})
    profile = {k[len("time_"):-len("_s")]: statistics.median(r.get(k, 0.0) for r in later)
               for k in parts}
    return {
        "profile_median_s": profile,
        "rounds": rounds, "job_wall_s": cost.wall_s, "compute_s": cost.compute_s,
        "orchestration_s": cost.overhead_s,
        "orchestration_share": cost.overhead_s / cost.wall_s if cost.wall_s else 0.0,
        "phases_s": cost.phases_s, "peak_rss_mb": cost.peak_rss_mb,
        "round_s": round_s, "median_round_s": statistics.median(steady) if steady else None,
    }


def run_peer(prompts: Path, args: argparse.Namespace, env: dict[str, str], work: Path
             ) -> dict | None:
    """TRL's GRPOTrainer on the short batch, when trl is installed (else None)."""
    if importlib.util.find_spec("trl") is None:
        print("== peer: trl is not installed (pip install -e '.[bench]'); no peer ratio")
        return None
    print("== peer: TRL GRPOTrainer", flush=True)
    log = work / "logs" / "peer_trl.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    out = work / "peer_trl.json"
    with log.open("w") as handle:
        code = subprocess.run([sys.executable, str(REPO / "bench" / "peer_trl.py"),
                               "--prompts-table", str(prompts), "--steps", str(args.peer_steps),
                               "--prompts", str(args.prompts), "--generations", str(args.samples),
                               "--max-new-tokens", str(args.max_new_tokens),
                               "--output", str(out)], env=env, stdout=handle,
                              stderr=subprocess.STDOUT).returncode
    if code != 0:
        sys.exit(f"peer_trl failed ({code}); log {log}:\n{log.read_text()[-3000:]}")
    peer = json.loads(out.read_text())
    print(f"  trl: median step {peer['median_step_s']:.1f} s, peak {peer['peak_rss_mb']:.0f} MiB")
    return peer


def run_fused(args: argparse.Namespace, env: dict[str, str], work: Path, prompts: Path) -> dict:
    """Every fused variant, then the peer; the ratios the issue asks for."""
    variants: dict[str, dict] = {}
    for name, algorithm, k, length, span in FUSED_VARIANTS:
        tokens = args.max_new_tokens if length == "short" else args.long_tokens
        rounds = args.rounds if span == "all" else args.short_rounds
        print(f"== fused {name}: {rounds} rounds of {algorithm} (K={k}), {tokens} tokens",
              flush=True)
        cost = run_stage("fused", fused_command(name, algorithm, k, tokens, rounds, work,
                                                prompts, args), env, work / "logs" / name)
        variants[name] = fused_summary(cost, work / "fused" / name, rounds)
        variants[name].update({"algorithm": algorithm, "teacher_refresh_rounds": k,
                               "max_new_tokens": tokens})
        shutil.rmtree(work / "fused" / name, ignore_errors=True)
    peer = run_peer(prompts, args, env, work)
    v = variants

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    ratios = {
        "fused grpo orchestration share": v["grpo"]["orchestration_share"],
        "fused rlsd/grpo round (short)": ratio(v["rlsd"]["median_round_s"],
                                               v["grpo"]["median_round_s"]),
        "fused rlsd/grpo round (long)": ratio(v["rlsd-long"]["median_round_s"],
                                              v["grpo-long"]["median_round_s"]),
        "fused rlsd/grpo peak memory (K=0)": ratio(v["rlsd"]["peak_rss_mb"],
                                                   v["grpo"]["peak_rss_mb"]),
        "fused rlsd K=20/grpo peak memory": ratio(v["rlsd-k20"]["peak_rss_mb"],
                                                  v["grpo"]["peak_rss_mb"]),
    }
    if peer is not None:
        ratios["fused grpo round / trl step"] = ratio(v["grpo"]["median_round_s"],
                                                      peer["median_step_s"])
        ratios["fused grpo / trl peak memory"] = ratio(v["grpo"]["peak_rss_mb"],
                                                      peer["peak_rss_mb"])
    return {"variants": variants, "peer_trl": peer, "ratios": ratios}


def print_fused(result: dict) -> None:
    print(f"\n{'variant':<10} {'rounds':>6} {'job s':>8} {'orch.':>6} {'round s':>8} "
          f"{'peak MiB':>9}")
    for name, v in result["variants"].items():
        profile = ", ".join(f"{k} {t:.1f}" for k, t in v["profile_median_s"].items())
        print(f"{name:<10} {v['rounds']:>6} {v['job_wall_s']:>8.1f} "
              f"{v['orchestration_share']:>6.1%} {v['median_round_s'] or 0:>8.1f} "
              f"{v['peak_rss_mb']:>9.0f}   {profile}")
    if result["peer_trl"]:
        p = result["peer_trl"]
        print(f"{'trl':<10} {p['steps']:>6} {'':>8} {'':>6} {p['median_step_s']:>8.1f} "
              f"{p['peak_rss_mb']:>9.0f}")
    print()
    for key, value in result["ratios"].items():
        print(f"{key:<40} {'n/a' if value is None else f'{value:.3f}'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompts", type=int, default=8)
    parser.add_argument("--samples", type=int, default=4, help="G")
    parser.add_argument("--max-new-tokens", type=int, default=64)
    parser.add_argument("--nproc", type=int, default=2, help="training processes")
    parser.add_argument("--repeats", type=int, default=1, help="rounds per algorithm")
    parser.add_argument("--algorithms", default=",".join(ALGORITHMS))
    parser.add_argument("--work", default=str(REPO / ".cache" / "bench" / "step_cost"))
    parser.add_argument("--port", type=int, default=29561)
    parser.add_argument("--output", default=None,
                        help="result JSON (default: bench/results/step_cost.json or "
                             "fused_cost.json by mode)")
    parser.add_argument("--mode", choices=("staged", "fused", "both"), default="staged")
    parser.add_argument("--rounds", type=int, default=10,
                        help="fused: rounds of the GRPO job whose orchestration share counts")
    parser.add_argument("--short-rounds", type=int, default=4,
                        help="fused: rounds of every other variant")
    parser.add_argument("--long-tokens", type=int, default=256)
    parser.add_argument("--peer-steps", type=int, default=4, help="TRL steps (first: warm-up)")
    args = parser.parse_args(argv)
    algorithms = [a.strip() for a in args.algorithms.split(",") if a.strip()]
    unknown = sorted(set(algorithms) - set(ALGORITHMS))
    if unknown:
        parser.error(f"unknown algorithm(s) {unknown}; choose from {list(ALGORITHMS)}")

    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.update({"TQDM_DISABLE": "1", "RLSD_NO_PROGRESS": "1"})
    work = Path(args.work)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    print("== setup (not timed): data, default model, OPD teacher", flush=True)
    subprocess.run([sys.executable, "-m", "rlsd.data", "--output", str(work / "data")], env=env,
                   check=True, stdout=subprocess.DEVNULL)
    prompts = work / "data" / "train.parquet"
    if args.mode in ("fused", "both"):
        student_dir()  # the default model converted before anything is timed
        fused = {"benchmark": "fused_cost", "machine": describe(),
                 "batch": {"prompts": args.prompts, "samples_per_prompt": args.samples,
                           "max_new_tokens": args.max_new_tokens,
                           "long_tokens": args.long_tokens, "train_processes": args.nproc},
                 **run_fused(args, env, work, prompts)}
        target = Path(args.output or RESULTS / "fused_cost.json") if args.mode == "fused" \
            else RESULTS / "fused_cost.json"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(fused, indent=1))
        print_fused(fused)
        print(f"results: {target}")
        if args.mode == "fused":
            return 0
    student = student_dir()
    teacher = ensure_random_model("teacher-4x") if "opd" in algorithms else None
    sizes = {"student_params": parameter_count(student)}
    if teacher is not None:
        sizes["teacher_params"] = parameter_count(teacher)
        sizes["teacher/student"] = sizes["teacher_params"] / sizes["student_params"]
    print(f"   {sizes}")

    runs: dict[str, list[dict]] = {a: [] for a in algorithms}
    for rep in range(args.repeats):
        for algo in algorithms:  # interleaved, so drift on the machine hits all alike
            print(f"== {algo} round (repeat {rep + 1}/{args.repeats})", flush=True)
            costs = [run_stage(stage, argv, env, work / "logs" / f"{algo}-{rep}")
                     for stage, argv in round_stages(algo, work, prompts, args, teacher)]
            runs[algo].append(summarize(costs))
            shutil.rmtree(work / algo.replace("+", "-") / "policy",
                          ignore_errors=True)  # 2.7 GB each
    summaries = {a: mean_summary(r) for a, r in runs.items()}
    result = {
        "benchmark": "step_cost", "machine": describe(),
        "batch": {"prompts": args.prompts, "samples_per_prompt": args.samples,
                  "max_new_tokens": args.max_new_tokens, "train_processes": args.nproc,
                  "repeats": args.repeats},
        "models": sizes, "algorithms": summaries, "ratios": ratios(summaries),
    }
    output = Path(args.output or RESULTS / "step_cost.json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=1))
    print_table(summaries)
    print()
    for key, value in result["ratios"].items():
        print(f"{key:<34} {value:.3f}")
    print(f"results: {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
