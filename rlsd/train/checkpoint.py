"""A round's output: a Hugging Face model the next rollout loads, plus the DeepSpeed state.

Layout of a policy checkpoint (local folder or ``s3://`` prefix)::

    config.json, model*.safetensors, tokenizer/processor files   <- loadable by transformers/vLLM
    deepspeed/latest, deepspeed/state/...                       <- optimizer moments, step
    trainer_state.json                                          <- global step, round, algorithm
    metrics.jsonl, tensorboard/                                  <- this round's curves
    metrics_history.jsonl                                        <- every round's, so far
    manifest.json                                                <- written last (rlsd.storage)

Every rank writes what it owns (ZeRO partitions its optimizer state): on S3 each rank uploads
its own files and rank 0 writes the manifest after all have finished, so a reader never sees
a partial checkpoint, on one node or many.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import torch.distributed as dist

from rlsd.storage import upload_dir, write_manifest
from rlsd.storage.manifest import FileEntry
from rlsd.storage.uri import is_s3

DEEPSPEED_DIR = "deepspeed"
DEEPSPEED_TAG = "state"
TRAINER_STATE = "trainer_state.json"
#: The trainer state of a base model: no optimizer step taken, before round 0.
BASE_MODEL_STATE: dict[str, Any] = {"global_step": 0, "round": -1}


def read_trainer_state(policy_dir: Path) -> dict[str, Any]:
    """The previous round's trainer state, or the state of a fresh base model."""
    path = policy_dir / TRAINER_STATE
    if path.exists():
        return json.loads(path.read_text())
    return dict(BASE_MODEL_STATE)


def has_deepspeed_state(policy_dir: Path) -> bool:
    return (policy_dir / DEEPSPEED_DIR / "latest").exists()


def resumes_optimizer_state(policy_dir: Path, lora_rank: int) -> bool:
    """Whether a round from ``policy_dir`` continues its DeepSpeed optimizer state: yes when
    the checkpoint has one, except a fully fine-tuned checkpoint that a new LoRA adapter
    (``lora_rank > 0``) starts over; that state belongs to every weight, not to the adapter."""
    from rlsd.models.adapter import is_adapter_folder

    if not has_deepspeed_state(policy_dir):
        return False
    return not (lora_rank > 0 and not is_adapter_folder(policy_dir))


def check_resume(policy_dir: Path, world_size: int, lora_rank: int, label: str) -> None:
    """Before any model loads: :func:`check_resume_world_size` when the round continues the
    checkpoint's optimizer state (:func:`resumes_optimizer_state`); otherwise, for a fully
    fine-tuned checkpoint under a new adapter, rank 0 says so (``label``: the CLI's name).
    The step count, which drives lambda, carries on either way.

    Raises:
        ValueError: as :func:`check_resume_world_size`.
    """
    if resumes_optimizer_state(policy_dir, lora_rank):
        check_resume_world_size(policy_dir, world_size)
    elif has_deepspeed_state(policy_dir) and int(os.environ.get("RANK", "0")) == 0:
        print(f"{label}: {policy_dir} is a full fine-tuning checkpoint: a new LoRA adapter "
              "starts over its weights, with a new optimizer state", flush=True)


def check_resume_world_size(policy_dir: Path, world_size: int) -> None:
    """Refuse, before any model loads, to resume a ZeRO optimizer state written by another
    number of processes (DeepSpeed would fail after the load with its own traceback).

    Raises:
        ValueError: the state holds ZeRO partitions of N ranks and this job has another
            number; the message says how many processes to start.
    """
    shards = list((policy_dir / DEEPSPEED_DIR / DEEPSPEED_TAG).glob("zero_pp_rank_*_optim_states.pt"))
    if shards and len(shards) != world_size:
        raise ValueError(
            f"{policy_dir} holds an optimizer state partitioned over {len(shards)} processes; "
            f"this job has {world_size}: resume it with {len(shards)} processes "
            f"(torchrun --nproc-per-node {len(shards)} on one node)")


def staging_dir(output: str) -> Path:
    """Where ranks write before uploading: the output itself when it is local."""
    if not is_s3(output):
        path = Path(output)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return Path(tempfile.mkdtemp(prefix="rlsd-ckpt-"))


def _owner(rel: str) -> int:
    """The rank that wrote ``rel``: ZeRO shards name their rank, everything else is rank 0's."""
    match = re.search(r"zero_pp_rank_(\d+)_", rel)
    return int(match.group(1)) if match else 0


def save_round_checkpoint(
    engine: Any,
    tokenizer_or_processor: Any,
    output: str,
    staging: Path,
    trainer_state: dict[str, Any],
    rank: int,
    world_size: int,
) -> None:
    """Write the HF model (or, for a LoRA policy, its adapter), the DeepSpeed state and the
    trainer state; manifest last. A LoRA checkpoint leaves the frozen base weights out of the
    DeepSpeed state too: it holds megabytes, not the model."""
    adapter = is_lora_engine(engine)
    engine.save_checkpoint(str(staging / DEEPSPEED_DIR), tag=DEEPSPEED_TAG,
                           client_state={"trainer_state": trainer_state},
                           exclude_frozen_parameters=adapter)
    # ZeRO-3 holds shards only: the 16-bit gather is collective, so every rank calls it.
    state_dict = engine._zero3_consolidated_16bit_state_dict(exclude_frozen_parameters=adapter) \
        if engine.zero_optimization_stage() == 3 else None
    if rank == 0:
        module = engine.module
        # Training turned the KV cache off; the saved model is for generation, so turn it on.
        if getattr(module.config, "use_cache", None) is False:
            module.config.use_cache = True
        if state_dict is None:
            state_dict = {k: v.detach().to("cpu") for k, v in module.state_dict().items()
                          if not adapter or "lora_" in k}
        # A PeftModel saves adapter_config.json + adapter_model.safetensors only. The adapter
        # never trains embeddings: no need for PEFT's "auto" check, which looks the base's
        # config up on the Hugging Face hub (a network call, a warning when offline).
        extra = {"save_embedding_layers": False} if adapter else {}
        module.save_pretrained(str(staging), state_dict=state_dict, safe_serialization=True,
                               **extra)
        tokenizer_or_processor.save_pretrained(str(staging))
        (staging / TRAINER_STATE).write_text(json.dumps(trainer_state, indent=2))
    _barrier(world_size)
    metadata = {"kind": "policy", "round": trainer_state["round"],
                "step": trainer_state["global_step"], "algorithm": trainer_state.get("algorithm"),
                "parent": trainer_state.get("parent")}
    if not is_s3(output):
        if rank == 0:
            write_manifest(output, metadata)  # hashes every file, then writes manifest.json
        _barrier(world_size)
        return
    # Upload only the files this rank wrote (links into a private folder: no copies).
    mine = Path(tempfile.mkdtemp(prefix=f"rlsd-rank{rank}-"))
    try:
        for path in staging.rglob("*"):
            rel = path.relative_to(staging).as_posix()
            if path.is_file() and _owner(rel) == rank:
                target = mine / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                os.link(path, target)
        entries = upload_dir(mine, output, manifest=False).files if any(mine.rglob("*")) else []
        gathered: list[list[FileEntry]] = [[] for _ in range(world_size)]
        if world_size > 1:
            dist.all_gather_object(gathered, list(entries))
        else:
            gathered = [list(entries)]
        if rank == 0:
            write_manifest(output, metadata, files=[e for part in gathered for e in part])
        _barrier(world_size)
    finally:
        shutil.rmtree(mine, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)  # each rank staged in its own temp folder


def load_deepspeed_state(engine: Any, policy_dir: Path) -> dict[str, Any]:
    """Resume optimizer moments, scheduler and step from the previous round's checkpoint."""
    # A LoRA checkpoint's module state holds the adapter only; the base came from its base.
    _, client_state = engine.load_checkpoint(str(policy_dir / DEEPSPEED_DIR), tag=DEEPSPEED_TAG,
                                             load_module_strict=not is_lora_engine(engine),
                                             load_optimizer_states=True,
                                             load_lr_scheduler_states=True)
    if client_state is None:
        raise RuntimeError(f"DeepSpeed state under {policy_dir / DEEPSPEED_DIR} did not load")
    return client_state.get("trainer_state", {})


def is_lora_engine(engine: Any) -> bool:
    """True when the engine trains a LoRA adapter (its module is a ``peft.PeftModel``)."""
    from rlsd.train.lora import is_peft_model

    return is_peft_model(engine.module)


def _barrier(world_size: int) -> None:
    if world_size > 1 and dist.is_initialized():
        dist.barrier()

