"""Grading one response: what runs inside a grading worker process.

Everything that touches the response — answer extraction, the length pre-screen, the
verifier itself — runs here, in the child, under the pool's time and memory limit. The parent
only computes the format bit and the reward from the returned :class:`GradeOutcome`.
This module stays light (no pyarrow, no torch) because every worker imports it.
"""

from __future__ import annotations

import importlib
import math
import sys
from dataclasses import dataclass, field
from typing import Any, Literal

from rlsd.verify.errors import GoldAnswerError, GradingError
from rlsd.verify.extract import extract_answer, final_region, lists_several_parts
from rlsd.verify.registry import resolve_ref

#: ``graded``: the verifier ran (right or wrong); the others gave accuracy 0 without a verdict.
Status = Literal["graded", "no_answer", "too_long", "timeout", "error"]

_PREVIEW_CHARS = 60


@dataclass(frozen=True)
class GradeTask:
    """One item as shipped to a worker (picklable: strings and refs, never functions)."""

    response: str
    gold: str
    grade_ref: str
    fallback_ref: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    max_answer_chars: int = 1000
    # The verifier grades every box together when the gold lists several parts (``math``).
    multi_box: bool = False
    # The parent's import path, so plug-ins importable there import here (spawned workers
    # started before a plug-in directory was added to sys.path would not find it otherwise).
    sys_path: tuple[str, ...] = ()


@dataclass(frozen=True)
class GradeOutcome:
    """Accuracy in [0, 1], why, and (a preview of) the graded answer, None if none was found."""

    accuracy: float
    status: Status
    reason: str
    answer: str | None = None


def preview(text: str, limit: int = _PREVIEW_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters for a reason message."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _import_ref(ref: str, sys_path: tuple[str, ...]) -> Any:
    module = ref.partition(":")[0]
    if module not in sys.modules and sys_path:
        sys.path[:] = list(dict.fromkeys([*sys_path, *sys.path]))
        importlib.invalidate_caches()  # the plug-in file may be newer than the finder's cache
    return resolve_ref(ref)


def _load(task: GradeTask) -> tuple[Any, Any]:
    """The task's fallback extractor and grade function; a failure is the machinery's."""
    try:
        fallback = _import_ref(task.fallback_ref, task.sys_path) if task.fallback_ref else None
        return fallback, _import_ref(task.grade_ref, task.sys_path)
    except Exception as exc:
        raise GradingError(
            f"grading worker cannot import verifier {task.grade_ref}: {type(exc).__name__}: "
            f"{preview(str(exc), 200)}"
        ) from None


def grade(task: GradeTask) -> GradeOutcome:
    """Extract the answer from ``task.response`` and grade it against ``task.gold``.

    Only the final region is graded (what follows a closed ``</think>`` / ``</thought>``
    block; :func:`rlsd.verify.extract.final_region`). Never raises for a bad response or a
    verifier error on one answer: those become an outcome with status ``"error"`` and the
    reason ``"verifier error: ..."``. Raises :class:`GradingError` when the verifier cannot
    even be imported (the machinery is broken, every item would fail alike).
    """
    fallback, grade_fn = _load(task)
    region = final_region(task.response)
    after = "" if region == task.response else " (graded after the reasoning block)"
    try:
        join = task.multi_box and lists_several_parts(task.gold)
        answer, source = extract_answer(task.response, fallback, join_boxes=join)
        if source == "unclosed_reasoning":
            return GradeOutcome(
                0.0,
                "no_answer",
                "no final answer: the reasoning block never closes (cut off at the length limit?)",
            )
        if answer is None:
            return GradeOutcome(0.0, "no_answer", f"no answer found{after}")
        if source != "response" and len(answer) > task.max_answer_chars:
            return GradeOutcome(
                0.0,
                "too_long",
                f"answer too long ({len(answer)} chars > {task.max_answer_chars})",
            )
        value = float(grade_fn(answer, task.gold, **task.options))
    except GoldAnswerError as exc:
        return GradeOutcome(0.0, "error", f"verifier error: {exc}")
    except MemoryError:
        return GradeOutcome(0.0, "error", "verifier error: out of memory")
    except Exception as exc:
        detail = preview(str(exc), 200)
        return GradeOutcome(0.0, "error", f"verifier error: {type(exc).__name__}: {detail}")
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        return GradeOutcome(
            0.0, "error", f"verifier error: {task.grade_ref} returned {value}, not in [0, 1]"
        )
    shown = preview(answer)
    if value == 1.0:
        reason = "correct"
    elif value == 0.0:
        reason = f"wrong answer: got {shown}, expected {preview(task.gold)}{after}"
    else:
        reason = f"partial credit {value:.3g}: got {shown}, expected {preview(task.gold)}{after}"
    return GradeOutcome(value, "graded", reason, preview(answer, 200))
