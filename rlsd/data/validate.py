"""Row validation: turn one mapped row into a prompt-schema row or reject it with a reason.

Conversions are the lossless ones only (numbers to text, a JSON string of chat turns to a
list, a single image to a list of one, non-PNG/JPEG images to PNG, a chat row's final
assistant turn to its reference solution: :func:`take_reference_turn`); anything else is a
:class:`~rlsd.data.rejects.RowRejected` whose reason the summary counts.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, UnidentifiedImageError

from rlsd.data import io as data_io
from rlsd.data.errors import DataError
from rlsd.data.prompt_format import format_prompt
from rlsd.data.rejects import (
    ASSISTANT_AFTER_QUESTION,
    BAD_IMAGE,
    BOTH_PROMPT_AND_MESSAGES,
    EMPTY_ANSWER,
    EMPTY_PROMPT,
    MISSING_ANSWER,
    MISSING_ID,
    NO_PROMPT,
    PROMPT_TOO_LONG,
    UNKNOWN_VERIFIER,
    WRONG_TYPE,
    RowRejected,
    json_safe,
)
from rlsd.data.schema import MESSAGE_ROLES

#: Image formats stored as they come; anything else Pillow reads is re-encoded to PNG.
KEPT_IMAGE_FORMATS = ("PNG", "JPEG")


@dataclass(frozen=True)
class RowRules:
    """What a valid row must satisfy (from :class:`~rlsd.data.config.DataConfig`)."""

    prompt_template: str
    max_prompt_chars: int
    known_verifiers: frozenset[str] = frozenset()  # empty: any name is accepted
    base_uri: str | None = None  # folder that relative image paths are resolved against


def _text(value: Any, field: str) -> str:
    """``value`` as text: strings as they are, finite numbers converted, anything else rejected."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):  # bool is an int subclass, but True is not an answer "1"
        raise RowRejected(WRONG_TYPE, f"{field} is a bool ({value!r}), expected text")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isfinite(value):
        return str(int(value)) if value.is_integer() else repr(value)
    raise RowRejected(WRONG_TYPE, f"{field} is {type(value).__name__} ({value!r:.60}), expected text")


def _messages(value: Any) -> list[dict[str, str]]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise RowRejected(WRONG_TYPE, f"messages is text but not JSON: {exc}") from exc
    if not isinstance(value, (list, tuple)):
        raise RowRejected(WRONG_TYPE, f"messages is {type(value).__name__}, expected a list")
    turns = []
    for i, turn in enumerate(value):
        if not isinstance(turn, Mapping) or not isinstance(turn.get("content"), str):
            raise RowRejected(
                WRONG_TYPE, f"messages[{i}] must be {{'role': str, 'content': str}}, got {turn!r:.80}"
            )
        if turn.get("role") not in MESSAGE_ROLES:
            raise RowRejected(
                WRONG_TYPE, f"messages[{i}] role {turn.get('role')!r} is not one of {MESSAGE_ROLES}"
            )
        turns.append({"role": turn["role"], "content": turn["content"]})
    return turns


def take_reference_turn(messages: list[dict[str, str]], question: int
                        ) -> tuple[list[dict[str, str]], str | None]:
    """Split what follows the question off a chat row: ``(prompt turns, reference or None)``.

    ``question`` indexes the last non-blank user turn. Chat exports store the worked answer
    as a final assistant turn; the student must never see it (it would read the answer off
    its prompt), so a single assistant turn right after the question is removed and its
    stripped text returned as the reference solution (``None`` when blank: nothing is lost).
    Turns after the question that include no assistant turn are kept as they are.
    Raises :class:`RowRejected` (``assistant turn after question``) for any other assistant
    turn after the question (several, or one followed by more turns): none may stay in the
    prompt, and which one is the solution is unclear.
    """
    tail = messages[question + 1:]
    if not any(t["role"] == "assistant" for t in tail):
        return messages, None
    if len(tail) == 1:
        return messages[:question + 1], tail[0]["content"].strip() or None
    raise RowRejected(
        ASSISTANT_AFTER_QUESTION,
        f"turns after the question (messages[{question}], the last user turn) are "
        f"{[t['role'] for t in tail]}; only one final assistant turn can be read as the "
        "reference solution",
    )


def _image_bytes(item: Any, i: int, base_uri: str | None) -> bytes:
    """The encoded bytes of one image given as bytes, an HF image struct, a PIL image,
    a ``data:`` URI, or a path/URI (relative ones against ``base_uri``)."""
    if isinstance(item, (bytes, bytearray, memoryview)):
        return bytes(item)
    if isinstance(item, Mapping) and ("bytes" in item or "path" in item):
        if item.get("bytes") is not None:
            return bytes(item["bytes"])
        item = item.get("path")
        if not isinstance(item, str):
            raise RowRejected(BAD_IMAGE, f"image {i} has neither bytes nor a path")
    if isinstance(item, Image.Image):
        buf = io.BytesIO()
        item.save(buf, format="PNG")
        return buf.getvalue()
    if isinstance(item, str):
        if item.startswith("data:"):
            try:
                return base64.b64decode(item.split(",", 1)[1], validate=True)
            except (IndexError, binascii.Error) as exc:
                raise RowRejected(BAD_IMAGE, f"image {i}: bad base64 data URI: {exc}") from exc
        uri = item
        if base_uri is not None and not data_io.is_s3(uri) and not uri.startswith("/"):
            uri = data_io.join(base_uri, uri)
        try:
            return data_io.read_bytes(uri)
        except DataError as exc:
            raise RowRejected(BAD_IMAGE, f"image {i}: {exc}") from exc
    raise RowRejected(WRONG_TYPE, f"image {i} is {type(item).__name__}, expected encoded bytes")


def check_image(data: bytes, i: int = 0) -> bytes:
    """``data`` if Pillow decodes it fully as PNG/JPEG; other formats come back as PNG.

    Raises :class:`RowRejected` (``undecodable image``) for anything Pillow cannot decode.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format
            img.verify()  # structure and checksums
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # full decode: catches truncated pixel data that verify() lets through
            if fmt in KEPT_IMAGE_FORMATS:
                return data
            buf = io.BytesIO()
            img.save(buf, format="PNG")
            return buf.getvalue()
    except UnidentifiedImageError as exc:
        raise RowRejected(BAD_IMAGE, f"image {i}: not a recognised image format") from exc
    except Exception as exc:  # Pillow raises many types for corrupt input (OSError, SyntaxError, ...)
        raise RowRejected(BAD_IMAGE, f"image {i}: {type(exc).__name__}: {exc}") from exc


def _images(value: Any, base_uri: str | None) -> list[bytes] | None:
    if value is None:
        return None
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    if not items:
        return None
    return [check_image(_image_bytes(item, i, base_uri), i) for i, item in enumerate(items)]


def normalise_row(row: Mapping[str, Any], rules: RowRules) -> dict[str, Any]:
    """A prompt-schema row from a mapped row (:func:`rlsd.data.mapping.map_row`).

    Checks, in order: id type, exactly one of prompt/messages and not empty, answer present
    and not empty, solution/verifier/source types, verifier known, images decodable, and the
    templated prompt at most ``rules.max_prompt_chars`` characters (chat form: all turns).
    A chat row's final assistant turn becomes its ``solution`` (:func:`take_reference_turn`);
    a row that has a solution as well is rejected (``assistant turn after question``).
    """
    row_id = _text(row["id"], "id").strip()
    if not row_id:
        raise RowRejected(MISSING_ID, "id is empty")

    prompt, messages = row.get("prompt"), row.get("messages")
    if prompt is not None and messages is not None:
        raise RowRejected(BOTH_PROMPT_AND_MESSAGES, "set exactly one of prompt and messages")
    if prompt is None and messages is None:
        raise RowRejected(NO_PROMPT, "set exactly one of prompt and messages")
    reference = None  # a chat row's final assistant turn, moved out of the prompt
    if prompt is not None:
        prompt = _text(prompt, "prompt").strip()
        if not prompt:
            raise RowRejected(EMPTY_PROMPT, "prompt is blank")
        prompt = format_prompt(prompt, rules.prompt_template)
        length = len(prompt)
    else:
        messages = _messages(messages)
        user_turns = [t for t in messages if t["role"] == "user" and t["content"].strip()]
        if not user_turns:
            raise RowRejected(EMPTY_PROMPT, "messages have no non-blank user turn")
        # The question is the last user turn; the template goes there, as for text prompts.
        last = max(i for i, t in enumerate(messages) if t["role"] == "user" and t["content"].strip())
        messages, reference = take_reference_turn(messages, last)
        messages[last]["content"] = format_prompt(messages[last]["content"].strip(),
                                                  rules.prompt_template)
        length = sum(len(t["content"]) for t in messages)

    answer = row.get("answer")
    if answer is None:
        raise RowRejected(MISSING_ANSWER, "answer is missing")
    answer = _text(answer, "answer").strip()
    if not answer:
        raise RowRejected(EMPTY_ANSWER, "answer is blank")

    solution = row.get("solution")
    if solution is not None:
        solution = _text(solution, "solution").strip() or None
    if reference is not None:
        if solution is not None:  # two references: which one the teacher should see is unclear
            raise RowRejected(
                ASSISTANT_AFTER_QUESTION,
                "messages end with an assistant turn and the row has a solution too; keep one "
                "(a final assistant turn is read as the reference solution)",
            )
        solution = reference

    verifier = _text(row["verifier"], "verifier").strip()
    if rules.known_verifiers and verifier not in rules.known_verifiers:
        raise RowRejected(
            UNKNOWN_VERIFIER, f"verifier {verifier!r} is not one of {sorted(rules.known_verifiers)}"
        )
    source = _text(row["source"], "source")

    images = _images(row.get("images"), rules.base_uri)

    if length > rules.max_prompt_chars:
        raise RowRejected(
            PROMPT_TOO_LONG, f"prompt has {length} characters, max_prompt_chars={rules.max_prompt_chars}"
        )

    meta = row.get("meta") or None
    return {
        "id": row_id,
        "prompt": prompt,
        "messages": messages,
        "answer": answer,
        "solution": solution,
        "images": images,
        "verifier": verifier,
        "source": source,
        "meta": json.dumps(json_safe(meta), ensure_ascii=False, sort_keys=True) if meta else None,
    }

