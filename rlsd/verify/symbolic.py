"""The ``math`` verifier: LaTeX / boxed answers, equivalence decided by math-verify.

``\\frac{14}{3}`` equals ``\\dfrac{14}{3}`` and ``14/3``; ``0.5`` equals ``\\frac12``;
``(3, \\frac{\\pi}{2})`` equals ``\\left( 3, \\frac{\\pi}{2} \\right)``; ``[-2, 7)`` does not equal
``(-2, 7)``. math-verify only reads LaTeX between math delimiters, so answers and gold answers
are wrapped in ``$...$`` when they carry none.

math-verify's own time limits use ``signal.alarm``, which raises off the main thread; they
are switched off here (``parsing_timeout=None``, ``timeout_seconds=None``) and the limit is
enforced by the grading worker pool instead (:mod:`rlsd.verify.pool`), which kills a worker
stuck in sympy.
"""

from __future__ import annotations

import logging
import re

from rlsd.verify.errors import GoldAnswerError
from rlsd.verify.numbers import NUMBER_TOKEN
from rlsd.verify.registry import register_verifier

# math-verify warns once per process that its timeouts are off; that is deliberate here.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_ANSWER_MARK = re.compile(r"answer\s*(?:is|:)", re.IGNORECASE)
_DELIMITED = (("$", "$"), ("\\(", "\\)"), ("\\[", "\\]"))


def _math_text(text: str) -> str:
    """``text`` inside math delimiters, as math-verify needs to parse it as LaTeX."""
    stripped = text.strip()
    if "$" in stripped or stripped.startswith(("\\(", "\\[")):
        return stripped
    return f"${stripped}$"


def _last_delimited(response: str) -> tuple[int, str] | None:
    """The last ``$...$``, ``\\(...\\)`` or ``\\[...\\]`` span (with its delimiters) and its end."""
    text = response.replace("$$", "$")
    best: tuple[int, str] | None = None
    for open_, close in _DELIMITED:
        end = text.rfind(close)
        if end < 0:
            continue
        start = text.rfind(open_, 0, end)
        if start < 0 or end - start <= len(open_):
            continue
        if best is None or end > best[0]:
            best = (end, text[start : end + len(close)])
    return best


def math_answer_text(response: str) -> str | None:
    """Fallback answer for ``math``: the rest of the line after the last "answer is" /
    "answer:", else the last math span, else the last number."""
    marks = list(_ANSWER_MARK.finditer(response))
    if marks:
        tail = response[marks[-1].end() :].strip()
        line = tail.splitlines()[0].rstrip(" .") if tail else ""
        if line:
            return line
    span = _last_delimited(response)
    if span is not None:
        return span[1]
    last = None
    for last in NUMBER_TOKEN.finditer(response):  # noqa: B007 - we want the last match
        pass
    return last.group(0) if last is not None else None


@register_verifier("math", fallback=math_answer_text)
def math_verifier(answer: str, gold: str) -> float:
    """1.0 when math-verify finds ``answer`` equivalent to ``gold``."""
    from math_verify import parse, verify  # heavy (sympy); imported where it is used

    gold_parsed = parse(_math_text(gold), parsing_timeout=None)
    # math-verify returns [expression, text] when it reads the LaTeX and falls back to the
    # bare text alone when it cannot: such a gold answer can only ever match itself verbatim.
    if not any(not isinstance(item, str) for item in gold_parsed):
        raise GoldAnswerError(f"math-verify cannot parse gold answer {gold[:80]!r}")
    answer_parsed = parse(_math_text(answer), parsing_timeout=None)
    if not answer_parsed:
        return 0.0
    return float(verify(gold_parsed, answer_parsed, timeout_seconds=None))
