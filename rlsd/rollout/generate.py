"""``generate_rollouts``: G sampled responses per prompt, as a rollouts table (stage 2).

The stage as a plain function of in-memory objects (design.md, "Layout"): a loaded policy
(transformers model, or a :class:`~rlsd.rollout.vllm_backend.VllmPolicy`), its tokenizer or
processor, and prompt rows. :func:`rlsd.rollout.run.run_rollout` and the CLI only load, call
this and save.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
from tqdm import tqdm

from rlsd.prompting import (
    check_context_fits,
    context_window,
    encode_student_prompt,
    is_multimodal,
    tokenizer_of,
)
from rlsd.rollout.config import RolloutConfig
from rlsd.rollout.responses import (
    build_rollout_table,
    empty_rollout_table,
    eos_token_ids,
)
from rlsd.rollout.selection import check_images_supported, check_prompt_rows, select_prompts
from rlsd.rollout.transformers_backend import generate_with_transformers
from rlsd.rollout.vllm_backend import VllmPolicy, generate_with_vllm
from rlsd.storage.progress import progress_enabled

#: What to change when prompts + max_new_tokens exceed the context window (rollout, evaluation).
GENERATION_REMEDY = "lower max_new_tokens or drop the long prompts (data prep's max_prompt_chars)"


def generate_rollouts(
    model: Any,
    processor: Any,
    prompt_rows: Sequence[Mapping[str, Any]],
    config: RolloutConfig,
    policy_step: int = 0,
) -> pa.Table:
    """Sample ``config.samples_per_prompt`` responses for this shard's prompts.

    ``prompt_rows`` are rows of the prompt schema (``id``, ``prompt`` or ``messages``,
    ``images`` for VLMs; other columns are ignored). The rows this call generates for are the
    first ``max_prompts`` rows, then every ``num_shards``-th from ``shard_index``
    (:func:`~rlsd.rollout.selection.select_prompts`). ``policy_step`` is recorded on every row
    and keys the sampler's seed together with ``config.seed`` (so rounds draw afresh).

    Returns a table in :data:`rlsd.schemas.ROLLOUT_SCHEMA`, ordered by prompt (table order)
    then ``sample_index``; empty when this shard has no prompts.

    Before any generation, every prompt's tokens plus ``config.max_new_tokens`` are checked
    against the model's context window (:func:`rlsd.prompting.context_window`): a prompt
    that does not fit is refused, never generated for or silently dropped.

    Raises:
        RolloutError: no rows, missing or duplicate ids, a row without a question, or images
            for a text-only policy.
        ContextLengthError: prompt tokens + ``max_new_tokens`` exceed the context window
            (a :class:`~rlsd.prompting.PromptError`; the message counts them and names the
            longest).
        PromptError: a row cannot be rendered through the chat template.
    """
    config.validate()
    check_prompt_rows(prompt_rows)
    selected = select_prompts(prompt_rows, config.max_prompts, config.shard_index,
                              config.num_shards)
    if not selected:
        return empty_rollout_table()
    rows = [row for _, row in selected]
    check_images_supported(rows, is_multimodal(processor))
    tokenizer = tokenizer_of(processor)
    encoded = [encode_student_prompt(processor, row) for row in rows]
    # A transformers model and a VllmPolicy both carry the transformers config.
    check_context_fits([f"prompt {row['id']!r}" for row in rows],
                       [len(e.input_ids) for e in encoded], config.max_new_tokens,
                       context_window(model.config, tokenizer), stage="rollout",
                       remedy=GENERATION_REMEDY)

    if isinstance(model, VllmPolicy):
        eos = eos_token_ids(tokenizer, model.generation_eos)
        groups = generate_with_vllm(model, encoded, rows, [i for i, _ in selected], config, eos,
                                    (config.seed, policy_step), progress=progress_enabled())
    else:
        eos = eos_token_ids(tokenizer, model.generation_config.eos_token_id)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos[0]
        total = len(rows) * config.samples_per_prompt
        with tqdm(total=total, desc="rollout", unit="sample",
                  disable=not progress_enabled()) as bar:
            groups = generate_with_transformers(
                model, encoded, config, eos, pad_id,
                seed_parts=(config.seed, policy_step, config.shard_index), on_batch=bar.update)
    return build_rollout_table([str(row["id"]) for row in rows],
                               [e.input_ids for e in encoded], groups, tokenizer, policy_step)
