"""``python -m pipeline.run_local``: the whole pipeline on this machine with kfp.local.

    python -m pipeline.run_local                  # 2 rounds x 8 prompts x 4 samples x 64 tokens
    python -m pipeline.run_local --small          # 1 round x 2 prompts x 2 samples x 16 tokens
    python -m pipeline.run_local --root runs/kfp --rounds 3 --param learning_rate=1e-5
    python -m pipeline.run_local --mode fused --rounds 4 --rounds-per-job 2   # 2 chained jobs
    python -m pipeline.run_local --mode fused --profile smollm2-arithmetic    # make demo

Every component runs as a subprocess of this Python (``SubprocessRunner(use_venv=False)``) on
the built-in default model (SmolLM2-135M-Instruct) and the synthetic arithmetic task; the
update runs ``torchrun`` with ``--nproc`` processes through :mod:`rlsd.launch`
(``launcher=local``); with ``--mode fused`` each chained fused job runs ``torchrun -m
rlsd.loop`` the same way. kfp.local ignores the Kubernetes settings (secrets, node selectors,
resources); the pipeline is compiled without retries (kfp.local would run them, backoff
included, but nothing here fails for a passing reason). At the end it copies the pipeline's training report to ``<root>/report.html``
(before/after evaluation, training curves, token credit), writes ``<root>/report.md`` (base vs
final policy on the same eval prompts) and prints where everything is.

Parameter values, last wins: the pipeline's defaults (the paper's), this module's demo values
(:data:`FULL_PARAMS`, or :data:`SMALL_PARAMS` with ``--small``), the ``--profile``'s values
(:mod:`pipeline.profile_defaults`: a profile that sets G or the response length sets them
with ``--small`` too), then ``--param``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kfp import local

from pipeline.options import MODES, CompileOptions
from pipeline.params import check_parameters, pipeline_defaults, pipeline_types
from pipeline.pipeline import build_pipeline
from pipeline.profile_defaults import profile_defaults
from pipeline.submit import parse_params
from rlsd.evaluate.html import fmt, fmt_delta
from rlsd.profiles import PROFILES

REPO_ROOT = Path(__file__).resolve().parent.parent

#: Pipeline parameters of the demo (``make demo`` scale: well under 15 minutes on 2 cores). It
#: evaluates up to 64 held-out prompts: with 16, one prompt is 6 points and a gain is noise.
FULL_PARAMS: dict[str, Any] = {
    "model": "default", "data_source": "synthetic", "synthetic_difficulty": 1,
    "synthetic_size": 100, "samples_per_prompt": 4, "prompts_per_round": 8,
    "max_new_tokens": 64, "temperature": 1.0, "eval_samples": 1, "eval_prompts": 64,
    "eval_temperature": 0.0, "launcher": "local", "seed": 0,
}
#: ``--small`` (the test suite's end-to-end run): the same graph, minimal work.
SMALL_PARAMS: dict[str, Any] = {
    **FULL_PARAMS, "samples_per_prompt": 2, "prompts_per_round": 2, "max_new_tokens": 16,
    "eval_prompts": 4,
}


def local_environment(environ: Mapping[str, str], repo_root: Path = REPO_ROOT) -> dict[str, str]:
    """The variables the component subprocesses inherit, with the Makefile's caches as
    defaults (the default model's conversion and DeepSpeed's CPU op are built once)."""
    env = {"RLSD_CACHE": str(repo_root / ".cache" / "rlsd"),
           "TORCH_EXTENSIONS_DIR": str(repo_root / ".cache" / "torch_extensions"),
           "HF_HUB_DISABLE_TELEMETRY": "1",
           # Component output is relayed line by line: progress bars would be noise.
           "TQDM_DISABLE": "1", "RLSD_NO_PROGRESS": "1",
           # OpenMP threads that spin while waiting thrash when the cores are shared (another
           # process, parallel shards): generation measured 20x slower on a busy 2-core
           # machine (16 x 32 tokens: 122 s spinning, 8 s passive). Sleeping waits cost little
           # on an idle machine.
           "OMP_WAIT_POLICY": "PASSIVE"}
    return {**env, **environ}


def numbers(metadata: Mapping[str, Any]) -> dict[str, float]:
    """The numeric entries of an artifact's metadata (kfp.local returns ints as floats)."""
    return {k: float(v) for k, v in metadata.items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def comparison_report(base: Mapping[str, float], final: Mapping[str, float],
                      base_report: str, final_report: str, rounds: int,
                      profile: str = "") -> str:
    """Markdown: one table of every metric for the base and the final policy (4 decimals;
    values too small for them in scientific notation, :func:`rlsd.evaluate.html.fmt`), and
    the training profile the run used, if any."""
    lines = [f"# RLSD local run: base vs final policy ({rounds} round(s))", ""]
    if profile:
        lines += [f"Training profile: `{profile}` (rlsd.profiles).", ""]
    lines += ["| metric | base | final | change |", "| --- | ---: | ---: | ---: |"]
    for key in sorted(set(base) | set(final)):
        b, f = base.get(key), final.get(key)
        change = fmt_delta(f - b) if b is not None and f is not None else ""
        lines.append(f"| {key} | {'' if b is None else fmt(b)} | "
                     f"{'' if f is None else fmt(f)} | {change} |")
    lines += ["", f"- base policy report: `{base_report}`",
              f"- final policy report: `{final_report}`", ""]
    return "\n".join(lines)


def local_params(options: CompileOptions, pipeline_func: Any, small: bool, nproc: int,
                 pairs: Sequence[str] = ()) -> dict[str, Any]:
    """The parameter values of a local run, last wins: the demo's (:data:`FULL_PARAMS`, or
    :data:`SMALL_PARAMS` when ``small``) with ``nproc`` update processes, the profile's
    (``options.profile``), then ``pairs`` (``--param name=value``). The pipeline's defaults
    fill the rest. Raises :class:`ValueError` (one line) on a bad value, an unknown profile or
    a profile setting the pipeline cannot take."""
    params: dict[str, Any] = {**(SMALL_PARAMS if small else FULL_PARAMS),
                              "nproc_per_node": nproc}
    params.update(profile_defaults(options, pipeline_func))
    params.update(parse_params(pairs, pipeline_func, base=params))
    check_parameters({**pipeline_defaults(pipeline_func), **params},
                     pipeline_types(pipeline_func))
    return params


def run(root: Path, rounds: int, params: Mapping[str, Any], options: CompileOptions
        ) -> dict[str, Any]:
    """Run the pipeline with kfp.local under ``root``; returns the outputs' paths and metrics."""
    os.environ.update(local_environment(os.environ))
    # kfp.local says, for every task, that Kubernetes settings are ignored and that the
    # image is not a "python" one: both expected here, and they would bury the stage output.
    warnings.filterwarnings("ignore", message=r".*have no effect in the current local runner")
    warnings.filterwarnings("ignore", message=r".*non-Python base image")
    root.mkdir(parents=True, exist_ok=True)
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root / "kfp"))
    pipeline_func = build_pipeline(options)
    started = time.perf_counter()
    task = pipeline_func(**params)
    seconds = time.perf_counter() - started
    out = task.outputs
    base, final = (numbers(out[f"{label}_metrics"].metadata) for label in ("base", "final"))
    report = root / "report.md"
    report.write_text(comparison_report(base, final, out["base_report"].path,
                                        out["final_report"].path, rounds, options.profile))
    training_report = root / "report.html"
    shutil.copyfile(out["training_report"].path, training_report)
    return {"seconds": seconds, "report": str(report), "training_report": str(training_report),
            "base_metrics": base,
            "final_metrics": final, "base_report": out["base_report"].path,
            "final_report": out["final_report"].path}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.run_local", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="runs/kfp-local", help="where the run writes")
    parser.add_argument("--rounds", type=int, help="rounds (default: 2, or 1 with --small)")
    parser.add_argument("--small", action="store_true",
                        help="1 round x 2 prompts x 2 samples x 16 tokens, eval on 4 prompts")
    parser.add_argument("--mode", choices=MODES, default="staged",
                        help="staged: a task per stage per round; fused: chained jobs that "
                             "run the rounds with the policy resident (default: staged)")
    parser.add_argument("--rounds-per-job", type=int, default=None,
                        help="fused mode: rounds of each chained job (default: the compile "
                             "option's)")
    parser.add_argument("--shards", type=int, default=1,
                        help="staged mode: rollout shards per round")
    parser.add_argument("--algorithm", default="rlsd")
    parser.add_argument("--teacher-refresh-rounds", type=int, default=None,
                        help="K (default: the algorithm config's)")
    parser.add_argument("--nproc", type=int, default=2, help="torchrun processes of the update")
    parser.add_argument("--profile", default="",
                        help=f"named training profile ({', '.join(sorted(PROFILES))}): its "
                             "values replace the demo's (default: none)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="override a pipeline parameter, over the profile (repeatable)")
    args = parser.parse_args(argv)

    rounds = args.rounds if args.rounds is not None else (1 if args.small else 2)
    # No retries: kfp.local runs the retry policy with its backoff, but nothing fails here for
    # a passing reason (no node to lose), so a retry would only repeat a failure minutes later.
    options = CompileOptions(rounds=rounds, rollout_shards=args.shards, algorithm=args.algorithm,
                             mode=args.mode, profile=args.profile, retries=0)
    if args.teacher_refresh_rounds is not None:
        options.teacher_refresh_rounds = args.teacher_refresh_rounds
    if args.rounds_per_job is not None:
        options.rounds_per_job = args.rounds_per_job
    try:
        options.validate()
        params = local_params(options, build_pipeline(options), args.small, args.nproc,
                              args.param)
    except ValueError as exc:
        print(f"pipeline.run_local: error: {exc}", file=sys.stderr)
        return 2
    if options.profile:
        shown = ", ".join(f"{k}={v!r}" for k, v in sorted(params.items()))
        print(f"profile {options.profile}: running with {shown}", flush=True)
    result = run(Path(args.root).resolve(), rounds, params, options)
    print("\n== done in {:.0f} s ({} mode{})".format(
        result["seconds"], options.mode,
        f", profile {options.profile}" if options.profile else ""))
    for label in ("base", "final"):
        shown = ", ".join(f"{k} {v:.3f}" for k, v in sorted(result[f"{label}_metrics"].items())
                          if k.startswith(("pass@", "mean@")))
        print(f"{label} policy: {shown}")
    print(f"report:        {result['training_report']} (open in a browser)")
    print(f"table:         {result['report']}")
    print(f"base report:   {result['base_report']}")
    print(f"final report:  {result['final_report']}")
    print(f"all artifacts: {Path(args.root).resolve() / 'kfp'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
