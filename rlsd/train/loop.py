"""One round of the RLSD update under DeepSpeed (every rank runs this).

1. Check every input (policy folder, tables, their agreement) before any model is loaded.
2. Plan micro-batches (:mod:`rlsd.train.plan`), load the policy, build the engine and resume
   the DeepSpeed state (optimizer moments, global step) of the previous round if it has one.
3. The optimizer steps (:func:`rlsd.train.steps.run_steps`, shared with the fused loop).
4. Write metrics, then the checkpoint (HF model + DeepSpeed state), manifest last.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from rlsd.algorithms import AlgorithmConfig
from rlsd.models import check_model_folder, load_policy, resolve_model
from rlsd.models.adapter import adapter_base, is_adapter_folder
from rlsd.phases import phase
from rlsd.prompting import EncodedPrompt, encode_student_prompt, is_multimodal
from rlsd.storage import is_s3, read_table, verify_manifest
from rlsd.train.checkpoint import (
    check_resume,
    load_deepspeed_state,
    read_trainer_state,
    resumes_optimizer_state,
    save_round_checkpoint,
    staging_dir,
)
from rlsd.train.config import TrainConfig
from rlsd.train.engine import build_engine, init_distributed, on_gpu
from rlsd.train.lora import apply_lora, is_peft_model
from rlsd.train.metrics import MetricsWriter, previous_history
from rlsd.train.plan import plan_round
from rlsd.train.resume import finished_round
from rlsd.train.samples import RoundData, RoundDataError, TrainSample, build_round_data
from rlsd.train.steps import run_steps
from rlsd.train.student_logprobs import gather_and_write


@dataclass
class TrainInputs:
    policy: str  # folder, s3:// prefix or model id of the policy to update
    rollouts: str
    rewards: str
    output: str  # folder or s3:// prefix for the updated policy
    scores: str | None = None  # needed by every algorithm but GRPO
    prompts: str | None = None  # needed for VLMs (the images)


def resolve_policy(ref: str, local_rank: int, world_size: int) -> Path:
    """The local folder of policy ``ref`` (a folder, ``s3://`` checkpoint or model id),
    checked complete; one download per node. Collective when ``world_size > 1``."""
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


def policy_base_ref(policy_ref: str, policy_dir: Path) -> str:
    """The base model reference of a LoRA adapter trained from ``policy_ref``: the adapter's
    own base when the policy already is one, else the policy reference itself."""
    return adapter_base(policy_dir) if is_adapter_folder(policy_dir) else policy_ref


def load_engine(policy_dir: Path, cfg: TrainConfig, device: torch.device, world_size: int,
                micro_batches_per_step: int, state: dict[str, Any],
                base_ref: str | None = None) -> tuple[Any, Any, int]:
    """The policy in a DeepSpeed engine with the previous round's optimizer state; returns
    (engine, tokenizer or processor, global step). With ``cfg.lora_rank > 0`` the engine
    trains a LoRA adapter (:func:`rlsd.train.lora.apply_lora`) whose saved config names
    ``base_ref`` (default: the policy folder) as its base."""
    model, processor = load_policy(policy_dir, dtype="float32", device=device, for_training=True)
    if cfg.gradient_checkpointing:
        inner = model.get_base_model() if is_peft_model(model) else model
        # transformers 5 renamed the switch (and its argument); older releases have the old one.
        if hasattr(inner, "activation_checkpointing_enable"):
            inner.activation_checkpointing_enable({"use_reentrant": False})
        else:
            inner.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    model = apply_lora(model, cfg, base_ref or str(policy_dir))
    engine = build_engine(model, cfg, world_size, micro_batches_per_step)
    global_step = int(state["global_step"])
    if resumes_optimizer_state(policy_dir, cfg.lora_rank):
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
    done = finished_round(inputs.policy, inputs.output, cfg.lora_rank)
    if done is not None:  # every rank sees the same folder: all return before any collective
        if os.environ.get("RANK", "0") == "0":
            print(f"train: round {done.metadata.get('round')} (step {done.metadata.get('step')}) "
                  f"is already complete and verified at {inputs.output}; not recomputed",
                  flush=True)
        return {}
    rank, world_size, local_rank = init_distributed()
    with phase("resolve"):
        policy_dir = resolve_policy(inputs.policy, local_rank, world_size)
    state = read_trainer_state(policy_dir)
    try:
        check_resume(policy_dir, world_size, cfg.lora_rank, "train")
    except ValueError as exc:
        raise RoundDataError(str(exc)) from None
    plan = plan_round(data.samples, cfg.steps_per_round, world_size, rank,
                      cfg.micro_batch_tokens, cfg.seed + int(state["global_step"]))

    device = torch.device("cuda", local_rank) if on_gpu() else torch.device("cpu")
    torch.manual_seed(cfg.seed)
    with phase("load"):
        engine, processor, global_step = load_engine(
            policy_dir, cfg, device, world_size, plan.micro_batches_per_step, state,
            base_ref=policy_base_ref(inputs.policy, policy_dir))
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
    # On-policy without behaviour log-probs: keep the trainer's own s_t for the report.
    keep_student = algo.needs_teacher and not data.behaviour_logprobs
    with phase("compute"):
        result = run_steps(engine, data, plan, algo, global_step=global_step,
                           round_index=int(state["round"]) + 1, learning_rate=cfg.learning_rate,
                           pad_id=pad_id, device=device, world_size=world_size,
                           vlm_prompts=vlm_prompts, writer=writer, keep_student=keep_student)
        if writer is not None:
            writer.close()
    global_step, record, student = result.global_step, result.record, result.student

    trainer_state = {"global_step": global_step, "round": int(state["round"]) + 1,
                     "algorithm": algo.algorithm, "parent": inputs.policy}
    with phase("write"):
        if keep_student:
            gather_and_write(student, staging, rank, world_size)
        save_round_checkpoint(engine, processor, inputs.output, staging, trainer_state, rank,
                              world_size)
    return record

