"""The synthetic arithmetic task: determinism, stable ids, difficulty, correct answers."""

from __future__ import annotations

import json
import re

import pytest

from rlsd.data import DataError, generate_arithmetic
from rlsd.data.synthetic import LEVELS, render, worked_solution


def _expr(row: dict) -> str:
    match = re.fullmatch(r"What is (.+)\?", row["prompt"])
    assert match, row["prompt"]
    return match.group(1)


def test_same_arguments_same_rows_and_seed_changes_them():
    a = generate_arithmetic(50, difficulty=2, seed=7)
    assert a == generate_arithmetic(50, difficulty=2, seed=7)
    b = generate_arithmetic(50, difficulty=2, seed=8)
    assert [r["prompt"] for r in a] != [r["prompt"] for r in b]


def test_ids_are_stable_and_a_larger_n_extends_a_smaller_one():
    small = generate_arithmetic(10, difficulty=3, seed=1)
    large = generate_arithmetic(40, difficulty=3, seed=1)
    assert large[:10] == small
    assert [r["id"] for r in small] == [f"arith-L3-s1-{i:06d}" for i in range(10)]


@pytest.mark.parametrize("level", sorted(LEVELS))
def test_answers_are_the_integer_value_of_the_expression(level):
    rows = generate_arithmetic(60, difficulty=level, seed=3)
    for row in rows:
        expr = _expr(row)
        # Independent check: Python evaluates the fully parenthesised text.
        assert row["answer"] == str(eval(expr, {"__builtins__": {}}))  # noqa: S307
        assert re.fullmatch(r"-?\d+", row["answer"])
        assert row["verifier"] == "numeric"
        assert json.loads(row["meta"]) == {"task": "arithmetic", "difficulty": level}
        assert row["solution"].startswith(expr + " = ")
        assert row["solution"].endswith(" = " + row["answer"])
    assert len({r["prompt"] for r in rows}) == len(rows)  # distinct problems


def test_difficulty_levels_have_the_documented_shapes():
    numbers = re.compile(r"\d+")
    for row in generate_arithmetic(100, 1, 0):  # all 100 single-digit sums
        a, b = map(int, numbers.findall(_expr(row)))
        assert " + " in _expr(row) and 0 <= a <= 9 and 0 <= b <= 9
    for row in generate_arithmetic(784, 2, 0):  # all 784 sums of 2..29
        a, b = map(int, numbers.findall(_expr(row)))
        assert " + " in _expr(row) and 2 <= a <= 29 and 2 <= b <= 29
    for row in generate_arithmetic(50, 3, 0):
        expr = _expr(row)
        a, b = map(int, numbers.findall(expr))
        assert 10 <= a <= 99 and 10 <= b <= 99 and re.fullmatch(r"\d+ [+-] \d+", expr)
        assert int(row["answer"]) >= 0
    for row in generate_arithmetic(50, 4, 0):
        assert re.fullmatch(r"\d+ \* \d+", _expr(row))
    for row in generate_arithmetic(50, 5, 0):
        expr = _expr(row)
        assert expr.count("(") == 1 and len(re.findall(r" [+*-] ", expr)) == 2
    for row in generate_arithmetic(50, 6, 0):
        expr = _expr(row)
        assert expr.count("(") == 2 and len(re.findall(r" [+*-] ", expr)) == 3


def test_worked_solution_reduces_step_by_step():
    expr = ("*", ("+", 3, 4), 5)
    assert render(expr) == "(3 + 4) * 5"
    assert worked_solution(expr) == "(3 + 4) * 5 = 7 * 5 = 35"
    assert worked_solution(("-", ("*", 2, 3), ("+", 1, 1))) == "(2 * 3) - (1 + 1) = 6 - (1 + 1) = 6 - 2 = 4"


def test_more_problems_than_a_level_has_is_one_clear_error():
    with pytest.raises(DataError, match="difficulty 1 .* only 100 distinct problems, asked for n=101"):
        generate_arithmetic(101, difficulty=1)
    with pytest.raises(DataError, match="difficulty must be in 1..6"):
        generate_arithmetic(5, difficulty=7)
