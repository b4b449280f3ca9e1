"""The built-in verifiers called directly (in this process) on real benchmark answer formats.

The same functions run inside the grading workers; tests/verify/test_verify_batch.py covers
that path. Calling them here keeps these many small cases fast.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from rlsd.verify.choice import choice_fallback, choice_letter, choice_verifier
from rlsd.verify.errors import GoldAnswerError
from rlsd.verify.extract import extract_answer
from rlsd.verify.numbers import (
    final_number_text,
    gsm8k_verifier,
    numeric_verifier,
    parse_number,
)
from rlsd.verify.symbolic import math_verifier
from rlsd.verify.text import exact_fallback, exact_verifier, normalise_text


def graded(fn, fallback, response: str, gold: str, **options) -> float:
    """Extract as the worker does, then grade (0 when no answer is found)."""
    answer, _source = extract_answer(response, fallback)
    return 0.0 if answer is None else fn(answer, gold, **options)


# ---- gsm8k -------------------------------------------------------------------------------

GSM8K_SOLUTION = (
    "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n"
    "Natalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72"
)


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        (GSM8K_SOLUTION, "72", 1.0),
        (GSM8K_SOLUTION, "71", 0.0),
        ("Janet makes 9 * 2 = $18 every day.", "18", 1.0),  # final stated number, currency
        ("The total is 1,234 apples.", "1234", 1.0),
        ("<answer>$1,234.00</answer>", "1234", 1.0),
        ("The temperature fell to -5 degrees.", "-5", 1.0),
        ("It drops by −5.", "-5", 1.0),  # Unicode minus
        ("He pays 18.50 dollars.", "18", 0.0),
        ("<answer>18.00</answer>", "18", 1.0),
        (r"\boxed{18}", "#### 18", 1.0),  # gold given as a full solution line
        ("I am not sure.", "18", 0.0),
    ],
)
def test_gsm8k(response: str, gold: str, expected: float) -> None:
    assert graded(gsm8k_verifier, final_number_text, response, gold) == expected


def test_gsm8k_gold_without_number_is_a_data_error() -> None:
    with pytest.raises(GoldAnswerError, match="states no number"):
        gsm8k_verifier("5", "five")


# ---- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value", "percent"),
    [
        ("1,234", Decimal(1234), False),
        ("$18", Decimal(18), False),
        (r"\$18.00", Decimal(18), False),
        ("-5", Decimal(-5), False),
        (".5", Decimal("0.5"), False),
        ("3/4", Decimal("0.75"), False),
        (r"\frac{3}{4}", Decimal("0.75"), False),
        (r"\dfrac34", Decimal("0.75"), False),
        ("25%", Decimal(25), True),
        (r"25\%", Decimal(25), True),
        ("1.5e-3", Decimal("0.0015"), False),
        (r"1.5 \times 10^{-3}", Decimal("0.0015"), False),
        ("x = 5", Decimal(5), False),
        (r"12\text{ cm}", Decimal(12), False),
        ("1{,}000", Decimal(1000), False),
    ],
)
def test_parse_number(text: str, value: Decimal, percent: bool) -> None:
    parsed = parse_number(text)
    assert parsed is not None and parsed.value == value and parsed.percent is percent


def test_parse_number_survives_absurd_inputs() -> None:
    huge = parse_number("9" * 20_000)  # past int()'s 4,300-digit limit
    assert huge is not None and huge.value == Decimal("9" * 20_000)
    assert parse_number("1/0") is None
    assert parse_number("no digits") is None
    assert numeric_verifier("9" * 20_000, "18") == 0.0
    assert numeric_verifier("1e999999999", "1e999999998") == 0.0  # Decimal overflow: no match


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("3.14159", "3.1416", 1.0),  # |Δ|/3.14 = 2e-6 < 1e-4
        ("3.14", "3.1416", 0.0),  # 5e-4 relative: outside
        ("0.75", "3/4", 1.0),
        (r"\frac{3}{4}", "0.75", 1.0),
        ("25%", "0.25", 1.0),
        ("25", "25%", 1.0),
        ("0.25", "25%", 1.0),
        ("30%", "0.25", 0.0),
        ("1e-9", "0", 1.0),  # absolute tolerance near 0 (default 1e-8)
        ("1e-6", "0", 0.0),
        ("100.009", "100", 1.0),
        ("100.02", "100", 0.0),
    ],
)
def test_numeric_tolerances(answer: str, gold: str, expected: float) -> None:
    assert numeric_verifier(answer, gold) == expected


def test_numeric_tolerance_is_configurable() -> None:
    assert numeric_verifier("3.14", "3.1416", rel_tol=1e-3) == 1.0
    assert numeric_verifier("1e-6", "0", abs_tol=1e-5) == 1.0
    assert (
        graded(numeric_verifier, final_number_text, "So the answer is 3/4 of a cake.", "0.75")
        == 1.0
    )


# ---- choice --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("(B)", "B"),
        ("B) 42", "B"),
        ("b) 42", "B"),
        ("Answer: C", "C"),
        ("answer: c", "(C)"),
        ("The answer is (A).", "A"),
        ("A train leaves at noon and arrives at 3 pm.\nThe correct option is (D).", "D"),
        ("Looking at the chart, option B is too small. The answer is C, since 7 > 5.", "C"),
        (r"Final: \boxed{D}", "D"),
        ("<thought>A careful look.</thought><answer>C</answer>", "C"),
        ("<answer>(b)</answer>", "B"),
        ("**Answer: B**", "B"),
        (r"<answer>\text{(C)}</answer>", "C"),
        ("The bars show growth.\n\n(A)", "A"),
        ("The answer is B because the slope is positive.", "B"),
    ],
)
def test_choice_reads_option_letters(response: str, gold: str) -> None:
    assert graded(choice_verifier, choice_fallback, response, gold) == 1.0


@pytest.mark.parametrize(
    "response",
    [
        "A cat sat on a mat.",  # the article is not an answer
        "The answer is a triangle.",
        "<answer>A triangle</answer>",
        "I cannot tell.",
    ],
)
def test_choice_does_not_mistake_prose_for_an_option(response: str) -> None:
    answer, _ = extract_answer(response, choice_fallback)
    assert answer is None or choice_letter(answer) is None


def test_choice_wrong_letter_and_bad_gold() -> None:
    assert graded(choice_verifier, choice_fallback, "The answer is (A).", "B") == 0.0
    with pytest.raises(GoldAnswerError, match="not an option letter"):
        choice_verifier("A", "forty-two")


# ---- exact ---------------------------------------------------------------------------------


def test_exact_normalisation() -> None:
    assert normalise_text(r"  \text{ Paris. }  ") == "paris"
    assert normalise_text("New   York\n City!") == "new york city"
    assert normalise_text(r"$\textbf{\text{Yes}}$") == "yes"
    assert exact_verifier(r"\text{Evelyn}", "evelyn") == 1.0
    assert exact_verifier("'Paris'", "Paris.") == 1.0
    assert exact_verifier("Lyon", "Paris") == 0.0


def test_exact_fallback_reads_the_final_line() -> None:
    assert (
        graded(exact_verifier, exact_fallback, "Thinking...\nThe answer is: Paris.", "paris") == 1.0
    )
    assert graded(exact_verifier, exact_fallback, "Thinking...\nParis", "paris") == 1.0


# ---- math (math-verify) --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        (r"So $x = \boxed{\frac{14}{3}}$.", r"\frac{14}{3}", 1.0),
        (r"\boxed{\dfrac{14}{3}}", r"\frac{14}{3}", 1.0),
        (r"\boxed{14/3}", r"\frac{14}{3}", 1.0),
        (r"\boxed{\left( 3, \frac{\pi}{2} \right)}", r"(3, \frac{\pi}{2})", 1.0),
        (r"\boxed{(3, \frac{\pi}{3})}", r"(3, \frac{\pi}{2})", 0.0),
        (r"\boxed{[-2,7)}", r"[-2, 7)", 1.0),
        (r"\boxed{(-2,7)}", r"[-2, 7)", 0.0),  # open vs half-open interval
        (r"\boxed{(-\infty,3]}", r"(-\infty, 3]", 1.0),
        (r"<answer>0.5</answer>", r"\frac12", 1.0),
        (r"<answer>\frac{1}{2}</answer>", "0.5", 1.0),
        (r"\boxed{2\sqrt{3}}", r"\sqrt{12}", 1.0),
        (r"\boxed{\text{Evelyn}}", r"\text{Evelyn}", 1.0),
        (r"\boxed{90^\circ}", "90", 1.0),
        (r"\boxed{5}", "6", 0.0),
        ("Adding them, the final answer is $\\frac{7}{2}$.", "3.5", 1.0),  # fallback
        ("Therefore we get $x^2 + 2x$", "2x+x^2", 1.0),  # fallback: last math span
    ],
)
def test_math_500_answers(response: str, gold: str, expected: float) -> None:
    assert graded(math_verifier, None, response, gold) == expected


def test_math_unparseable_gold_is_a_data_error() -> None:
    with pytest.raises(GoldAnswerError, match="cannot parse gold"):
        math_verifier("5", r"\frac{")
    with pytest.raises(GoldAnswerError):
        math_verifier("5", "")
