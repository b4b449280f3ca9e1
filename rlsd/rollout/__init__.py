"""Rollout generation (design.md stage 2): sample G responses per prompt from the policy.

- :func:`generate_rollouts` (in-memory: model, processor, prompt rows -> rollouts table),
- :func:`run_rollout` (load policy and prompts, generate, write), and the CLI
  ``python -m rlsd.rollout``;
- :class:`RolloutConfig`: G, temperature, top-p, max_new_tokens, seed, batching, backend,
  sharding (shard ``k`` of ``n`` takes prompts ``k::n``).

Backends: transformers ``generate`` everywhere; vLLM when installed and a GPU is present
(``backend=auto``). The output is :data:`rlsd.schemas.ROLLOUT_SCHEMA` either way.
"""

from rlsd.rollout.backend import choose_backend, select_backend, vllm_installed
from rlsd.rollout.config import RolloutConfig
from rlsd.rollout.errors import BackendUnavailableError, RolloutError
from rlsd.rollout.generate import generate_rollouts
from rlsd.rollout.responses import SampledResponse, eos_token_ids, trim_at_eos
from rlsd.rollout.run import RolloutResult, read_prompt_rows, run_rollout
from rlsd.rollout.selection import select_prompts
from rlsd.rollout.summary import RolloutSummary, summarize

__all__ = [
    "BackendUnavailableError",
    "RolloutConfig",
    "RolloutError",
    "RolloutResult",
    "RolloutSummary",
    "SampledResponse",
    "choose_backend",
    "eos_token_ids",
    "generate_rollouts",
    "read_prompt_rows",
    "run_rollout",
    "select_backend",
    "select_prompts",
    "summarize",
    "trim_at_eos",
    "vllm_installed",
]
