"""Rejected rows: the reasons, the JSON-safe record of each, and the reject-fraction check.

No row is ever dropped silently: every row that fails mapping or validation becomes one
record ``{"index", "reason", "detail", "row"}`` in ``rejects.jsonl``, where ``row`` is the
original row made JSON-safe without losing content (bytes as base64), ``reason`` is one of
:data:`REASONS` (counted in the summary) and ``detail`` says exactly what was wrong.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import io
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from PIL import Image

INVALID_JSON = "invalid json"
INVALID_UTF8 = "invalid utf-8"
MISSING_ID = "missing id"
DUPLICATE_ID = "duplicate id"
MISSING_ANSWER = "missing answer"
EMPTY_ANSWER = "empty answer"
UNPARSABLE_ANSWER = "unparsable answer"
EMPTY_PROMPT = "empty prompt"
BOTH_PROMPT_AND_MESSAGES = "both prompt and messages"
NO_PROMPT = "neither prompt nor messages"
WRONG_TYPE = "wrong type"
BAD_IMAGE = "undecodable image"
PROMPT_TOO_LONG = "prompt too long"
UNKNOWN_VERIFIER = "unknown verifier"
ASSISTANT_AFTER_QUESTION = "assistant turn after question"

REASONS = (
    INVALID_JSON, INVALID_UTF8, MISSING_ID, DUPLICATE_ID, MISSING_ANSWER, EMPTY_ANSWER,
    UNPARSABLE_ANSWER, EMPTY_PROMPT, BOTH_PROMPT_AND_MESSAGES, NO_PROMPT, WRONG_TYPE, BAD_IMAGE,
    PROMPT_TOO_LONG, UNKNOWN_VERIFIER, ASSISTANT_AFTER_QUESTION,
)


class RowRejected(Exception):
    """One row is unusable; ``reason`` is one of :data:`REASONS`, ``detail`` the specifics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def json_safe(value: Any) -> Any:
    """``value`` as plain JSON types, keeping all content (bytes and images become base64)."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN/inf are not JSON
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [json_safe(v) for v in value]
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, Image.Image):  # a decoded image: keep its pixels
        buf = io.BytesIO()
        value.save(buf, format="PNG")
        return {"png_base64": base64.b64encode(buf.getvalue()).decode("ascii")}
    if hasattr(value, "tolist"):  # numpy scalars and arrays
        return json_safe(value.tolist())
    return repr(value)


def reject_record(index: int, reason: str, detail: str, row: Any) -> dict[str, Any]:
    """The rejects-file record of source row ``index``."""
    return {"index": index, "reason": reason, "detail": detail, "row": json_safe(row)}


def count_reasons(rejects: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Rejects per reason, most frequent first (ties by name, so the order is stable)."""
    counts = Counter(r["reason"] for r in rejects)
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))


def rejects_jsonl(rejects: Iterable[Mapping[str, Any]]) -> bytes:
    """The rejects file content: one JSON object per line."""
    lines = [json.dumps(r, ensure_ascii=False, sort_keys=True) for r in rejects]
    return ("\n".join(lines) + ("\n" if lines else "")).encode("utf-8")


def too_many_rejects_message(
    n_rejected: int, n_read: int, max_fraction: float, by_reason: Mapping[str, int],
    rejects_at: str | None, top: int = 5,
) -> str:
    """The one message for a reject fraction above ``max_fraction``, e.g.

    ``37 of 500 rows (7.4%) rejected, above max_reject_fraction=0.05; first reasons:
    empty answer (30), duplicate id (7); see rejects at out/rejects.jsonl``
    """
    pct = 100.0 * n_rejected / n_read if n_read else 100.0
    reasons = ", ".join(f"{name} ({count})" for name, count in list(by_reason.items())[:top])
    where = f"see rejects at {rejects_at}" if rejects_at else "rejects not written yet"
    return (
        f"{n_rejected} of {n_read} rows ({pct:.1f}%) rejected, above "
        f"max_reject_fraction={max_fraction:g}; first reasons: {reasons}; {where}"
    )
