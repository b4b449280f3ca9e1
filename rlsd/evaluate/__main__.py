"""``python -m rlsd.evaluate``: evaluate a policy on a prompt set or on benchmark presets.

    python -m rlsd.evaluate --policy default --prompts runs/demo/data/eval.parquet \\
        --output runs/demo/eval-base --max-prompts 16
    python -m rlsd.evaluate --policy runs/demo/round-0/policy --benchmark gsm8k,math500 \\
        --benchmark-source gsm8k=s3://mirror/gsm8k-test.parquet --output runs/demo/eval-final

Benchmarks (see rlsd.evaluate.presets): gsm8k, math500, aime2024, aime2025, mathvista,
mathvision, mmmu, wemath, zerobench. Without --benchmark-source a benchmark loads from the
Hugging Face hub; a source is NAME=URI (a parquet export, a folder of shards, s3://, a .jsonl,
or hf:<id or folder>), or a bare URI when one benchmark is evaluated. --max-prompts applies to
each benchmark. Writes results.json, items.json, metrics.json, breakdown.json, report.md and
report.html to --output.
"""

from __future__ import annotations

import argparse
import json
import sys

from rlsd.config import ConfigError, add_config_args, config_from_args
from rlsd.data import DataError
from rlsd.evaluate.config import EvalConfig
from rlsd.evaluate.evaluation import run_benchmark_evaluation, run_evaluation
from rlsd.models import ModelError
from rlsd.prompting import PromptError
from rlsd.rollout import RolloutError
from rlsd.storage import StorageError


def parse_sources(values: list[str], benchmarks: list[str]) -> dict[str, str]:
    """``NAME=URI`` pairs (a bare URI only when exactly one benchmark is evaluated)."""
    sources: dict[str, str] = {}
    for value in values:
        name, sep, uri = value.partition("=")
        # "s3://..." and "hf:..." hold no "=" before the scheme; a bare URI has no NAME part.
        if not sep or "/" in name or ":" in name:
            if len(benchmarks) != 1:
                raise ConfigError(f"--benchmark-source {value!r}: with several benchmarks write "
                                  "NAME=URI (e.g. gsm8k=s3://bucket/gsm8k.parquet)")
            name, uri = benchmarks[0], value
        if not uri:
            raise ConfigError(f"--benchmark-source {value!r} names no location")
        if name in sources:
            raise ConfigError(f"--benchmark-source given twice for {name!r}")
        sources[name] = uri
    return sources


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsd.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="'default', a folder, s3:// or a hub id")
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--prompts", help="prompts table (parquet)")
    what.add_argument("--benchmark", help="benchmark preset(s), comma-separated")
    parser.add_argument("--benchmark-source", action="append", default=[],
                        metavar="[NAME=]URI", help="where a benchmark's data is (repeatable)")
    parser.add_argument("--output", required=True, help="folder for results, metrics, report")
    add_config_args(parser, EvalConfig)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(EvalConfig, args)
        if args.prompts:
            if args.benchmark_source:
                raise ConfigError("--benchmark-source goes with --benchmark, not --prompts")
            metrics = run_evaluation(args.policy, args.prompts, args.output, config)
        else:
            benchmarks = [b.strip() for b in args.benchmark.split(",") if b.strip()]
            if not benchmarks:
                raise ConfigError("--benchmark names no benchmark")
            sources = parse_sources(args.benchmark_source, benchmarks)
            metrics = run_benchmark_evaluation(args.policy, benchmarks, args.output, config,
                                               sources)
    except (ConfigError, DataError, ModelError, PromptError, RolloutError, StorageError,
            FileNotFoundError) as exc:
        print(f"rlsd.evaluate: error: {exc}", file=sys.stderr)
        return 2
    print("evaluate: " + json.dumps({k: round(v, 4) for k, v in metrics.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
