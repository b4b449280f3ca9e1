"""Student and teacher prompts, rendered once and kept as token ids.

The student sees the task as the data set states it. The self-teacher (design.md, "The
algorithm") is the same model given privileged context: the question, "Here is a reference
solution: {hint}", and an instruction to solve it in its own way. Images stay in the teacher
prompt for vision-language models.

Both prompts are encoded through the model's chat template (and, for VLMs, its processor,
which expands each image placeholder into the right number of image tokens). Later stages
append the sampled response's token ids to either prompt: nothing is ever re-tokenised from
joined text, so the response tokens are identical in both contexts.

Three rules every stage gets from here (rollout, scoring, training and evaluation all encode
through this module):

- **Templates** (:func:`render_template`): a prompt template holds named ``{slot}``
  placeholders, each exactly once; every other character, braces included (``\\boxed{}``,
  ``\\frac{a}{b}``), is literal text. A free-standing ``{name}`` that is not a slot is refused
  as an unknown placeholder (a typo such as ``{hnit}`` or ``{answer}``).
- **One BOS** (:func:`encode_messages`): the chat template's text is tokenised without the
  tokenizer's own special tokens, then the prompt starts with exactly one BOS token when the
  model uses one (its template writes it or its tokenizer adds it to plain text), whatever
  the template and processor do; none when neither does.
- **Context window** (:func:`check_context_fits`): prompt tokens plus the tokens that will
  follow them must fit :func:`context_window`, or the stage refuses before any generation
  or forward pass.

Importing this module does not import torch (data prep may use the template renderer).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

DEFAULT_TEACHER_TEMPLATE = (
    "{question}\n\n"
    "Here is a reference solution: {hint}\n\n"
    "After reading the reference solution, solve the problem in your own way, "
    "reasoning step by step, and give the final answer in the required format."
)


#: The slots of the teacher template (``ScoreConfig.teacher_template``).
TEACHER_SLOTS = ("question", "hint")

#: What settings checks render a template with (:func:`check_teacher_template`).
SAMPLE_ROW: dict[str, Any] = {"id": "sample", "prompt": "What is 1 + 1?", "answer": "2",
                              "solution": "1 + 1 = 2, so the answer is 2."}

# ``{name}`` with an identifier inside; anything else in braces is never a placeholder.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# A brace group glued to what precedes it is LaTeX (``\boxed{x}``, ``\frac{a}{b}``, ``x^{n}``),
# not a placeholder, when its name is not a slot.
_GLUED = frozenset("\\^_{}$")

# Config fields that hold a model's context window, in the order they are trusted.
_CONTEXT_FIELDS = ("max_position_embeddings", "n_positions", "max_sequence_length",
                   "seq_length", "n_ctx", "max_seq_len")
# RoPE kinds whose max_position_embeddings is already the extended window.
_UNSCALED_ROPE = frozenset({"default", "llama3", "longrope", "su", "mrope"})
# transformers writes int(1e30) as model_max_length when a tokenizer does not know its limit.
_SENSIBLE_TOKENIZER_LIMIT = 10**8


class PromptError(ValueError):
    """A prompt row cannot be rendered; the message names the row and the problem."""


class ContextLengthError(PromptError):
    """Prompts plus the tokens to follow them exceed the model's context window."""


def check_template(template: str, slots: Sequence[str], name: str = "template") -> None:
    """Check ``template`` against the placeholder rule (see the module docstring).

    ``slots`` are the placeholder names the template must hold, each exactly once (without
    braces, e.g. ``("question", "hint")``); ``name`` is how the error names the template.

    Raises:
        PromptError: a slot is missing or repeated, or the template has a free-standing
            ``{name}`` that is not one of ``slots``.
    """
    for match in _PLACEHOLDER.finditer(template):
        before = template[match.start() - 1] if match.start() else " "
        if match[1] not in slots and not (before.isalnum() or before in _GLUED):
            known = ", ".join("{" + s + "}" for s in slots)
            raise PromptError(f"{name} has an unknown placeholder {match[0]} (placeholders: "
                              f"{known}; write \\{{...\\}} for literal braces)")
    for slot in slots:
        count = template.count("{" + slot + "}")
        if count != 1:
            raise PromptError(f"{name} must contain {{{slot}}} exactly once, found {count}")


def render_template(template: str, values: Mapping[str, str], name: str = "template") -> str:
    """``template`` with each ``{slot}`` replaced by ``values[slot]``; all else is literal.

    The slots are the keys of ``values``; the template is checked first
    (:func:`check_template`). Replacement is one pass, so a value that itself contains
    ``{question}`` or ``{hint}`` is inserted as is.

    Raises:
        PromptError: the template breaks the placeholder rule (the message names ``name``).
    """
    check_template(template, tuple(values), name)
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


def check_teacher_template(template: str, hint_source: str = "auto") -> None:
    """Render :data:`SAMPLE_ROW` through ``template`` as the scorer will (settings checks).

    Raises:
        PromptError: the template (or ``hint_source``) cannot render a teacher prompt.
    """
    teacher_messages(SAMPLE_ROW, template, hint_source)


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
    """Chat messages for the self-teacher: the last user turn rewritten with the hint.

    ``template`` holds ``{question}`` and ``{hint}`` once each (:func:`render_template`).

    Raises:
        PromptError: the row has no question or no hint, or the template is unusable.
    """
    messages = student_messages(row, with_images=False)
    last_user = max(i for i, m in enumerate(messages) if m["role"] == "user")
    messages[last_user] = {
        "role": "user",
        "content": render_template(template, {"question": messages[last_user]["content"],
                                              "hint": hint_text(row, hint_source)},
                                   name="teacher_template"),
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


def tokenizer_of(processor: Any) -> Any:
    """The text tokenizer of a VLM processor, or the tokenizer itself."""
    return processor.tokenizer if is_multimodal(processor) else processor


def tokenizer_adds_bos(tokenizer: Any) -> bool:
    """Whether ``tokenizer`` puts its BOS token before plain text (Llama, Gemma, Mistral do;
    ChatML tokenizers such as Qwen's and SmolLM2's do not)."""
    bos = tokenizer.bos_token_id
    return bos is not None and tokenizer("a", add_special_tokens=True)["input_ids"][:1] == [bos]


def encode_messages(
    processor: Any, messages: list[dict[str, Any]], images: Sequence[bytes] | None = None
) -> EncodedPrompt:
    """Render ``messages`` through the chat template, ready for generation.

    The template's text is tokenised without the tokenizer's special tokens (the template
    writes the ones the model expects), the same way for a tokenizer and a VLM processor.
    Then the prompt gets exactly one leading BOS when the model uses one: repeated leading
    BOS tokens collapse to one, and a tokenizer that adds BOS to plain text gets it prepended
    when the template did not write it (Gemma-3 style templates write ``{{ bos_token }}``
    *and* their tokenizer adds one: still one). For a VLM processor the images are decoded
    and processed with the text so that the image placeholders expand to the right number
    of tokens (``mm_token_type_ids`` follows the BOS fix: a prepended BOS is text, 0).
    """
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    tokenizer = tokenizer_of(processor)
    if not is_multimodal(processor):
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return _one_bos(EncodedPrompt(input_ids=list(ids)), tokenizer)
    pil_images = decode_images(images)
    batch = processor(text=[text], images=pil_images or None, return_tensors="pt",
                      add_special_tokens=False)
    vision = {k: batch[k] for k in ("pixel_values", "image_grid_thw") if k in batch}
    types = batch["mm_token_type_ids"][0].tolist() if "mm_token_type_ids" in batch else None
    return _one_bos(EncodedPrompt(input_ids=batch["input_ids"][0].tolist(), vision=vision,
                                  mm_token_type_ids=types), tokenizer)


def _one_bos(prompt: EncodedPrompt, tokenizer: Any) -> EncodedPrompt:
    """``prompt`` with exactly one leading BOS when the model uses one (see
    :func:`encode_messages`); unchanged for a tokenizer without a BOS token."""
    bos = tokenizer.bos_token_id
    if bos is None:
        return prompt
    ids, types = list(prompt.input_ids), prompt.mm_token_type_ids
    types = list(types) if types is not None else None
    while ids[:2] == [bos, bos]:
        del ids[0]
        if types is not None:
            del types[0]
    if ids[:1] != [bos] and tokenizer_adds_bos(tokenizer):
        ids.insert(0, bos)
        if types is not None:
            types.insert(0, 0)
    return EncodedPrompt(input_ids=ids, vision=prompt.vision, mm_token_type_ids=types)


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


def context_window(model_config: Any, tokenizer: Any | None = None) -> int | None:
    """The most tokens (prompt + generated) the model takes, or None when nothing says.

    Read from the model config (its text config for a VLM): ``max_position_embeddings`` or
    an equivalent field (``n_positions``, ``max_sequence_length``, ``seq_length``, ``n_ctx``,
    ``max_seq_len``). A RoPE scaling that extends the window past that field (``yarn``,
    ``linear``, ``dynamic``: ``factor`` x ``original_max_position_embeddings``, else x the
    field) counts, as vLLM counts it. Only when the config names no window is the
    tokenizer's ``model_max_length`` used, and only when it is set (transformers writes
    1e30 for "unknown").
    """
    configs = [model_config]
    get_text_config = getattr(model_config, "get_text_config", None)
    if callable(get_text_config):
        configs.insert(0, get_text_config())
    for config in configs:
        for name in _CONTEXT_FIELDS:
            value = getattr(config, name, None)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                rope = getattr(config, "rope_parameters", None) or getattr(
                    config, "rope_scaling", None)
                return _rope_extended(value, rope)
    limit = getattr(tokenizer, "model_max_length", None) if tokenizer is not None else None
    if isinstance(limit, int) and 0 < limit < _SENSIBLE_TOKENIZER_LIMIT:
        return limit
    return None


def _rope_extended(window: int, rope: Any) -> int:
    """``window`` extended by a RoPE scaling's factor (per layer type: the largest)."""
    if not isinstance(rope, Mapping):
        return window
    flat = any(k in rope for k in ("rope_type", "type", "factor"))
    scalings = [rope] if flat else [v for v in rope.values() if isinstance(v, Mapping)]
    extended = window
    for scaling in scalings:
        kind = scaling.get("rope_type", scaling.get("type", "default"))
        factor = scaling.get("factor")
        if kind in _UNSCALED_ROPE or not isinstance(factor, (int, float)) or factor <= 1:
            continue
        base = scaling.get("original_max_position_embeddings") or window
        extended = max(extended, int(base * factor))
    return extended


def check_context_fits(
    labels: Sequence[str],
    prompt_tokens: Sequence[int],
    new_tokens: int | Sequence[int],
    context: int | None,
    stage: str,
    remedy: str,
) -> None:
    """Refuse when any prompt plus the tokens that follow it exceeds the context window.

    ``labels[i]`` names sequence i in the error (``"prompt 'q7'"``), ``prompt_tokens[i]`` is
    its prompt length in tokens, and ``new_tokens`` what follows each prompt: one generation
    budget (``max_new_tokens``) for all, or one response length per sequence (scoring).
    ``context`` comes from :func:`context_window`; None checks nothing. ``stage`` starts the
    message (``"rollout"``), ``remedy`` ends it (the settings to change).

    Raises:
        ContextLengthError: one line with how many sequences exceed the window, the longest
            one's label and token counts, the most new tokens every prompt leaves room for
            (for a generation budget), and ``remedy``.
        ValueError: the sequences disagree in number.
    """
    follow = [new_tokens] * len(labels) if isinstance(new_tokens, int) else list(new_tokens)
    if not len(labels) == len(prompt_tokens) == len(follow):
        raise ValueError(f"{len(labels)} labels, {len(prompt_tokens)} prompt lengths and "
                         f"{len(follow)} new-token counts: they must agree")
    if context is None:
        return
    over = [i for i in range(len(labels)) if prompt_tokens[i] + follow[i] > context]
    if not over:
        return
    worst = max(over, key=lambda i: prompt_tokens[i] + follow[i])
    room = ""
    if isinstance(new_tokens, int):
        fits = context - max(prompt_tokens)
        room = (f"; at most {fits} new tokens fit every prompt" if fits >= 1
                else "; the longest prompt alone fills the window")
    raise ContextLengthError(
        f"{stage}: {len(over)} of {len(labels)} sequences exceed the model's context window of "
        f"{context} tokens; the longest, {labels[worst]}, has {prompt_tokens[worst]} prompt "
        f"+ {follow[worst]} new = {prompt_tokens[worst] + follow[worst]} tokens{room}; {remedy}")
