"""The ``choice`` verifier: multiple-choice option letters however the response phrases them.

Accepted: ``B``, ``(B)``, ``[B]``, ``B)``, ``B.``, ``B) 42``, ``Answer: C``, ``The answer is (A)``,
``The correct option is B``, ``\\boxed{D}``, ``<answer>C</answer>``, ``**C**``, lowercase
(``answer: c``, ``(b)``). The gold answer may be ``C`` or ``(C)``.

Prose is read carefully: the article "A" in "A train leaves..." is not an answer, and a
lowercase letter after "answer is" only counts when nothing follows it ("the answer is a
triangle" names no option). Math delimiters and Markdown emphasis around a letter are not part
of it (``$D$``, ``\\(B\\)``, ``**D**``). The stated answer wins: in "The answer is C. Choice A
is tempting" the answer is C, and an answer that opens with an option letter
(``<answer>C, since option B double counts</answer>``) picks that letter.
"""

from __future__ import annotations

import re

from rlsd.verify.errors import GoldAnswerError
from rlsd.verify.extract import stated_answer, strip_emphasis
from rlsd.verify.registry import register_verifier

_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox|boxed)\s*\{([^{}]*)\}")
_MATH_DELIMITERS = re.compile(r"\$|\\[()\[\]]")
# An answer opening with an option letter: "C, since ...", "C because ...", "(C) 42".
# A capital followed by a lowercase word ("A train leaves", "I think") is prose.
_LEADING = re.compile(
    r"[(\[]?([A-Z])[)\]]?(?=$|[,.;:)\]]|\s+(?:[^a-z\s]|(?:since|because|as|which|is)\b))"
)
_SOLE = re.compile(r"[(\[]?([A-Za-z])[)\]]?")
# "B) 42", "b) 42", "C. text", "(A) 42", "[D] text": an option label opening the answer.
_LABEL = re.compile(r"(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Za-z])\)|([A-Z])[.:])(?:\s|$)")
# "answer is (A)", "Answer: C", "correct option is B", "choice: **d**".
_PHRASE = re.compile(
    r"\b(?:answer|option|choice)\b(?:\s+is|\s*[:=])?\s*(?:option\s+|choice\s+)?(?:\*\*)?"
    r"(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Za-z])(?![A-Za-z]))",
    re.IGNORECASE,
)
# After a bare lowercase letter only the end of the sentence may follow; after a bare capital
# a lowercase word means prose ("Answer: I believe it is B" names no option I).
_TERMINAL = re.compile(r"\s*(?:\*\*)?\s*(?:$|[.,;:!?)\]\n])")
_PROSE_AFTER = re.compile(r"\s+[a-z]")
# Two options offered as the answer ("A, C", "A/C", "A and C", "(A) or (B)"): a hedge.
_HEDGE = re.compile(
    r"^[(\[]?[A-Z][)\]]?\s*(?:,|/|&|\band\b|\bor\b)\s*[(\[]?[A-Z][)\]]?(?![A-Za-z])")
_PAREN_UPPER = re.compile(r"\(([A-Z])\)")
_NEGATED = re.compile(r"(?:not|never)\b", re.IGNORECASE)
# A stated answer that ends on an option: "Answer: It is B", "I believe it is (B)".
_ENDS_ON_OPTION = re.compile(r"(?:^|\s)[(\[]?([A-Z])[)\]]?\s*[.!]?$")


def _unwrap(text: str) -> str:
    """``text`` without emphasis, math delimiters and LaTeX text wrappers."""
    text = _TEXT_WRAPPER.sub(r"\1", strip_emphasis(text))
    return _MATH_DELIMITERS.sub("", text).replace("**", "")


def _clean(text: str) -> str:
    return _unwrap(text).strip().rstrip(".:;,").strip()


def _phrase_letter(text: str) -> str | None:
    found = None
    for match in _PHRASE.finditer(text):
        letter = match.group(1) or match.group(2)
        bare = match.group(3)
        if letter is None and bare is not None:
            if bare.islower() and not _TERMINAL.match(text, match.end()):
                continue  # "answer is a triangle": an article, not option (a)
            if bare.isupper() and _PROSE_AFTER.match(text, match.end()):
                continue  # "Answer: I believe ...": a pronoun, not option I
            letter = bare
        found = letter
    return found.upper() if found else None


def choice_letter(text: str) -> str | None:
    """The option letter a short answer text gives, or None (also for a hedge that offers
    two options, ``A, C`` or ``A or B``)."""
    clean = _clean(text)
    if _HEDGE.match(clean):
        return None
    sole = _SOLE.fullmatch(clean)
    if sole:
        return sole.group(1).upper()
    label = _LABEL.match(clean)
    if label:
        return next(g for g in label.groups() if g).upper()
    leading = _LEADING.match(clean)
    if leading:
        return leading.group(1)
    phrased = _phrase_letter(clean)
    if phrased:
        return phrased
    parens = _PAREN_UPPER.findall(clean)
    return parens[-1] if parens else None


def choice_fallback(response: str) -> str | None:
    """Fallback for a response without tags or box: the clause an answer phrase states
    (:func:`rlsd.verify.extract.stated_answer`), else an older-style phrase match, else a last
    line that is just an option, else the last upper-case ``(X)``."""
    response = _unwrap(response)
    stated = stated_answer(response)
    if stated is not None:
        if _HEDGE.match(_clean(stated)) or _NEGATED.match(_clean(stated)):
            return None  # "A or B" offers two answers, "not A" none: no stated answer
        letter = choice_letter(stated)
        if letter is None:
            ends = _ENDS_ON_OPTION.search(_clean(stated))
            letter = ends.group(1) if ends and len(_clean(stated)) <= 40 else None
        if letter is not None:
            return letter
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
