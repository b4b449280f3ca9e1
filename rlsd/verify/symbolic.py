"""The ``math`` verifier: LaTeX / boxed answers, equivalence decided by math-verify.

``\\frac{14}{3}`` equals ``\\dfrac{14}{3}`` and ``14/3``; ``0.5`` equals ``\\frac12``;
``(3, \\frac{\\pi}{2})`` equals ``\\left( 3, \\frac{\\pi}{2} \\right)``; ``[-2, 7)`` does not equal
``(-2, 7)``.

Rules added to math-verify's (the README's verifier section states them for users):

- **Numbers are compared to the precision the gold answer states.** A gold written as a
  decimal with d digits after the point (``0.33``, ``4.50``) is read as rounded: an answer
  matches when it lies within half a unit of the gold's last digit (``\\frac{1}{3}`` matches
  ``0.33``; ``0.334`` does too; ``0.34`` does not). Any other gold (``12``, ``2^{-71}``,
  ``\\frac{1}{3}``, ``\\sqrt{2}``) is exact: the answer must equal it (to 40 significant
  digits), so ``0.333`` does not match ``\\frac{1}{3}`` and ``2^{-70}`` does not match
  ``2^{-71}``. math-verify alone rounds both sides to 6 decimals, which grades
  ``0.0000004 = 0.0000003`` and ``2^{-70} = 2^{-71}`` correct. Inside tuples, sets, intervals
  and matrices math-verify compares, rounding to the gold's decimals, else to 12 places.
  ``math_float_rounding`` (a setting) restores math-verify's own rounding to N places.
- **A gold that does not parse whole is an error, never compared in part.** math-verify
  stops at what it cannot read (``2 + \\frac{1}{\\mathrm{e}}`` reads as ``2``); such a gold
  raises :class:`~rlsd.verify.errors.GoldAnswerError` (the data self-check reports it). An
  extracted answer that does not parse whole scores 0.
- ``\\$`` is a currency sign, not a math delimiter; ``\\mathrm{e}`` is Euler's number; plain
  numbers in the forms ``2e3``, ``2 500`` and ``3,75`` (decimal comma) are numbers.
- The stated answer wins: after "the answer is" / "Answer:", the clause that follows is the
  answer (:func:`rlsd.verify.extract.stated_answer`); without such a phrase, tags or boxes,
  math-verify's own extraction reads the final region (last boxed, "final answer is", last
  math span or expression), exactly as it does alone.

math-verify's own time limits use ``signal.alarm``, which raises off the main thread; they
are switched off here (``parsing_timeout=None``, ``timeout_seconds=None``) and the limit is
enforced by the grading worker pool instead (:mod:`rlsd.verify.pool`), which kills a worker
stuck in sympy.
"""

from __future__ import annotations

import logging
import re
from decimal import Decimal
from typing import Any

from rlsd.verify.errors import GoldAnswerError
from rlsd.verify.extract import stated_answer, strip_emphasis
from rlsd.verify.numbers import whole_number
from rlsd.verify.registry import register_verifier

# math-verify warns once per process that its timeouts are off; that is deliberate here.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_CURRENCY = re.compile(r"\\\$")
# ``\mathrm{e}``, ``\mathrm{x}``: one upright letter is that letter (math-verify stops there).
_UPRIGHT_LETTER = re.compile(r"\\(?:mathrm|operatorname|mathit|text|textrm)\s*\{\s*([A-Za-z])\s*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_TEXT_ARG = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\s*\{[^{}]*\}")
_WORD = re.compile(r"[A-Za-z]{3,}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}")
_UNIT = re.compile(r"\\(?:text|textbf|textrm|mbox|mathrm)\{[^{}]*[A-Za-z]{2}")
_DECIMAL_LITERAL = re.compile(r"\d*\.(\d+)")
_DELIMITERS = ("$", "\\(", "\\[")
#: Significant digits of the exact comparison, and the precision it evaluates at.
_EXACT_DIGITS = 40
_EVAL_DIGITS = 60
#: Decimal places of math-verify's rounding inside structures when the gold states none.
_STRUCTURE_ROUNDING = 12


def clean_math(text: str) -> str:
    """``text`` with currency ``\\$`` removed, one upright letter (``\\mathrm{e}``) read as
    that letter and Markdown emphasis removed."""
    return strip_emphasis(_UPRIGHT_LETTER.sub(r"\1", _CURRENCY.sub("", text))).strip()


def _is_prose(text: str) -> bool:
    """True when ``text`` has words outside LaTeX commands, text arguments and environments."""
    maths = _ENVIRONMENT.sub(" ", _TEXT_ARG.sub(" ", text))
    return bool(_WORD.search(_COMMAND.sub(" ", maths)))


def _strip_delimiters(text: str) -> str:
    text = text.strip()
    for open_, close in (("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")):
        if text.startswith(open_) and text.endswith(close) and len(text) > len(open_ + close):
            return text[len(open_) : -len(close)].strip()
    return text


def _balanced(text: str) -> bool:
    depth = 0
    i = 0
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth < 0:
            return False
        i += 1
    return depth == 0


def reads_whole(source: str, extracted: str) -> bool:
    """False when math-verify read only a leading part of ``source``: the text it extracted
    has unbalanced braces (``2 + \\frac{1}{``), or is a strict prefix of a ``source`` that is
    one expression and goes on past it with anything but a unit or a full stop."""
    if not _balanced(extracted) and _balanced(source):
        return False
    src = re.sub(r"\s+", "", _strip_delimiters(source))
    ext = re.sub(r"\s+", "", _strip_delimiters(extracted))
    if ext and src.startswith(ext) and len(ext) < len(src) and not _is_prose(source):
        rest = src[len(ext) :]
        # "15\\mbox{ cm}^2", "0.06\\text{ yuan}": a unit; a closing full stop: punctuation
        return bool(_UNIT.match(rest)) or rest in (".", ",", ";")
    return True


def _parse(text: str) -> list[Any]:
    from math_verify import parse  # heavy (sympy); imported where it is used

    return parse(text, parsing_timeout=None)


def parse_math(text: str, *, whole: bool) -> tuple[list[Any], str]:
    """math-verify's reading of ``text``: ``([expression, extracted text], extracted text)``.

    A short expression without delimiters is read as LaTeX (wrapped in ``$...$``); prose or
    delimited text goes through math-verify's own extraction (last boxed, "final answer is",
    last math span). With ``whole=True`` a reading of only part of ``text`` gives ``[]``.
    """
    as_is = any(d in text for d in _DELIMITERS) or "\\boxed" in text or _is_prose(text)
    parsed = _parse(text) if as_is else (_parse(f"${text}$") or _parse(text))
    if not any(not isinstance(item, str) for item in parsed):
        return [], ""
    extracted = next((item for item in parsed if isinstance(item, str)), "")
    if whole and extracted and not reads_whole(text, extracted):
        return [], extracted
    return parsed, extracted


def _extracted_text(text: str) -> str:
    """The text math-verify extracts from ``text`` when it finds no expression in it."""
    return next((item for item in _parse(text) if isinstance(item, str)), "")


def _same_text(a: str, b: str) -> bool:
    return bool(a) and re.sub(r"\s+", "", a) == re.sub(r"\s+", "", b)


def gold_decimals(gold_text: str) -> int | None:
    """Decimal places a gold written as one decimal number states (``0.33`` -> 2), else None
    (an exact gold)."""
    number = whole_number(gold_text)
    if number is None or "." not in _strip_delimiters(gold_text):
        return None
    exponent = number.value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else None


def _structure_rounding(gold_text: str) -> int:
    places = [len(m.group(1)) for m in _DECIMAL_LITERAL.finditer(gold_text)]
    return max(places) if places else _STRUCTURE_ROUNDING


def numbers_agree(gold: Decimal, answer: Decimal, decimals: int | None) -> bool:
    """The precision rule (module docstring) on two exact values: within half a unit of the
    gold's last stated digit when ``decimals`` is set, else equal to 40 significant digits."""
    if decimals is not None:
        return abs(answer - gold) <= Decimal(5).scaleb(-(decimals + 1))
    if gold == 0:
        return answer == 0
    return abs(answer - gold) <= abs(gold).scaleb(-_EXACT_DIGITS)


def _scalar_value(expr: Any) -> Decimal | None:
    """The value of a real constant sympy expression at 60 digits, None for anything else."""
    import sympy

    if not isinstance(expr, sympy.Expr) or isinstance(expr, sympy.Symbol):
        return None
    if expr.free_symbols or not expr.is_number:
        return None
    value = sympy.N(expr, _EVAL_DIGITS)
    if not value.is_real or not value.is_finite:
        return None
    try:
        return Decimal(str(value))
    except ArithmeticError:
        return None


def _plain_numbers(answer: str, gold: str) -> float | None:
    """Grade two plain numbers exactly with the precision rule; None when either is not one."""
    got, want = whole_number(answer), whole_number(gold)
    if got is None or want is None:
        return None
    decimals = gold_decimals(gold)
    return float(
        any(numbers_agree(g, a, decimals) for g in want.candidates() for a in got.candidates())
    )


@register_verifier(
    "math",
    fallback=None,
    multi_box=True,
    config_options={
        "strict": "math_strict",
        "set_relation": "math_set_relation",
        "float_rounding": "math_float_rounding",
    },
)
def math_verifier(
    answer: str,
    gold: str,
    *,
    strict: bool = True,
    set_relation: bool = False,
    float_rounding: int = -1,
) -> float:
    """1.0 when ``answer`` equals ``gold`` under math-verify plus the rules of this module.

    ``answer`` is the extracted answer (tags, boxes) or the final region of a response
    without either. ``strict`` and ``set_relation`` are math-verify's ``strict`` and
    ``allow_set_relation_comp``; ``float_rounding`` >= 0 switches the precision rule off in
    favour of math-verify's rounding to that many places. Raises
    :class:`~rlsd.verify.errors.GoldAnswerError` when the gold cannot be read whole.
    """
    from math_verify import verify

    gold_text = clean_math(gold)
    text = clean_math(answer)
    stated = stated_answer(text)
    if stated is not None:
        text = stated
    if float_rounding < 0:
        plain = _plain_numbers(text, gold_text)
        if plain is not None:
            return plain
    gold_parsed, gold_read = parse_math(gold_text, whole=True)
    if not gold_parsed and gold_read:
        raise GoldAnswerError(f"math-verify reads only {gold_read!r} of gold answer {gold[:80]!r}")
    snippet = not _is_prose(text) or stated is not None
    answer_parsed, answer_read = parse_math(text, whole=snippet)
    if not gold_parsed:
        # No expression at all (e.g. several equations with \pm): only the same text matches.
        readings = {answer_read, _extracted_text(text), _extracted_text(f"${text}$")}
        if any(_same_text(_extracted_text(gold_text), read) for read in readings):
            return 1.0
        raise GoldAnswerError(
            f"math-verify cannot parse gold answer {gold[:80]!r}; only the same text can match it"
        )
    if not answer_parsed:
        return 0.0
    options = {"strict": strict, "allow_set_relation_comp": set_relation, "timeout_seconds": None}
    if float_rounding >= 0:
        return float(verify(gold_parsed, answer_parsed, float_rounding=float_rounding, **options))
    gold_value, answer_value = _scalar_value(gold_parsed[0]), _scalar_value(answer_parsed[0])
    if gold_value is not None and answer_value is not None:
        decimals = gold_decimals(gold_read) if gold_read else None
        if decimals is None:
            decimals = gold_decimals(gold_text)
        return float(numbers_agree(gold_value, answer_value, decimals))
    rounding = _structure_rounding(gold_read or gold_text)
    return float(verify(gold_parsed, answer_parsed, float_rounding=rounding, **options))
