"""``python -m rlsd.score``: behaviour and self-teacher log-probs of a round's rollouts.

    python -m rlsd.score --policy runs/r0/policy --rollouts runs/r0/rollouts.parquet \\
        --prompts runs/data/train.parquet --output runs/r0/scores.parquet

``--teacher`` names a frozen teacher checkpoint (refreshed every K rounds by the pipeline);
without it the policy is its own teacher. ``--algorithm opd --teacher BIG`` gives the OPD
baseline (separate teacher, no hint). GRPO needs no scoring; ``--algorithm grpo`` records only
the behaviour log-probs.
"""

from __future__ import annotations

import argparse
import sys
import time

from rlsd.algorithms import TOKEN_ADVANTAGES, needs_teacher_logprobs
from rlsd.config import ConfigError, add_config_args, config_from_args
from rlsd.models import (
    ModelError,
    check_model_folder,
    load_policy,
    load_tokenizer_or_processor,
    resolve_model,
)
from rlsd.models.adapter import load_adapter_pair
from rlsd.phases import phase
from rlsd.prompting import PromptError
from rlsd.schemas import ROLLOUT_SCHEMA
from rlsd.score.config import ScoreConfig
from rlsd.score.scoring import ScoringError, score_rollouts
from rlsd.storage import conform_table, read_table, write_table
from rlsd.storage.errors import StorageError
from rlsd.train.checkpoint import read_trainer_state
from rlsd.train.engine import use_bf16


def passes_label(with_teacher: bool, behaviour: bool) -> str:
    return " + ".join(p for p, on in (("teacher", with_teacher), ("behaviour", behaviour)) if on)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsd.score", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--policy", required=True, help="policy that sampled the rollouts")
    parser.add_argument("--rollouts", required=True, help="rollouts table (parquet)")
    parser.add_argument("--prompts", required=True, help="prompts table (answers, images)")
    parser.add_argument("--output", required=True, help="scores table to write (parquet)")
    parser.add_argument("--teacher", help="frozen teacher checkpoint (default: the policy)")
    parser.add_argument("--algorithm", default="rlsd", choices=sorted(TOKEN_ADVANTAGES))
    add_config_args(parser, ScoreConfig)
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(ScoreConfig, args)
        if args.algorithm == "opd":
            if not args.teacher:
                raise ConfigError("--algorithm opd needs --teacher (a separate teacher model)")
            cfg.teacher_hint = False
        # Read and check everything cheap before loading any model.
        with phase("read"):
            # The wrong table in the wrong place is named here, before any model loads.
            rollouts = conform_table(read_table(args.rollouts), ROLLOUT_SCHEMA, args.rollouts)
            prompts = {r["id"]: r for r in read_table(args.prompts).to_pylist()}
        with phase("resolve"):
            policy_dir = check_model_folder(resolve_model(args.policy))
            teacher_dir = check_model_folder(resolve_model(args.teacher)) if args.teacher \
                else None
        dtype = "bfloat16" if use_bf16(cfg.dtype) else "float32"
        separate = teacher_dir is not None and teacher_dir.resolve() != policy_dir.resolve()
        with phase("load"):
            teacher = teacher_processor = None
            # Two LoRA adapters of one base (the K-teacher under LoRA): one base in memory.
            pair = load_adapter_pair(policy_dir, teacher_dir, dtype=dtype) \
                if separate and cfg.behaviour_logprobs else None
            if pair is not None:
                policy, teacher, processor = pair
            else:
                if separate:
                    teacher, teacher_processor = load_policy(teacher_dir, dtype=dtype)
                if separate and not cfg.behaviour_logprobs:
                    # Only the separate teacher runs: the policy's tokenizer encodes its prompts.
                    policy, processor = None, load_tokenizer_or_processor(policy_dir)
                else:
                    policy, processor = load_policy(policy_dir, dtype=dtype)
        with_teacher = needs_teacher_logprobs(args.algorithm)
        started = time.perf_counter()
        with phase("compute"):
            table = score_rollouts(policy, processor, rollouts, prompts, cfg, teacher=teacher,
                                   teacher_processor=teacher_processor,
                                   with_teacher=with_teacher,
                                   teacher_step=int(read_trainer_state(
                                       teacher_dir or policy_dir)["global_step"]))
        elapsed = time.perf_counter() - started
        with phase("write"):
            write_table(table, args.output)
    except (ConfigError, ScoringError, PromptError, ModelError, StorageError,
            FileNotFoundError) as exc:
        print(f"rlsd.score: error: {exc}", file=sys.stderr)
        return 2
    tokens = sum(table.column("response_length").to_pylist())
    print(f"score: {table.num_rows} responses, {tokens} tokens, "
          f"{passes_label(with_teacher, cfg.behaviour_logprobs)} log-probs, "
          f"{tokens / max(elapsed, 1e-9):.0f} tokens/s -> {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
