"""Self-distillation scoring (design.md, "The algorithm").

For every sampled response y (token ids from the rollouts table, never re-tokenised):

    s_t = log π_old(y_t | x, y_<t)          behaviour policy, student prompt x
    τ_t = log π_T(y_t | x ⊕ hint, y_<t)     self-teacher: same weights (or a frozen copy),
                                            privileged prompt with the reference hint

Both come from :func:`rlsd.sequences.response_logprobs`, the function the trainer uses, so the
numerics match. Rows are batched by a token budget (sorted by length) to keep padding small.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import torch
from tqdm.auto import tqdm

from rlsd.prompting import (
    EncodedPrompt,
    check_context_fits,
    context_window,
    encode_student_prompt,
    encode_teacher_prompt,
    is_multimodal,
    tokenizer_of,
)
from rlsd.schemas import SCORE_SCHEMA, response_digest
from rlsd.score.config import ScoreConfig
from rlsd.sequences import collate, response_logprobs, token_budget_batches


class ScoringError(ValueError):
    """Scoring inputs do not fit together; the message names the row and the problem."""


#: What to change when a teacher prompt + its response exceeds the context window.
TEACHER_REMEDY = ("shorten the teacher prompt (hint_source=answer, or a shorter "
                  "teacher_template) or lower the rollout's max_new_tokens")
#: What to change when a student prompt + its response exceeds the context window.
BEHAVIOUR_REMEDY = ("lower the rollout's max_new_tokens or drop the long prompts (data prep's "
                    "max_prompt_chars), and score with the model that made the rollouts")


def check_same_vocabulary(policy_processor: Any, teacher_processor: Any) -> None:
    """A separate teacher (OPD) must share the policy's tokenizer: Δ compares token by token."""
    a, b = tokenizer_of(policy_processor), tokenizer_of(teacher_processor)
    if a is b:
        return
    if len(a) != len(b) or a.eos_token_id != b.eos_token_id or a.get_vocab() != b.get_vocab():
        raise ScoringError("the teacher's tokenizer differs from the policy's: per-token "
                           "log-probs cannot be compared; use a teacher of the same family")


def _student_prompt(processor: Any, row: Mapping[str, Any], prompt_ids: list[int]) -> EncodedPrompt:
    if not is_multimodal(processor):
        return EncodedPrompt(input_ids=prompt_ids)
    enc = encode_student_prompt(processor, row)
    if enc.input_ids != prompt_ids:
        raise ScoringError(f"prompt {row.get('id')!r} encodes to other token ids than the "
                           f"rollout's (another processor or chat template?)")
    return enc


@torch.no_grad()
def _logprobs_for(model: torch.nn.Module, prompts: list[EncodedPrompt], responses: list[list[int]],
                  pad_id: int, device: torch.device) -> list[list[float]]:
    batch = collate(prompts, responses, pad_id).to(device)
    logprobs, _ = response_logprobs(model, batch)
    logprobs = logprobs.float().cpu()
    return [logprobs[i, : len(r)].tolist() for i, r in enumerate(responses)]


def score_rollouts(
    policy: torch.nn.Module | None,
    processor: Any,
    rollouts: pa.Table,
    prompt_rows: Mapping[str, Mapping[str, Any]],
    config: ScoreConfig,
    teacher: torch.nn.Module | None = None,
    teacher_processor: Any | None = None,
    with_teacher: bool = True,
    teacher_step: int = 0,
    progress: bool | None = None,
) -> pa.Table:
    """The scores table (:data:`rlsd.schemas.SCORE_SCHEMA`) of ``rollouts``.

    ``teacher=None`` uses ``policy`` as its own teacher (K = 0, the live policy, or the
    policy checkpoint that is also the frozen teacher this round). ``with_teacher=False``
    (GRPO) records only the behaviour log-probs; ``config.behaviour_logprobs=False`` only the
    teacher's (``old_logprobs`` null). ``policy`` may be None when only a separate
    ``teacher`` runs (behaviour log-probs off); ``processor`` still encodes the student prompts.

    Before any forward pass, every sequence a pass will run is checked against that model's
    context window (:func:`rlsd.prompting.check_context_fits`): teacher prompt + response for
    the teacher pass, student prompt + response for the behaviour pass.

    Raises:
        ScoringError: the inputs do not fit together (unknown prompt, digest mismatch, ...).
        ContextLengthError: a pass's prompt + response exceeds its model's context window
            (a :class:`~rlsd.prompting.PromptError`; the message counts them and names the
            longest).
        PromptError: a teacher prompt cannot be rendered (no hint, bad template).
    """
    if not (with_teacher or config.behaviour_logprobs):
        raise ScoringError("nothing to score: no teacher log-probs for this algorithm and "
                           "behaviour_logprobs is off")
    if policy is None and (config.behaviour_logprobs or teacher is None):
        raise ScoringError("scoring needs the policy model for the behaviour log-probs or as "
                           "its own teacher")
    teacher = policy if teacher is None else teacher
    teacher_processor = processor if teacher_processor is None else teacher_processor
    if with_teacher and teacher is not policy:
        check_same_vocabulary(processor, teacher_processor)
    rows = rollouts.to_pylist()
    if not rows:
        raise ScoringError("rollouts table is empty: nothing to score")
    for row in rows:
        if row["prompt_id"] not in prompt_rows:
            raise ScoringError(f"rollout prompt {row['prompt_id']!r} is not in the prompts table")
        if response_digest(row["response_token_ids"]) != row["response_digest"]:
            raise ScoringError(f"rollout prompt {row['prompt_id']!r} sample "
                               f"{row['sample_index']}: token ids do not match their digest")

    device = next(policy.parameters()).device if policy is not None else None
    pad_id = tokenizer_of(processor).pad_token_id
    students: dict[str, EncodedPrompt] = {}
    teachers: dict[str, EncodedPrompt] = {}
    for row in rows:
        pid = row["prompt_id"]
        if pid not in students:
            students[pid] = _student_prompt(processor, prompt_rows[pid], list(row["prompt_token_ids"]))
            if with_teacher:
                teachers[pid] = encode_teacher_prompt(
                    teacher_processor, prompt_rows[pid], config.teacher_template,
                    config.hint_source, with_hint=config.teacher_hint)

    labels = [f"prompt {r['prompt_id']!r} sample {r['sample_index']}" for r in rows]
    response_lengths = [len(r["response_token_ids"]) for r in rows]
    if config.behaviour_logprobs:
        check_context_fits(labels, [len(students[r["prompt_id"]].input_ids) for r in rows],
                           response_lengths, context_window(policy.config, tokenizer_of(processor)),
                           stage="behaviour scoring", remedy=BEHAVIOUR_REMEDY)
    if with_teacher:
        check_context_fits(labels, [len(teachers[r["prompt_id"]].input_ids) for r in rows],
                           response_lengths,
                           context_window(teacher.config, tokenizer_of(teacher_processor)),
                           stage="teacher scoring", remedy=TEACHER_REMEDY)

    old: list[list[float] | None] = [None] * len(rows)
    taught: list[list[float] | None] = [None] * len(rows)
    lengths = [len(students[r["prompt_id"]].input_ids) + len(r["response_token_ids"]) for r in rows]
    batches = token_budget_batches(lengths, config.micro_batch_tokens)
    with tqdm(total=len(rows), desc="score", unit="resp", disable=progress is False) as bar:
        for idx in batches:
            responses = [list(rows[i]["response_token_ids"]) for i in idx]
            student_prompts = [students[rows[i]["prompt_id"]] for i in idx]
            if config.behaviour_logprobs:
                for i, lp in zip(idx, _logprobs_for(policy, student_prompts, responses, pad_id,
                                                    device), strict=True):
                    old[i] = lp
            if with_teacher:
                teacher_prompts = [teachers[rows[i]["prompt_id"]] for i in idx]
                teacher_pad = tokenizer_of(teacher_processor).pad_token_id
                t_device = next(teacher.parameters()).device
                for i, lp in zip(idx, _logprobs_for(teacher, teacher_prompts, responses,
                                                    teacher_pad, t_device), strict=True):
                    taught[i] = lp
            bar.update(len(idx))

    return pa.Table.from_pylist([
        {
            "prompt_id": r["prompt_id"],
            "sample_index": int(r["sample_index"]),
            "response_digest": r["response_digest"],
            "response_length": len(r["response_token_ids"]),
            "old_logprobs": old[i],
            "teacher_logprobs": taught[i],
            "teacher_step": int(teacher_step),
        }
        for i, r in enumerate(rows)
    ], schema=SCORE_SCHEMA)
