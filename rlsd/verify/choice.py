"""The ``choice`` verifier: multiple-choice option letters however the response phrases them.

Accepted: ``B``, ``(B)``, ``[B]``, ``B)``, ``B.``, ``B) 42``, ``Answer: C``, ``The answer is (A)``,
``The correct option is B``, ``\\boxed{D}``, ``<answer>C</answer>``, ``**C**``, lowercase
(``answer: c``, ``(b)``). The gold answer may be ``C`` or ``(C)``.

Prose is read carefully: the article "A" in "A train leaves..." is not an answer, and a
lowercase letter after "answer is" only counts when nothing follows it ("the answer is a
triangle" names no option).
"""

from __future__ import annotations

import re

from rlsd.verify.errors import GoldAnswerError
from rlsd.verify.registry import register_verifier

_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_SOLE = re.compile(r"[(\[]?([A-Za-z])[)\]]?")
# "B) 42", "b) 42", "C. text", "(A) 42", "[D] text": an option label opening the answer.
_LABEL = re.compile(r"(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Za-z])\)|([A-Z])[.:])(?:\s|$)")
# "answer is (A)", "Answer: C", "correct option is B", "choice: **d**".
_PHRASE = re.compile(
    r"(?:answer|option|choice)(?:\s+is|\s*[:=])?\s*(?:option\s+|choice\s+)?(?:\*\*)?"
    r"(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Za-z])(?![A-Za-z]))",
    re.IGNORECASE,
)
# After a bare lowercase letter only the end of the sentence may follow.
_TERMINAL = re.compile(r"\s*(?:\*\*)?\s*(?:$|[.,;:!?)\]\n])")
_PAREN_UPPER = re.compile(r"\(([A-Z])\)")


def _clean(text: str) -> str:
    text = _TEXT_WRAPPER.sub(r"\1", text)
    return text.replace("**", "").strip().strip("$").strip().rstrip(".:;,").strip()


def _phrase_letter(text: str) -> str | None:
    found = None
    for match in _PHRASE.finditer(text):
        letter = match.group(1) or match.group(2)
        bare = match.group(3)
        if letter is None and bare is not None:
            if bare.islower() and not _TERMINAL.match(text, match.end()):
                continue  # "answer is a triangle": an article, not option (a)
            letter = bare
        found = letter
    return found.upper() if found else None


def choice_letter(text: str) -> str | None:
    """The option letter a short answer text gives, or None."""
    clean = _clean(text)
    sole = _SOLE.fullmatch(clean)
    if sole:
        return sole.group(1).upper()
    label = _LABEL.match(clean)
    if label:
        return next(g for g in label.groups() if g).upper()
    phrased = _phrase_letter(clean)
    if phrased:
        return phrased
    parens = _PAREN_UPPER.findall(clean)
    return parens[-1] if parens else None


def choice_fallback(response: str) -> str | None:
    """Fallback for a response without tags or box: an answer phrase, else a last line that
    is just an option, else the last upper-case ``(X)``."""
    phrased = _phrase_letter(response)
    if phrased:
        return phrased
    lines = [line for line in response.strip().splitlines() if line.strip()]
    if lines:
        last = _clean(lines[-1])
        sole = _SOLE.fullmatch(last)
        if sole and (sole.group(1).isupper() or last != sole.group(1)):
            return sole.group(1).upper()
        label = _LABEL.match(last)
        if label:
            return next(g for g in label.groups() if g).upper()
    parens = _PAREN_UPPER.findall(response)
    return parens[-1] if parens else None


@register_verifier("choice", fallback=choice_fallback)
def choice_verifier(answer: str, gold: str) -> float:
    """1.0 when the answer picks the gold option letter."""
    want = choice_letter(gold)
    if want is None:
        raise GoldAnswerError(f"gold answer {gold[:80]!r} is not an option letter")
    return float(choice_letter(answer) == want)
