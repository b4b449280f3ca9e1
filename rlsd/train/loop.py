"""One round of the RLSD update under DeepSpeed (every rank runs this).

1. Check every input (policy folder, tables, their agreement) before any model is loaded.
2. Plan micro-batches (:mod:`rlsd.train.plan`), load the policy, build the engine and resume
   the DeepSpeed state (optimizer moments, global step) of the previous round if it has one.
3. For each optimizer step: λ from the schedule at the global step, micro-batch losses that
   add up to the token-mean loss of the mini-batch over all ranks, one optimizer step.
4. Write metrics, then the checkpoint (HF model + DeepSpeed state), manifest last.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from rlsd.algorithms import AlgorithmConfig
from rlsd.models import check_model_folder, load_policy, resolve_model
from rlsd.phases import phase
from rlsd.prompting import EncodedPrompt, encode_student_prompt, is_multimodal
from rlsd.storage import is_s3, read_table, verify_manifest
from rlsd.train.checkpoint import (
    has_deepspeed_state,
    load_deepspeed_state,
    read_trainer_state,
    save_round_checkpoint,
    staging_dir,
)
from rlsd.train.config import TrainConfig
from rlsd.train.engine import build_engine, init_distributed, on_gpu
from rlsd.train.loss import make_micro_batch, micro_batch_loss
from rlsd.train.metrics import MetricsWriter, previous_history, reduce_weighted
from rlsd.train.plan import plan_round
from rlsd.train.resume import finished_round
from rlsd.train.samples import RoundData, RoundDataError, TrainSample, build_round_data
from rlsd.train.student_logprobs import gather_and_write


@dataclass
class TrainInputs:
    policy: str  # folder, s3:// prefix or model id of the policy to update
    rollouts: str
    rewards: str
    output: str  # folder or s3:// prefix for the updated policy
    scores: str | None = None  # needed by every algorithm but GRPO
    prompts: str | None = None  # needed for VLMs (the images)


def _resolve_policy(ref: str, local_rank: int, world_size: int) -> Path:
    # One download per node: local rank 0 fetches, the others wait and reuse the cache.
    if local_rank == 0:
        path = resolve_model(ref)
    if world_size > 1:
        dist.barrier()
    if local_rank != 0:
        path = resolve_model(ref)
    return check_model_folder(path)


def preflight_policy(ref: str) -> None:
    """Fail fast on a policy that cannot load: a missing folder, a missing shard, an S3
    checkpoint without a complete manifest (checked remotely, before any download)."""
    if is_s3(ref):
        verify_manifest(ref)
    else:
        resolve_model(ref)


def load_round(inputs: TrainInputs, algo: AlgorithmConfig) -> RoundData:
    """Read and join the round's tables (all ranks read the same small tables)."""
    # GRPO needs no scores; when given, their behaviour log-probs serve as π_old.
    scores = read_table(inputs.scores) if inputs.scores else None
    return build_round_data(read_table(inputs.rollouts), read_table(inputs.rewards), scores, algo)


def _vlm_prompts(processor: Any, prompts_uri: str | None, samples: list[TrainSample]
                 ) -> dict[str, EncodedPrompt]:
    """Re-encode VLM student prompts (image tensors) and prove they match the rollout ids."""
    if not prompts_uri:
        raise RoundDataError("a vision-language policy needs --prompts (the images)")
    rows = {r["id"]: r for r in read_table(prompts_uri).to_pylist()}
    encoded: dict[str, EncodedPrompt] = {}
    for s in samples:
        if s.prompt_id in encoded:
            continue
        if s.prompt_id not in rows:
            raise RoundDataError(f"prompt {s.prompt_id!r} is not in the prompts table")
        enc = encode_student_prompt(processor, rows[s.prompt_id])
        if enc.input_ids != s.prompt_ids:
            raise RoundDataError(f"prompt {s.prompt_id!r} encodes to different token ids than "
                                 f"the rollout used (another processor or chat template?)")
        encoded[s.prompt_id] = enc
    return encoded


def _load_engine(policy_dir: Path, cfg: TrainConfig, device: torch.device, world_size: int,
                 micro_batches_per_step: int, state: dict[str, Any]) -> tuple[Any, Any, int]:
    """The policy in a DeepSpeed engine with the previous round's optimizer state; returns
    (engine, tokenizer or processor, global step)."""
    model, processor = load_policy(policy_dir, dtype="float32", device=device, for_training=True)
    if cfg.gradient_checkpointing:
        # transformers 5 renamed the switch (and its argument); older releases have the old one.
        if hasattr(model, "activation_checkpointing_enable"):
            model.activation_checkpointing_enable({"use_reentrant": False})
        else:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    engine = build_engine(model, cfg, world_size, micro_batches_per_step)
    global_step = int(state["global_step"])
    if has_deepspeed_state(policy_dir):
        resumed = load_deepspeed_state(engine, policy_dir)
        global_step = int(resumed.get("global_step", global_step))
    return engine, processor, global_step


def train_round(inputs: TrainInputs, cfg: TrainConfig, algo: AlgorithmConfig) -> dict[str, Any]:
    """Run the round on this rank; returns the last step's metrics (rank 0's view)."""
    if algo.kl_coef > 0:
        raise RoundDataError("kl_coef > 0 needs reference-policy log-probs, which the staged "
                             "pipeline does not compute yet; keep kl_coef = 0 (the paper's choice)")
    # Every input is checked before the process group starts or any model loads.
    data = load_round(inputs, algo)
    if not data.samples:
        raise RoundDataError("every group had equal rewards and filter_zero_groups is on: "
                             "nothing to train on this round")
    if cfg.steps_per_round > 1 and not data.behaviour_logprobs:
        raise RoundDataError(
            f"steps_per_round={cfg.steps_per_round} needs the behaviour policy's log-probs: "
            "after the first optimizer step the update is off-policy and the PPO ratio must "
            "compare with the policy that sampled. Score the round with behaviour_logprobs on "
            "(GRPO too), or train with steps_per_round=1")
    preflight_policy(inputs.policy)
    done = finished_round(inputs.policy, inputs.output)
    if done is not None:  # every rank sees the same folder: all return before any collective
        if os.environ.get("RANK", "0") == "0":
            print(f"train: round {done.metadata.get('round')} (step {done.metadata.get('step')}) "
                  f"is already complete and verified at {inputs.output}; not recomputed",
                  flush=True)
        return {}
    rank, world_size, local_rank = init_distributed()
    with phase("resolve"):
        policy_dir = _resolve_policy(inputs.policy, local_rank, world_size)
    state = read_trainer_state(policy_dir)
    plan = plan_round(data.samples, cfg.steps_per_round, world_size, rank,
                      cfg.micro_batch_tokens, cfg.seed + int(state["global_step"]))

    device = torch.device("cuda", local_rank) if on_gpu() else torch.device("cpu")
    torch.manual_seed(cfg.seed)
    with phase("load"):
        engine, processor, global_step = _load_engine(policy_dir, cfg, device, world_size,
                                                      plan.micro_batches_per_step, state)
    tokenizer = processor.tokenizer if is_multimodal(processor) else processor
    pad_id = tokenizer.pad_token_id
    vlm_prompts = _vlm_prompts(processor, inputs.prompts, data.samples) \
        if is_multimodal(processor) else None

    staging = staging_dir(inputs.output)
    writer = MetricsWriter(staging, cfg.tensorboard, previous_history(policy_dir)) \
        if rank == 0 else None
    M = plan.micro_batches_per_step
    if rank == 0:
        print(f"train: starting round {int(state['round']) + 1}, {len(data.samples)} samples, "
              f"{cfg.steps_per_round} optimizer step(s) x {M} micro-batch(es) on {world_size} "
              f"rank(s), from step {global_step}", flush=True)
    record: dict[str, Any] = {}
    # On-policy without behaviour log-probs: keep the trainer's own s_t for the report.
    keep_student = algo.needs_teacher and not data.behaviour_logprobs
    student: dict[tuple[str, int], tuple[list[int], list[float]]] = {}
    with phase("compute"):
        for step_plan in plan.steps:
            lam = algo.lam_at(global_step)
            started = time.perf_counter()
            sums: dict[str, float] = {}
            loss_sum = 0.0
            weight_total = 0.0
            tokens_seen = 0
            for indices in step_plan.micro_batches:
                real = bool(indices)
                # An empty micro-batch still runs forward and backward (weight 0) so that every
                # rank makes the same collective calls.
                batch_samples = [data.samples[i] for i in indices] if real else [data.samples[0]]
                prompts = [vlm_prompts[s.prompt_id] for s in batch_samples] if vlm_prompts else None
                mb = make_micro_batch(batch_samples, pad_id, prompts)
                mb.batch = mb.batch.to(device)
                loss, metrics = micro_batch_loss(engine, mb, algo, lam,
                                                 num_tokens=max(1, step_plan.global_tokens))
                # DeepSpeed divides by gradient_accumulation_steps and averages over ranks;
                # undo both so the step's gradient is the token-mean over the whole mini-batch.
                engine.backward(loss * (world_size * M if real else 0.0))
                engine.step()
                if real and keep_student:
                    for row, s in zip(mb.current_logprobs.float().cpu(), batch_samples,
                                      strict=True):
                        student[(s.prompt_id, s.sample_index)] = (
                            s.response_ids, row[: len(s.response_ids)].tolist())
                if real:
                    n = float(mb.batch.response_mask.sum())
                    weight_total += n
                    tokens_seen += int(mb.batch.attention_mask.sum())
                    for k, v in metrics.items():
                        sums[k] = sums.get(k, 0.0) + v * n
                    loss_sum += loss.item()  # partial sums of the mini-batch's token-mean loss
            global_step += 1
            local = {k: v / weight_total for k, v in sums.items()} if weight_total else {}
            keys = ["clip_frac", "clip_frac_low", "clip_frac_high", "dual_clip_frac",
                    "approx_kl", "ratio_mean", "entropy", "abs_token_advantage", "rlsd_weight_mean",
                    "rlsd_weight_clip_low", "rlsd_weight_clip_high"]
            merged = reduce_weighted({k: local.get(k, 0.0) for k in keys}, weight_total, world_size)
            totals = torch.tensor([float(tokens_seen), loss_sum], dtype=torch.float64)
            if world_size > 1:
                dist.all_reduce(totals)
            elapsed = time.perf_counter() - started
            grad_norm = engine.get_global_grad_norm()
            record = {
                "step": global_step, "round": int(state["round"]) + 1, "lambda": lam,
                "reward_mean": data.reward_mean, "accuracy_mean": data.accuracy_mean,
                "zero_advantage_group_fraction": data.zero_advantage_group_fraction,
                "grad_norm": float(grad_norm) if grad_norm is not None else float("nan"),
                "loss": float(totals[1]),
                "tokens_per_s": float(totals[0]) / max(elapsed, 1e-9),
                "learning_rate": cfg.learning_rate, "samples": len(data.samples),
                **merged,
            }
            if not algo.needs_teacher:
                for k in ("rlsd_weight_mean", "rlsd_weight_clip_low", "rlsd_weight_clip_high"):
                    record.pop(k, None)
            if writer is not None:
                writer.write(record)
        if writer is not None:
            writer.close()

    trainer_state = {"global_step": global_step, "round": int(state["round"]) + 1,
                     "algorithm": algo.algorithm, "parent": inputs.policy}
    with phase("write"):
        if keep_student:
            gather_and_write(student, staging, rank, world_size)
        save_round_checkpoint(engine, processor, inputs.output, staging, trainer_state, rank,
                              world_size)
    return record

