"""DeepSpeed set-up: the distributed backend, the generated config, the engine.

On GPU: NCCL, bf16 with fp32 master weights in the ZeRO optimizer, DeepSpeed's fused AdamW.
On CPU (``DS_ACCELERATOR=cpu``, tests and laptops): gloo, fp32, and torch's AdamW passed in
as a client optimizer, which spares the ~60 s compile of DeepSpeed's CPU Adam op.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
import yaml

from rlsd.train.config import TrainConfig


def on_gpu() -> bool:
    return torch.cuda.is_available() and os.environ.get("DS_ACCELERATOR", "cuda") != "cpu"


def init_distributed() -> tuple[int, int, int]:
    """Start torch.distributed the way torchrun and the PyTorchJob operator expect.

    Returns (rank, world_size, local_rank). Works without a launcher too (one process).
    """
    if not on_gpu():
        os.environ.setdefault("DS_ACCELERATOR", "cpu")
    # torch 2.13: dynamo must be imported before deepspeed.zero.Init touches it.
    import deepspeed
    import torch._dynamo  # noqa: F401

    for key, default in (("RANK", "0"), ("WORLD_SIZE", "1"), ("LOCAL_RANK", "0"),
                         ("MASTER_ADDR", "127.0.0.1"), ("MASTER_PORT", "29500")):
        os.environ.setdefault(key, default)
    deepspeed.init_distributed(dist_backend="nccl" if on_gpu() else "gloo")
    local_rank = int(os.environ["LOCAL_RANK"])
    if on_gpu():
        torch.cuda.set_device(local_rank)
    return int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), local_rank


def use_bf16(precision: str) -> bool:
    """``auto`` means bf16 on GPU and fp32 on CPU (CPU bf16 is slow and imprecise)."""
    return precision == "bf16" or (precision == "auto" and on_gpu())


def deepspeed_config(cfg: TrainConfig, world_size: int, grad_accum: int) -> dict[str, Any]:
    """The DeepSpeed config for one round, with a user file merged over it."""
    ds: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": 1,  # micro-batches are sized by tokens, not rows
        "gradient_accumulation_steps": grad_accum,
        "train_batch_size": grad_accum * world_size,
        "gradient_clipping": cfg.grad_clip,
        "zero_optimization": {
            "stage": cfg.zero_stage,
            "overlap_comm": on_gpu(),
            "contiguous_gradients": True,
            # ZeRO-3 keeps shards only; gather a full 16-bit copy for the HF save.
            "stage3_gather_16bit_weights_on_model_save": True,
        },
        "bf16": {"enabled": use_bf16(cfg.precision)},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if on_gpu():
        ds["optimizer"] = {"type": "AdamW", "params": {
            "lr": cfg.learning_rate, "weight_decay": cfg.weight_decay,
            "betas": [cfg.adam_beta1, cfg.adam_beta2], "eps": cfg.adam_eps}}
    if cfg.deepspeed_config:
        text = Path(cfg.deepspeed_config).read_text()
        user = json.loads(text) if cfg.deepspeed_config.endswith(".json") else yaml.safe_load(text)
        _merge(ds, user)
    return ds


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value


def install_safe_state(engine) -> None:
    from rlsd.train.safe_state import install

    install(engine)


def build_engine(model: torch.nn.Module, cfg: TrainConfig, world_size: int, grad_accum: int):
    """Wrap ``model`` in a DeepSpeed engine; returns the engine."""
    import deepspeed

    ds = deepspeed_config(cfg, world_size, grad_accum)
    optimizer = None
    if "optimizer" not in ds:
        optimizer = torch.optim.AdamW(
            [p for p in model.parameters() if p.requires_grad], lr=cfg.learning_rate,
            weight_decay=cfg.weight_decay, betas=(cfg.adam_beta1, cfg.adam_beta2), eps=cfg.adam_eps)
    # Only trainable parameters reach the optimizer (with LoRA: the adapter's).
    trainable = [p for p in model.parameters() if p.requires_grad]
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=ds,
                                      model_parameters=None if optimizer else trainable)
    install_safe_state(engine)  # checkpoints hold safetensors + JSON, never pickles
    _drop_frozen_aliases(engine)
    return engine


def _drop_frozen_aliases(engine: Any) -> None:
    """Make ``exclude_frozen_parameters`` exclude every frozen weight.

    DeepSpeed (0.19) drops the frozen parameters by their names in ``named_parameters()``,
    which lists a tied weight once: the alias (``lm_head.weight`` tied to the input
    embeddings) stayed in a LoRA checkpoint, a full vocabulary x hidden matrix. Entries that
    share storage with a frozen parameter are dropped as well.
    """
    original = engine.module_state_dict

    def module_state_dict(*args: Any, exclude_frozen_parameters: bool = False, **kwargs: Any):
        state = original(*args, exclude_frozen_parameters=exclude_frozen_parameters, **kwargs)
        if exclude_frozen_parameters:
            frozen = {p.data_ptr() for p in engine.module.parameters() if not p.requires_grad}
            for key in [k for k, v in state.items()
                        if torch.is_tensor(v) and v.data_ptr() in frozen]:
                del state[key]
        return state

    engine.module_state_dict = module_state_dict
