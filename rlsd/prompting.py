"""Student and teacher prompts, rendered once and kept as token ids.

The student sees the task as the data set states it. The self-teacher (design.md, "The
algorithm") is the same model given privileged context: the question, "Here is a reference
solution: {hint}", and an instruction to solve it in its own way. Images stay in the teacher
prompt for vision-language models.

Both prompts are encoded through the model's chat template (and, for VLMs, its processor,
which expands each image placeholder into the right number of image tokens). Later stages
append the sampled response's token ids to either prompt: nothing is ever re-tokenised from
joined text, so the response tokens are identical in both contexts.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

DEFAULT_TEACHER_TEMPLATE = (
    "{question}\n\n"
    "Here is a reference solution: {hint}\n\n"
    "After reading the reference solution, solve the problem in your own way, "
    "reasoning step by step, and give the final answer in the required format."
)


class PromptError(ValueError):
    """A prompt row cannot be rendered; the message names the row and the problem."""


@dataclass
class EncodedPrompt:
    """A prompt as the model sees it.

    ``input_ids`` are the prompt's token ids (image placeholders already expanded).
    ``vision`` holds the processor's image tensors for this one prompt (``pixel_values``,
    ``image_grid_thw``); empty for text-only models. ``mm_token_type_ids`` marks the image
    tokens of a VLM prompt (Qwen-VL computes its M-RoPE positions from it).
    """

    input_ids: list[int]
    vision: dict[str, torch.Tensor] = field(default_factory=dict)
    mm_token_type_ids: list[int] | None = None


def question_text(row: Mapping[str, Any]) -> str:
    """The task text of a prompt row: ``prompt``, or the last user turn of ``messages``."""
    if row.get("prompt"):
        return str(row["prompt"])
    for message in reversed(row.get("messages") or []):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    raise PromptError(f"prompt {row.get('id')!r} has neither a prompt nor a user message")


def hint_text(row: Mapping[str, Any], hint_source: str = "auto") -> str:
    """The privileged context: the reference solution when the data has one, else the answer.

    ``hint_source``: ``auto`` (solution if present, else answer), ``answer`` or ``solution``.
    """
    if hint_source not in ("auto", "answer", "solution"):
        raise PromptError(f"hint_source must be auto, answer or solution, got {hint_source!r}")
    solution = row.get("solution")
    if hint_source == "solution" or (hint_source == "auto" and solution):
        if not solution:
            raise PromptError(f"prompt {row.get('id')!r} has no reference solution for the hint")
        return str(solution)
    answer = row.get("answer")
    if answer in (None, ""):
        raise PromptError(f"prompt {row.get('id')!r} has no reference answer for the hint")
    return str(answer)


def student_messages(row: Mapping[str, Any], with_images: bool = False) -> list[dict[str, Any]]:
    """Chat messages for the student: the row's own messages, or one user turn."""
    if row.get("messages"):
        messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    else:
        messages = [{"role": "user", "content": question_text(row)}]
    return _attach_images(messages, len(row.get("images") or []) if with_images else 0)


def teacher_messages(
    row: Mapping[str, Any],
    template: str = DEFAULT_TEACHER_TEMPLATE,
    hint_source: str = "auto",
    with_images: bool = False,
) -> list[dict[str, Any]]:
    """Chat messages for the self-teacher: the last user turn rewritten with the hint."""
    messages = student_messages(row, with_images=False)
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    messages[last_user] = {
        "role": "user",
        "content": template.format(question=messages[last_user]["content"],
                                   hint=hint_text(row, hint_source)),
    }
    return _attach_images(messages, len(row.get("images") or []) if with_images else 0)


def _attach_images(messages: list[dict[str, Any]], n_images: int) -> list[dict[str, Any]]:
    """Put ``n_images`` image parts before the text of the first user turn (Qwen-VL style)."""
    if n_images == 0:
        return messages
    first_user = min(i for i, m in enumerate(messages) if m["role"] == "user")
    text = messages[first_user]["content"]
    parts: list[dict[str, Any]] = [{"type": "image"} for _ in range(n_images)]
    parts.append({"type": "text", "text": text})
    messages = list(messages)
    messages[first_user] = {"role": "user", "content": parts}
    return messages


def decode_images(images: Sequence[bytes] | None) -> list[Any]:
    """Decode stored image bytes (PNG/JPEG) to RGB PIL images."""
    from PIL import Image

    return [Image.open(io.BytesIO(data)).convert("RGB") for data in images or []]


def is_multimodal(processor: Any) -> bool:
    """True for a VLM processor (it carries an image processor), False for a plain tokenizer."""
    return getattr(processor, "image_processor", None) is not None


def encode_messages(
    processor: Any, messages: list[dict[str, Any]], images: Sequence[bytes] | None = None
) -> EncodedPrompt:
    """Render ``messages`` through the chat template, ready for generation.

    For a VLM processor the images are decoded and processed with the text so that the
    image placeholders expand to the right number of tokens.
    """
    if not is_multimodal(processor):
        ids = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                            return_dict=True)["input_ids"]
        return EncodedPrompt(input_ids=list(ids))
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    pil_images = decode_images(images)
    batch = processor(text=[text], images=pil_images or None, return_tensors="pt")
    vision = {k: batch[k] for k in ("pixel_values", "image_grid_thw") if k in batch}
    types = batch["mm_token_type_ids"][0].tolist() if "mm_token_type_ids" in batch else None
    return EncodedPrompt(input_ids=batch["input_ids"][0].tolist(), vision=vision,
                         mm_token_type_ids=types)


def encode_student_prompt(processor: Any, row: Mapping[str, Any]) -> EncodedPrompt:
    """The student prompt of one data row."""
    multimodal = is_multimodal(processor)
    return encode_messages(processor, student_messages(row, with_images=multimodal),
                           row.get("images") if multimodal else None)


def encode_teacher_prompt(
    processor: Any,
    row: Mapping[str, Any],
    template: str = DEFAULT_TEACHER_TEMPLATE,
    hint_source: str = "auto",
    with_hint: bool = True,
) -> EncodedPrompt:
    """The teacher prompt of one data row; ``with_hint=False`` gives the OPD teacher's prompt."""
    if not with_hint:
        return encode_student_prompt(processor, row)
    multimodal = is_multimodal(processor)
    messages = teacher_messages(row, template, hint_source, with_images=multimodal)
    return encode_messages(processor, messages, row.get("images") if multimodal else None)
