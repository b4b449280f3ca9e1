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
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
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
    parser.add_argument("--output", default=str(RESULTS / "step_cost.json"))
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
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=1))
    print_table(summaries)
    print()
    for key, value in result["ratios"].items():
        print(f"{key:<34} {value:.3f}")
    print(f"results: {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
