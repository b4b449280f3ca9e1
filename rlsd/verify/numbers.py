"""Reading numbers the way benchmark answers write them, and the ``gsm8k`` / ``numeric`` verifiers.

Accepted spellings: ``1,234`` (thousands commas, also LaTeX ``1{,}234``), ``$18`` / ``\\$18``,
``18.00``, ``-5`` (also the Unicode minus), ``.5``, ``3/4``, ``\\frac{3}{4}`` / ``\\dfrac34``,
``25%`` / ``25\\%``, ``1.5e-3``, ``1.5 \\times 10^{-3}``, and text around the number
(``18 apples``, ``x = 5``) where the last number wins.

Values are :class:`decimal.Decimal`: exact for what the text says, free of the 4,300-digit
limit on ``int()``, and free of float rounding in the exact (``gsm8k``) comparison.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, DivisionByZero, InvalidOperation

from rlsd.verify.errors import GoldAnswerError
from rlsd.verify.extract import stated_answer
from rlsd.verify.registry import register_verifier

# A plain number: thousands-grouped or not, optional decimals; or a bare ".5".
_NUM = r"(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:[eE][-+]?\d+)?|\.\d+"
# One number as it appears in text: sign, currency, number, optional "/ denominator", percent.
# The look-behind keeps "x2", "v1.5", "\sqrt{2}" and "x^2" from yielding a number; the
# look-ahead keeps the base of a power ("2^{10}") from being read as the number it states.
NUMBER_TOKEN = re.compile(
    rf"(?<![A-Za-z0-9.{{^_])(?P<sign>[-+]?)\s?(?:\\?\$\s?)?(?P<num>{_NUM})(?![0-9]*\s*\^)"
    rf"(?:\s*/\s*(?P<den>{_NUM}))?(?P<pct>\s?\\?%)?"
)
_FRAC_BRACED = re.compile(r"\\[dt]?frac\s*\{([^{}]*)\}\s*\{([^{}]*)\}")
_FRAC_DIGITS = re.compile(r"\\[dt]?frac\s*(\d)\s*(\d)")
_TIMES_TEN = re.compile(
    r"\s*(?:\\times|\\cdot|\*|×|x)\s*10\s*(?:\^|\*\*)\s*\{?\s*([-+−]?\d+)\s*\}?")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_GSM8K_MARK = "####"
# "2 500" / "2\,500": digits grouped by spaces; "3,75" / "0,111": a decimal comma (a comma
# that is not a thousands separator: not followed by exactly three digits, or after a lone 0).
_SPACE_GROUPED = re.compile(r"[-+]?\d{1,3}(?: \d{3})+(?:\.\d+)?")
_DECIMAL_COMMA = re.compile(r"[-+]?(?:\d+,\d{1,2}|\d+,\d{4,}|0,\d+)")
# Inside text: "1 234" (space-grouped thousands), "1,5" (a decimal comma: one or two digits
# after it), "1.000.000" (dot-grouped thousands, two groups or more).
_SPACE_GROUPED_IN_TEXT = re.compile(r"(?<![\d.,])\d{1,3}(?: \d{3})+(?![\d,]|\.\d)")
_DECIMAL_COMMA_IN_TEXT = re.compile(r"(?<![\d.,])(\d+),(\d{1,2})(?![\d,])")
_DOT_GROUPED_IN_TEXT = re.compile(r"(?<![\d.,])\d{1,3}(?:\.\d{3}){2,}(?![\d.,])")
# "3 or 4": a hedge names two answers (a slash is a fraction, "3/4"); "x = 2 * 6 = 12": the value is after the last =.
_HEDGE = re.compile(r"\d\s+(?:or|and|&)\s+[-+]?\$?\d", re.IGNORECASE)
_MATH_DELIMITED = re.compile(r"^\s*(?:\$\$?|\\\(|\\\[)(.*?)(?:\$\$?|\\\)|\\\])\s*$", re.DOTALL)


@dataclass(frozen=True)
class ParsedNumber:
    """A number read from text; ``percent`` when it was written with ``%``."""

    value: Decimal
    percent: bool = False

    def candidates(self) -> tuple[Decimal, ...]:
        """Values this may mean: ``25%`` may be compared as 25 or as 0.25."""
        if self.percent:
            return (self.value, self.value / 100)
        return (self.value,)


def _normalise(text: str) -> str:
    text = text.replace("−", "-").replace("{,}", ",")
    text = _SPACE_GROUPED_IN_TEXT.sub(lambda m: m.group(0).replace(" ", ""), text)
    text = _DOT_GROUPED_IN_TEXT.sub(lambda m: m.group(0).replace(".", ""), text)
    text = _DECIMAL_COMMA_IN_TEXT.sub(r"\1.\2", text)
    for junk in ("\\!", "\\,", "\\;", "\\ ", "~", "$$"):
        text = text.replace(junk, " " if junk == "\\ " else "")
    text = _TEXT_WRAPPER.sub(r" \1", text)
    text = _FRAC_BRACED.sub(r"\1/\2", text)
    text = _FRAC_DIGITS.sub(r"\1/\2", text)
    text = _TIMES_TEN.sub(lambda m: "e" + m.group(1).replace("−", "-"), text)
    return text.replace("\\left", "").replace("\\right", "").strip()


def _to_decimal(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def _from_match(match: re.Match[str]) -> ParsedNumber | None:
    try:
        value = _to_decimal(match.group("num"))
        if match.group("den"):
            value = value / _to_decimal(match.group("den"))
    except (InvalidOperation, DivisionByZero, ArithmeticError):
        return None
    if match.group("sign") == "-":
        value = -value
    return ParsedNumber(value, percent=bool(match.group("pct")))


def parse_number(text: str) -> ParsedNumber | None:
    """Read the number ``text`` states, or the last number in it; None if it has none."""
    # Strip only a trailing full stop: a leading "." belongs to ".5".
    clean = _normalise(text).rstrip(" \t\n.;:").strip("$").strip()
    whole = NUMBER_TOKEN.fullmatch(clean)
    if whole:
        return _from_match(whole)
    last = None
    for last in NUMBER_TOKEN.finditer(clean):  # noqa: B007 - we want the last match
        pass
    return _from_match(last) if last is not None else None


def whole_number(text: str) -> ParsedNumber | None:
    """The number ``text`` is, when the whole of it is one number (``2e3``, ``$1,234.50``,
    ``2 500``, ``3,75`` with a decimal comma, ``25\\%``, ``\\frac{3}{4}``), else None."""
    delimited = _MATH_DELIMITED.match(text)
    if delimited:
        text = delimited.group(1)
    clean = _normalise(text).rstrip(" \t\n.;:").strip("$").strip()
    if _SPACE_GROUPED.fullmatch(clean):
        clean = clean.replace(" ", "")
    elif _DECIMAL_COMMA.fullmatch(clean):
        clean = clean.replace(",", ".")
    whole = NUMBER_TOKEN.fullmatch(clean)
    return _from_match(whole) if whole else None


def numbers_match(a: ParsedNumber, gold: ParsedNumber, rel_tol: float, abs_tol: float) -> bool:
    """``|a − gold| <= rel_tol · max(|a|, |gold|)`` for any reading of a percentage; only a gold
    of exactly 0, where no relative tolerance can hold, uses ``|a| <= abs_tol`` instead (an
    absolute tolerance elsewhere would accept 0 for 6.67e-11)."""
    rel, tol = Decimal(repr(rel_tol)), Decimal(repr(abs_tol))
    for x in a.candidates():
        for y in gold.candidates():
            try:
                bound = tol if y == 0 else rel * max(abs(x), abs(y))
                if abs(x - y) <= bound:
                    return True
            except ArithmeticError:  # exponent overflow on absurd inputs: not a match
                continue
    return False


def final_number_text(response: str) -> str | None:
    """The fallback answer of a numeric response: after the last ``####`` (GSM8K), else the
    first number of the clause an "answer is" / "Answer:" phrase states
    (:func:`rlsd.verify.extract.stated_answer`: ``"The answer is 12, which took 3 steps"``
    gives ``12``; ``"The answer is 2 \\times 6 = 12"`` reads after the last ``=``; a hedge,
    ``"3 or 4"``, is no answer), else the last number stated anywhere."""
    mark = response.rfind(_GSM8K_MARK)
    if mark >= 0:
        tail = response[mark + len(_GSM8K_MARK) :].strip()
        if tail:
            return tail.splitlines()[0]
    stated = stated_answer(response)
    if stated is not None:
        value = stated.rpartition("=")[2]  # "2 \times 6 = 12": the value is the last side
        if _HEDGE.search(_normalise(value)):
            return None  # "3 or 4": two answers are none
        first = NUMBER_TOKEN.search(_normalise(value))
        if first is not None:
            return first.group(0)
    last = None
    for last in NUMBER_TOKEN.finditer(_normalise(response)):  # noqa: B007
        pass
    return last.group(0) if last is not None else None


def gold_number(gold: str) -> ParsedNumber:
    """The reference number; a full GSM8K solution (``... #### 72``) is read after ``####``."""
    mark = gold.rfind(_GSM8K_MARK)
    text = gold[mark + len(_GSM8K_MARK) :] if mark >= 0 else gold
    parsed = parse_number(text)
    if parsed is None:
        raise GoldAnswerError(f"gold answer {gold[:80]!r} states no number")
    return parsed


@register_verifier("gsm8k", fallback=final_number_text)
def gsm8k_verifier(answer: str, gold: str) -> float:
    """1.0 when the answer states exactly the gold number (``$1,234.00`` equals ``1234``)."""
    got = parse_number(answer)
    if got is None:
        return 0.0
    return float(numbers_match(got, gold_number(gold), rel_tol=0.0, abs_tol=0.0))


@register_verifier(
    "numeric",
    fallback=final_number_text,
    config_options={"rel_tol": "numeric_rel_tol", "abs_tol": "numeric_abs_tol"},
)
def numeric_verifier(
    answer: str, gold: str, *, rel_tol: float = 1e-4, abs_tol: float = 1e-8
) -> float:
    """1.0 when the answer is within ``rel_tol`` (relative) or ``abs_tol`` (near 0) of gold."""
    got = parse_number(answer)
    if got is None:
        return 0.0
    return float(numbers_match(got, gold_number(gold), rel_tol=rel_tol, abs_tol=abs_tol))
