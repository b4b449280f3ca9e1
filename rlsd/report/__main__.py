"""``python -m rlsd.report``: the training report of a run folder.

    python -m rlsd.report --run runs/demo [--output runs/demo/training_report.html] \\
        [--tokenizer default] [--eval-before DIR --eval-after DIR] [--responses 6 --eps-w 0.2]

The run-folder layout is documented in :mod:`rlsd.report.run_folder` (round-<N>/ folders with
the round's tables and ``policy/metrics.jsonl``; optional eval-base/ and eval-final/).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlsd.config import ConfigError, add_config_args, config_from_args
from rlsd.evaluate.compare import CompareError
from rlsd.report.config import ReportConfig
from rlsd.report.errors import ReportError
from rlsd.report.run_folder import discover_run, load_round_tables
from rlsd.report.tokenizer import load_tokenizer
from rlsd.report.training import REPORT_FILE, build_training_report
from rlsd.storage import StorageError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsd.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True, help="run folder (see rlsd.report.run_folder)")
    parser.add_argument("--output", help=f"HTML file to write (default: RUN/{REPORT_FILE})")
    parser.add_argument("--tokenizer", help="tokenizer folder, hub id or 'default' (default: "
                                            "the last round's policy checkpoint)")
    parser.add_argument("--eval-before", help="evaluation folder of the base policy "
                                              "(default: RUN/eval-base if present)")
    parser.add_argument("--eval-after", help="evaluation folder of the final policy "
                                             "(default: RUN/eval-final if present)")
    add_config_args(parser, ReportConfig)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(ReportConfig, args)
        layout = discover_run(args.run)
        with_tables = [r for r in layout.rounds if r.has_tables]
        if config.token_credit_rounds is not None:
            wanted = set(config.token_credit_rounds)
            unknown = sorted(wanted - {r.index for r in with_tables})
            if unknown:
                raise ReportError(f"round(s) {unknown} have no rollouts/rewards/scores tables in "
                                  f"{layout.root}; rounds with tables: "
                                  f"{[r.index for r in with_tables]}")
            chosen = [r for r in with_tables if r.index in wanted]
        else:
            chosen = with_tables[-1:]
        tokenizer = None
        if chosen:
            ref = args.tokenizer or (str(layout.tokenizer_dir) if layout.tokenizer_dir else None)
            if ref is None:
                raise ReportError("no tokenizer found in the run's policy checkpoints; pass "
                                  "--tokenizer (a folder, hub id or 'default')")
            tokenizer = load_tokenizer(ref)
        output = Path(args.output) if args.output else layout.root / REPORT_FILE
        counts = build_training_report(
            layout.metrics_files, [load_round_tables(r) for r in chosen], tokenizer, output,
            eval_before=args.eval_before or layout.eval_before,
            eval_after=args.eval_after or layout.eval_after, config=config)
    except (ConfigError, ReportError, CompareError, StorageError) as exc:
        print(f"rlsd.report: error: {exc}", file=sys.stderr)
        return 2
    print(f"report: {counts['steps']} steps, {counts['responses']} responses -> {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
