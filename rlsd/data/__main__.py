"""CLI: ``python -m rlsd.data --output DIR [settings]``: load, prepare, write, print one line.

With no settings it prepares the built-in synthetic arithmetic task. Settings are the fields
of :class:`rlsd.data.DataConfig` (``--source gsm8k``, ``--config file.yaml``,
``--set name=value``). Exit status 2 with one ``rlsd.data: error:`` line on stderr
when the settings or the data are unusable; rejects are written before a reject-fraction
failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rlsd.config import ConfigError, add_config_args, config_from_args
from rlsd.data.config import DataConfig
from rlsd.data.errors import DataError
from rlsd.data.prepare import one_line_summary, prepare, write_outputs
from rlsd.profiles import PROFILES, get_profile


def main(argv: Sequence[str] | None = None) -> int:
    """Run the data-prep stage; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m rlsd.data",
        description="Data prep: load a task data set, normalise to the prompt schema, "
                    "validate, split into train.parquet / eval.parquet (+ rejects.jsonl, "
                    "summary.json).",
    )
    parser.add_argument("--output", required=True,
                        help="output folder or s3:// prefix")
    parser.add_argument("--profile", default=None,
                        help="named settings applied first, its data section "
                             f"({', '.join(sorted(PROFILES))}; default: the paper's)")
    add_config_args(parser, DataConfig)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(DataConfig, args, base=get_profile(args.profile).section("data"))
        result = prepare(config)
        write_outputs(result, args.output)
    except (ConfigError, DataError) as exc:
        print(f"rlsd.data: error: {exc}", file=sys.stderr)
        return 2
    print(one_line_summary(result, args.output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
