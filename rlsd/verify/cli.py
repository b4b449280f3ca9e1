"""``python -m rlsd.verify``: grade a rollouts table, or self-check the gold answers.

    python -m rlsd.verify --prompts prompts.parquet --rollouts rollouts.parquet \\
        --output rewards.parquet [--plugin name=package.module:function] [settings]
    python -m rlsd.verify --self-check --prompts prompts.parquet --output rewards.parquet

Writes the rewards table (:data:`rlsd.schemas.REWARD_SCHEMA`) and prints one summary
line. ``--self-check`` grades each prompt's reference answer against itself in the paper's
format (``<thought>…</thought><answer>{answer}</answer>``, sample_index 0): a gold answer that
does not score 1 is one its verifier cannot read. Bad input (a missing column, an unknown
verifier, a bad setting) stops with one message before anything is graded (exit status 2).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import pyarrow as pa
from tqdm import tqdm

from rlsd.config import ConfigError, add_config_args, config_from_args
from rlsd.phases import phase
from rlsd.storage import StorageError, read_table, write_table
from rlsd.verify.batch import VerifyResult, resolve_verifiers, verify_batch
from rlsd.verify.errors import GradingError, VerifyError
from rlsd.verify.settings import VerifyConfig
from rlsd.verify.tables import rewards_table, rollout_items, self_check_items

_SHOWN_FAILURES = 10


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m rlsd.verify", description="Verifiable rewards for RLSD rollouts."
    )
    parser.add_argument("--prompts", required=True, help="prompts parquet (id, answer, verifier)")
    parser.add_argument(
        "--rollouts", help="rollouts parquet (prompt_id, sample_index, response_text)"
    )
    parser.add_argument("--output", required=True, help="rewards parquet to write")
    parser.add_argument(
        "--self-check",
        action="store_true",
        help="grade each gold answer against itself instead of rollouts (data-quality check)",
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="NAME=MODULE:FUNCTION",
        help="register an extra verifier from an importable function (repeatable)",
    )
    add_config_args(parser, VerifyConfig)
    return parser


def summary(results: Sequence[VerifyResult]) -> str:
    """One line: items, mean reward, accuracy, format, and counts of each failure kind."""
    n = len(results)

    def mean(values: list[float]) -> float:
        return sum(values) / n if n else 0.0

    def count(status: str) -> int:
        return sum(r.status == status for r in results)

    return (
        f"verified {n} items: mean reward {mean([r.reward for r in results]):.4f}, "
        f"accuracy {mean([r.accuracy for r in results]):.4f}, "
        f"format {mean([r.format for r in results]):.4f}, timeouts {count('timeout')}, "
        f"errors {count('error')}, no answer {count('no_answer')}, too long {count('too_long')}"
    )


def run(args: argparse.Namespace) -> int:
    config = config_from_args(VerifyConfig, args)
    config.extra_verifiers = [*config.extra_verifiers, *args.plugin]
    config.validate()
    prompts = read_table(args.prompts)
    if args.self_check:
        keys, items = self_check_items(prompts, config)
    else:
        if not args.rollouts:
            raise VerifyError("--rollouts is required (or pass --self-check)")
        keys, items = rollout_items(read_table(args.rollouts), prompts, config)
    resolve_verifiers([item.verifier for item in items], config)  # fail before grading

    with (
        tqdm(total=len(items), desc="verify", unit="item", file=sys.stderr) as bar,
        phase("compute"),
    ):
        results = verify_batch(items, config, on_result=lambda _i, _r: bar.update(1))
    with phase("write"):
        write_table(rewards_table(keys, results), args.output)

    print(summary(results))
    if args.self_check:
        failing = [(key, r) for key, r in zip(keys, results, strict=True) if r.accuracy < 1.0]
        print(f"self-check: {len(failing)} of {len(items)} gold answers fail their verifier")
        for (pid, _), result in failing[:_SHOWN_FAILURES]:
            print(f"  {pid}: {result.reason}", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (2 for bad input or settings, 1 when the grading
    machinery fails: no rewards table is written then)."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (VerifyError, ConfigError, StorageError, OSError, pa.ArrowException) as exc:
        print(f"python -m rlsd.verify: error: {exc}", file=sys.stderr)
        return 2
    except GradingError as exc:
        print(f"python -m rlsd.verify: grading failed, no rewards written: {exc}", file=sys.stderr)
        return 1
