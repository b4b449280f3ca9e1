"""Colocated vLLM rollout for the fused loop (GPU hosts with the ``vllm`` extra).

Every torchrun rank keeps a vLLM engine in its own process, on its own GPU, next to the
DeepSpeed engine (vLLM's ``external_launcher`` executor: one engine per rank, no extra
processes). The engine sleeps during the update (``sleep(level=2)`` frees its weights and KV
cache) and wakes for the next round's rollout, when the policy's current weights are loaded
into it (``load_weights``) and its prefix cache is cleared. Generation then goes through
:func:`rlsd.rollout.generate_rollouts` with a :class:`~rlsd.rollout.vllm_backend.VllmPolicy`,
exactly as a staged rollout with the vLLM backend (same per-prompt seeds, same table).

**Never run here:** the development machines have no GPU, and no GPU machine was lent when
this was written. The calls follow vLLM's documented sleep-mode and external-launcher APIs
and the weight-sync path TRL's colocated mode uses; the first GPU run should check rollout
token ids against the transformers path at temperature 0 before trusting it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from rlsd.rollout.config import RolloutConfig
from rlsd.rollout.vllm_backend import _VLLM_DTYPES, VllmPolicy, _import_vllm


class ColocatedVllm:
    """A sleeping vLLM engine in this process that samples with the live policy's weights."""

    def __init__(self, model_dir: Path, config: RolloutConfig, memory_fraction: float,
                 max_model_len: int | None = None) -> None:
        """Start the engine on ``model_dir`` (the loop's starting policy), then put it to sleep.

        ``memory_fraction`` is vLLM's ``gpu_memory_utilization``: the share of the GPU its
        weights and KV cache may take while awake (the trainer's memory is freed to it only
        in the sense that the update and the rollout never run at the same time).
        """
        from transformers import AutoConfig, GenerationConfig

        vllm = _import_vllm()
        kwargs: dict[str, Any] = {
            "model": str(model_dir), "seed": config.seed, "dtype": _VLLM_DTYPES[config.dtype],
            "enable_sleep_mode": True, "gpu_memory_utilization": memory_fraction,
            "distributed_executor_backend": "external_launcher", "tensor_parallel_size": 1}
        if max_model_len:
            kwargs["max_model_len"] = max_model_len
        self.llm = vllm.LLM(**kwargs)
        try:
            eos = GenerationConfig.from_pretrained(model_dir).eos_token_id
        except OSError:
            eos = None
        self.policy = VllmPolicy(
            llm=self.llm, model_dir=Path(model_dir),
            generation_eos=[] if eos is None else ([eos] if isinstance(eos, int) else list(eos)),
            config=AutoConfig.from_pretrained(model_dir))
        self.llm.sleep(level=2)

    def wake_with(self, module: torch.nn.Module) -> VllmPolicy:
        """Wake the engine and load ``module``'s current weights into it (ZeRO stage <= 2:
        every rank holds the full weights); returns the policy to generate with."""
        self.llm.wake_up()
        runner = self.llm.llm_engine.model_executor.driver_worker.model_runner.model
        with torch.no_grad():
            runner.load_weights((name, param.detach()) for name, param in module.named_parameters())
        self.llm.reset_prefix_cache()
        return self.policy

    def sleep(self) -> None:
        """Free the engine's weights and KV cache for the update."""
        self.llm.sleep(level=2)
