"""``run_rollout``: load the policy and prompts, call :func:`generate_rollouts`, save the table.

Everything that can be checked without the model is checked first, in this order: settings,
the prompts table (readable, in the prompt schema, usable ids and questions), the backend
(vLLM installed if asked for), the policy reference (a complete model folder, downloaded first for ``s3://``/hub references). Only then
is a model loaded; a shard that got no prompts writes an empty table without loading one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from rlsd.data.errors import DataError
from rlsd.data.schema import conform_prompt_table
from rlsd.models import load_policy, resolve_model
from rlsd.phases import phase
from rlsd.rollout.backend import select_backend
from rlsd.rollout.config import RolloutConfig
from rlsd.rollout.errors import RolloutError
from rlsd.rollout.generate import generate_rollouts
from rlsd.rollout.responses import empty_rollout_table
from rlsd.rollout.selection import check_prompt_rows, select_prompts
from rlsd.rollout.summary import RolloutSummary, summarize
from rlsd.schemas import ROLLOUT_SCHEMA
from rlsd.storage import read_table, write_table
from rlsd.train.checkpoint import read_trainer_state


@dataclass
class RolloutResult:
    table: pa.Table  # ROLLOUT_SCHEMA
    summary: RolloutSummary
    backend: str  # "transformers" or "vllm"
    policy_step: int


def read_prompt_table(prompts_uri: str | os.PathLike[str]) -> pa.Table:
    """A prompts table (local or ``s3://``), conformed to the prompt schema and checked for
    rollout (the staged rollout and the fused loop read their prompts here).

    Raises:
        RolloutError: the table does not match the prompt schema, is empty, or has unusable
            rows (named).
        StorageError: it cannot be read.
    """
    where = os.fspath(prompts_uri)
    try:
        table = conform_prompt_table(read_table(where))
    except DataError as exc:
        raise RolloutError(f"{where}: {exc}") from None
    check_prompt_rows(table.to_pylist(), where)
    return table


def read_prompt_rows(prompts_uri: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The rows of :func:`read_prompt_table` (raises as it does)."""
    return read_prompt_table(prompts_uri).to_pylist()


def policy_step_of(model_dir: Path) -> int:
    """The trainer's ``global_step`` that produced a checkpoint (0 for a base model)."""
    return int(read_trainer_state(Path(model_dir)).get("global_step", 0))


def load_for_rollout(model_dir: Path, backend: str, config: RolloutConfig,
                     max_images: int = 0) -> tuple[Any, Any]:
    """``(model, tokenizer_or_processor)`` for ``backend``; for vLLM the model is a
    :class:`~rlsd.rollout.vllm_backend.VllmPolicy` and the processor is still transformers'
    (prompts are encoded by :mod:`rlsd.prompting` either way)."""
    if backend == "transformers":
        return load_policy(model_dir, dtype=config.dtype)
    from rlsd.models import load_tokenizer_or_processor
    from rlsd.models.adapter import export_merged, is_adapter_folder
    from rlsd.rollout.vllm_backend import load_vllm_policy

    processor = load_tokenizer_or_processor(model_dir)
    if not is_adapter_folder(model_dir):
        return load_vllm_policy(model_dir, config, max_images=max_images), processor
    # A LoRA checkpoint: vLLM loads the adapter merged into its base (a temporary plain
    # folder, removed once the engine holds the weights). Never run: no GPU here.
    merged = Path(tempfile.mkdtemp(prefix="rlsd-merged-"))
    try:
        export_merged(model_dir, merged)
        return load_vllm_policy(merged, config, max_images=max_images), processor
    finally:
        shutil.rmtree(merged, ignore_errors=True)


def run_rollout(
    policy_ref: str | os.PathLike[str],
    prompts_uri: str | os.PathLike[str],
    output_uri: str | os.PathLike[str],
    config: RolloutConfig,
) -> RolloutResult:
    """Generate this shard's rollouts for ``prompts_uri`` and write them to ``output_uri``.

    ``policy_ref`` is ``"default"``, a model folder, an ``s3://`` checkpoint prefix or a hub
    id (:func:`rlsd.models.resolve_model`). ``policy_step`` comes from the checkpoint's
    ``trainer_state.json`` (0 for a base model).
    """
    config.validate()
    with phase("read"):
        rows = read_prompt_rows(prompts_uri)
    backend = select_backend(config.backend)
    with phase("resolve"):
        model_dir = resolve_model(policy_ref)
    policy_step = policy_step_of(model_dir)
    selected = select_prompts(rows, config.max_prompts, config.shard_index, config.num_shards)
    if not selected:
        table = empty_rollout_table()
        write_table(table, output_uri, schema=ROLLOUT_SCHEMA)
        return RolloutResult(table, summarize(table, 0.0), backend, policy_step)
    max_images = max(len(row.get("images") or []) for _, row in selected)
    with phase("load"):
        model, processor = load_for_rollout(model_dir, backend, config, max_images)
    start = time.perf_counter()
    with phase("compute"):
        table = generate_rollouts(model, processor, rows, config, policy_step)
    seconds = time.perf_counter() - start
    with phase("write"):
        write_table(table, output_uri, schema=ROLLOUT_SCHEMA)
    return RolloutResult(table, summarize(table, seconds), backend, policy_step)
