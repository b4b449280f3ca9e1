"""Which generation backend runs: vLLM where it pays off, transformers everywhere else.

``auto`` picks vLLM only when it is installed *and* a CUDA GPU is present (vLLM's paged KV
cache and continuous batching are what make G x 4096-token rollouts affordable at 8B scale);
on a laptop or CPU-only CI it falls back to transformers ``generate``, which gives the same
table. Asking for ``vllm`` explicitly without it installed is an error, never a silent
fallback: the caller asked for a specific sampler.
"""

from __future__ import annotations

import importlib.util

import torch

from rlsd.rollout.errors import BackendUnavailableError

VLLM_EXTRA_HINT = "pip install 'rlsd-kubeflow[vllm]'"


def vllm_installed() -> bool:
    """Whether the ``vllm`` package can be imported (checked without importing it)."""
    return importlib.util.find_spec("vllm") is not None


def choose_backend(requested: str, vllm_available: bool, gpu_available: bool) -> str:
    """``"transformers"`` or ``"vllm"`` for a requested backend and what this host has.

    Raises:
        BackendUnavailableError: ``vllm`` was requested and is not installed.
        ValueError: ``requested`` is not ``auto``, ``transformers`` or ``vllm``.
    """
    if requested == "transformers":
        return "transformers"
    if requested == "vllm":
        if not vllm_available:
            raise BackendUnavailableError(
                f"backend 'vllm' was requested but vLLM is not installed: {VLLM_EXTRA_HINT} "
                "(or use backend=auto / transformers)")
        return "vllm"
    if requested == "auto":
        return "vllm" if vllm_available and gpu_available else "transformers"
    raise ValueError(f"unknown backend {requested!r}; use auto, transformers or vllm")


def select_backend(requested: str) -> str:
    """:func:`choose_backend` for this host (vLLM installed? a CUDA GPU visible?)."""
    return choose_backend(requested, vllm_installed(), torch.cuda.is_available())
