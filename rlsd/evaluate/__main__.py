"""``python -m rlsd.evaluate``: evaluate a policy on a prompt set.

    python -m rlsd.evaluate --policy default --prompts runs/demo/data/eval.parquet \\
        --output runs/demo/eval-base --max-prompts 16
"""

from __future__ import annotations

import argparse
import json
import sys

from rlsd.config import ConfigError, add_config_args, config_from_args
from rlsd.evaluate.config import EvalConfig
from rlsd.evaluate.evaluation import run_evaluation
from rlsd.models import ModelError
from rlsd.rollout import RolloutError
from rlsd.storage import StorageError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsd.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="'default', a folder, s3:// or a hub id")
    parser.add_argument("--prompts", required=True, help="prompts table (parquet)")
    parser.add_argument("--output", required=True, help="folder for results, metrics, report")
    add_config_args(parser, EvalConfig)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(EvalConfig, args)
        metrics = run_evaluation(args.policy, args.prompts, args.output, config)
    except (ConfigError, ModelError, RolloutError, StorageError, FileNotFoundError) as exc:
        print(f"rlsd.evaluate: error: {exc}", file=sys.stderr)
        return 2
    print("evaluate: " + json.dumps({k: round(v, 4) for k, v in metrics.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
