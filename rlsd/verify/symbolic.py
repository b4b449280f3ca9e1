"""The ``math`` verifier: LaTeX / boxed answers, equivalence decided by math-verify.

``\\frac{14}{3}`` equals ``\\dfrac{14}{3}`` and ``14/3``; ``0.5`` equals ``\\frac12``;
``(3, \\frac{\\pi}{2})`` equals ``\\left( 3, \\frac{\\pi}{2} \\right)``; ``[-2, 7)`` does not equal
``(-2, 7)``.

Rules added to math-verify's (the README's verifier section states them for users):

- **Numbers are compared to the precision the gold answer states.** A gold written as a
  decimal (``0.33``, ``4.50``, ``6.02\\times10^{23}``) is read as rounded at its last digit:
  an answer matches when it rounds to it, half away from zero (``\\frac{1}{3}``, ``0.334``
  and ``0.325`` match ``0.33``; ``0.335`` and ``0.34`` do not). Any other gold (``12``,
  ``2e3``, ``2^{-71}``, ``\\frac{1}{3}``, ``\\sqrt{2}``) is exact: rationals must be equal
  (a decimal counts as the rational it writes: ``0.001`` is ``10^{-3}``), anything
  irrational must agree to 80 significant digits. math-verify alone rounds both sides to 6
  decimals, which grades ``0.0000004 = 0.0000003`` and ``2^{-70} = 2^{-71}`` correct. Sets
  and tuples of numbers compare element by element; other structures go to math-verify,
  rounding to the gold's decimals, else to 12 places. ``math_float_rounding`` (a setting)
  restores math-verify's own rounding to N places.
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
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from rlsd.verify.errors import GoldAnswerError
from rlsd.verify.extract import lists_several_parts, stated_answer, strip_emphasis
from rlsd.verify.numbers import whole_number
from rlsd.verify.registry import register_verifier

# math-verify warns once per process that its timeouts are off; that is deliberate here.
logging.getLogger("math_verify").setLevel(logging.ERROR)

_CURRENCY = re.compile(r"\\\$")
# ``\mathrm{e}`` (Euler's number) and ``\mathrm{i}`` (the imaginary unit): that letter
# (math-verify stops reading at them). Other upright letters are units (``\text{ m}``).
_UPRIGHT_LETTER = re.compile(r"\\(?:mathrm|operatorname|mathit|text|textrm)\s*\{\s*([ei])\s*\}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
_TEXT_ARG = re.compile(r"\\(?:text|textbf|mathrm|mbox|operatorname)\s*\{[^{}]*\}")
_WORD = re.compile(r"[A-Za-z]{3,}")
_ENVIRONMENT = re.compile(r"\\(?:begin|end)\s*\{[^{}]*\}")
# A unit after the value: "\\text{ cm}", "\\,\\mathrm{m/s}", "\\mathrm{~s}" (spacing allowed).
_UNIT = re.compile(r"(?:\\[,;:! ]|~)*\\(?:text|textbf|textrm|mbox|mathrm)\{[~\s]*[A-Za-z]")
_DECIMAL_LITERAL = re.compile(r"\d*\.(\d+)")
_DELIMITERS = ("$", "\\(", "\\[")
#: Significant digits of the exact comparison, and the precision it evaluates at.
_EXACT_DIGITS = 80
_EVAL_DIGITS = 100
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


def gold_quantum(gold_text: str) -> Decimal | None:
    """The unit of the last digit a gold written as a decimal states: ``0.33`` -> 0.01,
    ``6.02e23`` -> 1e21, ``1.60 \\times 10^{-19}`` -> 1e-21; None for an exact gold (an integer,
    ``2e3``, a fraction, an expression). Only a decimal point marks a gold as rounded."""
    number = whole_number(gold_text)
    if number is None or "." not in _strip_delimiters(gold_text):
        return None
    exponent = number.value.as_tuple().exponent
    return Decimal(1).scaleb(exponent) if isinstance(exponent, int) else None


def _structure_rounding(gold_text: str) -> int:
    places = [len(m.group(1)) for m in _DECIMAL_LITERAL.finditer(gold_text)]
    return max(places) if places else _STRUCTURE_ROUNDING


def numbers_agree(gold: Any, answer: Any, quantum: Decimal | None) -> bool:
    """The precision rule (module docstring) on two values (``Decimal`` or sympy numbers).

    With a ``quantum`` (a rounded gold), the answer must round to the gold at that unit,
    half away from zero as people round (``0.334`` and ``0.325`` round to ``0.33``; ``0.335``
    does not). Without one the gold is exact: two rationals must be equal, and anything
    irrational must agree to 80 significant digits (evaluated at 100).
    """
    import sympy

    if quantum is not None:
        value = _decimal(answer)
        target = _decimal(gold)
        if value is None or target is None:
            return False
        try:
            return value.quantize(quantum, rounding=ROUND_HALF_UP) == target.quantize(quantum)
        except ArithmeticError:  # beyond Decimal's precision: not a match
            return False
    g, a = _exact(gold), _exact(answer)
    if g is None or a is None:
        return False
    if g.is_Rational and a.is_Rational:
        return bool(g == a)
    difference = sympy.N(a - g, _EVAL_DIGITS)
    scale = sympy.N(abs(g), _EVAL_DIGITS)
    if scale == 0:
        return bool(difference == 0)
    return bool(abs(difference) <= scale * sympy.Rational(1, 10**_EXACT_DIGITS))


def _exact(value: Any) -> Any:
    """``value`` as an exact sympy number: a ``Decimal`` or a float written in decimal becomes
    the rational it states (math-verify reads ``0.001`` as a binary float, which is not
    exactly 1/1000)."""
    import sympy

    if isinstance(value, Decimal):
        return sympy.Rational(str(value))
    if not isinstance(value, sympy.Basic):
        return None
    return value.replace(lambda e: e.is_Float, lambda f: sympy.Rational(str(f)))


def _decimal(value: Any) -> Decimal | None:
    """``value`` as a ``Decimal`` (exact for rationals that terminate, else to 100 digits)."""
    import sympy

    if isinstance(value, Decimal):
        return value
    exact = _exact(value)
    if exact is None:
        return None
    try:
        return Decimal(str(sympy.N(exact, _EVAL_DIGITS)))
    except ArithmeticError:
        return None


def _scalar(expr: Any) -> Any:
    """``expr`` when it is a real constant (a number, ``\\sqrt{2}``, ``2^{-71}``), else None."""
    import sympy

    if not isinstance(expr, sympy.Expr) or isinstance(expr, sympy.Symbol):
        return None
    if expr.free_symbols or not expr.is_number:
        return None
    value = sympy.N(expr, 30)
    if not value.is_real or not value.is_finite:
        return None
    return expr


def _plain_numbers(answer: str, gold: str) -> float | None:
    """Grade two plain numbers exactly with the precision rule; None when either is not one."""
    got, want = whole_number(answer), whole_number(gold)
    if got is None or want is None:
        return None
    quantum = gold_quantum(gold)
    return float(
        any(numbers_agree(g, a, quantum) for g in want.candidates() for a in got.candidates())
    )


def _elements_agree(gold: Any, answer: Any, gold_text: str) -> bool | None:
    """The precision rule element by element for two sets or tuples of real constants of
    the same size (sets compared in sorted order); None for anything else (math-verify then
    decides). A gold element written as a decimal is rounded at the gold's finest decimal."""
    import sympy

    kinds = (sympy.FiniteSet, sympy.Tuple)
    if not (isinstance(gold, kinds) and type(gold) is type(answer)):
        return None
    g_items, a_items = list(gold.args), list(answer.args)
    if len(g_items) != len(a_items) or not all(_scalar(x) is not None for x in g_items + a_items):
        return None
    if isinstance(gold, sympy.FiniteSet):
        g_items.sort(key=lambda x: float(sympy.N(x, 30)))
        a_items.sort(key=lambda x: float(sympy.N(x, 30)))
    places = [len(m.group(1)) for m in _DECIMAL_LITERAL.finditer(gold_text)]
    unit = Decimal(1).scaleb(-max(places)) if places else None
    return all(numbers_agree(g, a, unit if g.is_Float else None)
               for g, a in zip(g_items, a_items, strict=True))


def _as_latex_number(text: str) -> str:
    """A plain number in ``text`` written out in full (``1e-6`` -> ``0.000001``), so that
    math-verify never reads its ``e`` as Euler's number; other text is returned unchanged."""
    number = whole_number(text)
    if number is None or not re.search(r"\d[eE][-+]?\d", text):
        return text
    written = format(number.value, "f")
    return f"{written}\\%" if number.percent else written


_LIST_WORDS = re.compile(r",?\s*\\text\{\s*(?:and|or)\s*\}\s*|,?\s+(?:and|or)\s+")


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
    if lists_several_parts(gold_text) or _LIST_WORDS.search(gold_text):
        # "2 and -3", "2 \\text{ and } 3": the parts of a list, whichever side writes them so
        gold_text = _LIST_WORDS.sub(", ", gold_text)
        text = _LIST_WORDS.sub(", ", text)
    if float_rounding < 0:
        plain = _plain_numbers(text, gold_text)
        if plain is not None:
            return plain
    gold_text, text = _as_latex_number(gold_text), _as_latex_number(text)
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
    gold_value, answer_value = _scalar(gold_parsed[0]), _scalar(answer_parsed[0])
    if gold_value is not None and answer_value is not None:
        quantum = gold_quantum(gold_read) if gold_read else None
        if quantum is None:
            quantum = gold_quantum(gold_text)
        return float(numbers_agree(gold_value, answer_value, quantum))
    elementwise = _elements_agree(gold_parsed[0], answer_parsed[0], gold_read or gold_text)
    if elementwise is not None:
        return float(elementwise)
    rounding = _structure_rounding(gold_read or gold_text)
    return float(verify(gold_parsed, answer_parsed, float_rounding=rounding, **options))
