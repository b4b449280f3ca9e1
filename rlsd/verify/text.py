"""The ``exact`` verifier: normalised string equality.

Normalisation: LaTeX text wrappers (``\\text{...}``, ``\\textbf``, ``\\mathrm``, ``\\mbox``) and
math delimiters removed, Markdown bold removed, case folded, runs of whitespace collapsed,
surrounding punctuation and quotes stripped. ``\\text{ Paris. }`` equals ``paris``.
"""

from __future__ import annotations

import re

from rlsd.verify.extract import stated_answer
from rlsd.verify.registry import register_verifier

_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_SPACE_RUN = re.compile(r"\s+")
_SURROUNDING = " \t\n.,;:!?\"'`*"


def normalise_text(text: str) -> str:
    """The comparison form of ``text`` (see the module docstring)."""
    previous = None
    while previous != text:  # nested wrappers unwrap from the inside out
        previous, text = text, _TEXT_WRAPPER.sub(r"\1", text)
    for delimiter in ("$", "\\(", "\\)", "\\[", "\\]", "**"):
        text = text.replace(delimiter, "")
    text = _SPACE_RUN.sub(" ", text.casefold())
    return text.strip(_SURROUNDING)


def exact_fallback(response: str) -> str | None:
    """Fallback: the clause after the last "answer is" / "Answer:" phrase
    (:func:`rlsd.verify.extract.stated_answer`), else the last non-empty line."""
    stated = stated_answer(response)
    if stated is not None:
        return stated
    lines = [line for line in response.splitlines() if line.strip()]
    return lines[-1] if lines else None


@register_verifier("exact", fallback=exact_fallback)
def exact_verifier(answer: str, gold: str) -> float:
    """1.0 when the normalised answer equals the normalised gold answer."""
    return float(normalise_text(answer) == normalise_text(gold))
