"""``python -m rlsd.loop``: many RLSD rounds in one resident job (run it under torchrun).

Example (2 processes on one machine, 10 rounds, a checkpoint every 5)::

    torchrun --nproc-per-node 2 -m rlsd.loop --policy default \\
        --prompts runs/demo/data/train.parquet --output runs/fused \\
        --rounds 10 --save-every 5 --algorithm rlsd \\
        --set rollout.samples_per_prompt=4 --set rollout.max_new_tokens=64

Settings come in sections, one per stage, with the staged CLIs' own names and defaults:
``loop``, ``rollout``, ``verify``, ``score``, ``train``, ``algorithm``, ``evaluate``. A named
profile (``--profile smollm2-arithmetic``, :mod:`rlsd.profiles`) replaces the paper's defaults
first; then a YAML file (``--config``, ``{section: {setting: value}}``) and single settings
(``--set section.setting=value``) override; ``--rounds``, ``--save-every``,
``--prompts-per-round`` and ``--algorithm`` are shortcuts. The job prints the settings it runs
with. With ``--eval-prompts`` it also reports held-out accuracy as it trains.
Started again with the same ``--output``, the job resumes from its last checkpoint there.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import textwrap

from rlsd.config import ConfigError, field_default, sectioned_configs
from rlsd.loop.config import SECTIONS, LoopSettings
from rlsd.loop.run import LoopError, run_loop
from rlsd.models import ModelError
from rlsd.profiles import PROFILES, get_profile
from rlsd.prompting import PromptError
from rlsd.rollout.errors import RolloutError
from rlsd.storage.errors import StorageError
from rlsd.train.samples import RoundDataError
from rlsd.verify.errors import GradingError, VerifyError

_SHORTCUTS = {"rounds": "loop.rounds", "save_every": "loop.save_every",
              "prompts_per_round": "loop.prompts_per_round", "algorithm": "algorithm.algorithm"}


def settings_epilog() -> str:
    """Every setting by section with its default (the paper's, before any profile), so that
    ``--help`` shows what ``--set`` takes; the staged CLIs' ``--help`` explain each one."""
    lines = ["settings (--set SECTION.NAME=VALUE; defaults before --profile; each is "
             "explained by its stage's --help, e.g. python -m rlsd.train --help):"]
    for section, config in SECTIONS.items():
        values = [f"{f.name}={_shown(field_default(f))}" for f in dataclasses.fields(config)]
        lines += textwrap.wrap(", ".join(values), width=92, initial_indent=f"  {section}: ",
                               subsequent_indent=" " * (len(section) + 4))
    return "\n".join(lines)


def _shown(value: object) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m rlsd.loop", description=__doc__,
                                     epilog=settings_epilog(),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True,
                        help="starting policy: 'default', a folder, s3:// checkpoint or hub id")
    parser.add_argument("--prompts", required=True, help="prompts table (data prep's train)")
    parser.add_argument("--output", required=True,
                        help="folder or s3:// prefix for round-NNNN checkpoints (resumes there)")
    parser.add_argument("--eval-prompts",
                        help="held-out prompts table (data prep's eval) to evaluate the policy "
                             "on before the first round, every loop.eval_every rounds and "
                             "after the last")
    parser.add_argument("--profile", default=None,
                        help="named settings applied before --config and --set "
                             f"({', '.join(sorted(PROFILES))}; default: the paper's)")
    parser.add_argument("--config", help="YAML file of settings by section")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.NAME=VALUE",
                        help=f"override one setting (repeatable); sections: {', '.join(SECTIONS)}")
    for name in _SHORTCUTS:
        parser.add_argument("--" + name.replace("_", "-"), dest=name, default=None,
                            help=f"shortcut for --set {_SHORTCUTS[name]}=V")
    return parser


def settings_from_args(args: argparse.Namespace) -> LoopSettings:
    """The job's settings: section defaults, then ``--profile``, ``--config``, ``--set`` and
    shortcuts."""
    overrides = list(args.set) + [f"{_SHORTCUTS[name]}={getattr(args, name)}"
                                  for name in _SHORTCUTS if getattr(args, name) is not None]
    profile = get_profile(args.profile)
    return LoopSettings(**sectioned_configs(SECTIONS, args.config, overrides,
                                            base=profile.settings))


def main(argv: list[str] | None = None) -> int:
    """Entry point; 2 for bad input or settings (one line), 1 when grading breaks."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from_args(args)
        settings.validate()  # one line for a bad combination, before the settings dump
        if os.environ.get("RANK", "0") == "0":
            print(f"loop: profile {args.profile or 'paper'}; settings "
                  + json.dumps(dataclasses.asdict(settings), sort_keys=True), flush=True)
            data = get_profile(args.profile).section("data")
            if data:  # the loop trains on --prompts as given: data prep applies this section
                print(f"loop: note: profile {args.profile} also sets data prep's {data}; "
                      f"prepare --prompts with python -m rlsd.data --profile {args.profile}",
                      flush=True)
            if settings.loop.eval_every and not args.eval_prompts:
                print("loop: warning: loop.eval_every is set but no --eval-prompts were "
                      "given; nothing is evaluated", flush=True)
        record = run_loop(args.policy, args.prompts, args.output, settings, args.eval_prompts)
    except (ConfigError, LoopError, RolloutError, PromptError, RoundDataError, ModelError,
            StorageError, VerifyError, FileNotFoundError) as exc:
        print(f"rlsd.loop: error: {exc}", file=sys.stderr)
        return 2
    except GradingError as exc:
        print(f"rlsd.loop: grading failed: {exc}", file=sys.stderr)
        return 1
    if record and os.environ.get("RANK", "0") == "0":
        print("loop: done " + json.dumps({k: record[k] for k in (
            "round", "step", "loss", "reward_mean", "accuracy_mean") if k in record}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
