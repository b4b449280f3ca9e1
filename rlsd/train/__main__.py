"""``python -m rlsd.train``: one round of the RLSD update (run it under torchrun).

Example (2 processes on one machine)::

    torchrun --nproc-per-node 2 -m rlsd.train --policy runs/r0/policy \\
        --rollouts runs/r0/rollouts.parquet --rewards runs/r0/rewards.parquet \\
        --scores runs/r0/scores.parquet --output runs/r0/updated --algorithm rlsd
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from rlsd.algorithms import AlgorithmConfig
from rlsd.config import ConfigError, add_config_args, configs_from_args
from rlsd.models import ModelError
from rlsd.storage.errors import StorageError
from rlsd.train.config import TrainConfig
from rlsd.train.loop import TrainInputs, train_round
from rlsd.train.samples import RoundDataError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsd.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="policy checkpoint: folder, s3:// or 'default'")
    parser.add_argument("--rollouts", required=True, help="rollouts table (parquet)")
    parser.add_argument("--rewards", required=True, help="rewards table (parquet)")
    parser.add_argument("--scores", help="scores table (parquet); not needed for GRPO")
    parser.add_argument("--prompts", help="prompts table; needed for vision-language models")
    parser.add_argument("--output", required=True, help="where the updated policy goes")
    add_config_args(parser, TrainConfig, AlgorithmConfig)
    args = parser.parse_args(argv)
    try:
        cfg, algo = configs_from_args(args, TrainConfig, AlgorithmConfig)
        record = train_round(TrainInputs(policy=args.policy, rollouts=args.rollouts,
                                         rewards=args.rewards, output=args.output,
                                         scores=args.scores, prompts=args.prompts), cfg, algo)
    except (ConfigError, RoundDataError, ModelError, StorageError, FileNotFoundError) as exc:
        print(f"rlsd.train: error: {exc}", file=sys.stderr)
        return 2
    if record and os.environ.get("RANK", "0") == "0":
        print("train: " + json.dumps({k: record[k] for k in (
            "round", "step", "loss", "reward_mean", "grad_norm", "tokens_per_s") if k in record}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
