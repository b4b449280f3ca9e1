"""``python -m rlsd.rollout --policy P --prompts prompts.parquet --output rollouts.parquet``

Samples G responses per prompt from the policy (a folder, an ``s3://`` checkpoint prefix,
a hub id or ``default``) and writes the rollouts table. Settings are the fields of
:class:`rlsd.rollout.RolloutConfig` (``--samples-per-prompt 4``, ``--config file.yaml``,
``--set name=value``). Unusable settings, prompts or policy: one line
``rlsd.rollout: error: ...`` on stderr and exit status 2, before any model is loaded.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rlsd.config import ConfigError, add_config_args, config_from_args
from rlsd.models import ModelError
from rlsd.prompting import PromptError
from rlsd.rollout.config import RolloutConfig
from rlsd.rollout.errors import RolloutError
from rlsd.rollout.run import run_rollout
from rlsd.storage import StorageError


def main(argv: Sequence[str] | None = None) -> int:
    """Run the rollout stage; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m rlsd.rollout", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True,
                        help="policy checkpoint: folder, s3:// prefix, hub id or 'default'")
    parser.add_argument("--prompts", required=True, help="prompts table (parquet, local or s3://)")
    parser.add_argument("--output", required=True, help="rollouts table to write (parquet)")
    add_config_args(parser, RolloutConfig)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(RolloutConfig, args)
        result = run_rollout(args.policy, args.prompts, args.output, config)
    except (ConfigError, RolloutError, PromptError, ModelError, StorageError) as exc:
        print(f"rlsd.rollout: error: {exc}", file=sys.stderr)
        return 2
    print(f"{result.summary.line()} [{result.backend}, policy step {result.policy_step}]; "
          f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
