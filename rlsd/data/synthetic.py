"""The built-in synthetic task: seeded integer arithmetic in difficulty levels.

Sized for the default model (SmolLM2-135M-Instruct) so that RL has signal from step one:
level 1 is single-digit addition, level 2 the sums of two numbers in 2..29 that the built-in
training profile (:mod:`rlsd.profiles`) trains on, which the default model gets right about a
quarter of the time at temperature 0.8; higher levels add two-digit addition/subtraction,
multiplication, then expressions with parentheses.

Rows come out in the prompt schema's raw form (``prompt`` is the bare question; data prep
applies the prompt template like for any other source). Everything is a pure function of
``(n, difficulty, seed)``, and the rows are drawn from one seeded stream in order, so a larger
``n`` extends a smaller one: the first rows and their ids stay the same.
"""

from __future__ import annotations

import json
import random
from typing import Any

from rlsd.data.errors import DataError

#: Operand ranges and shapes per level (inclusive ranges).
LEVELS: dict[int, str] = {
    1: "a + b, a and b in 0..9",
    2: "a + b, a and b in 2..29",
    3: "a + b or a - b (a >= b), a and b in 10..99",
    4: "a * b, one factor in 2..9 and the other in 10..99",
    5: "(a op b) op c or a op (b op c), op in + - *, numbers in 2..20",
    6: "(a op b) op (c op d), op in + - *, numbers in 2..30",
}
MAX_DIFFICULTY = max(LEVELS)

#: Distinct problems per level, where that number is small enough to matter for ``n``.
_CAPACITY = {1: 10 * 10, 2: 28 * 28, 3: 90 * 90 + 90 * 91 // 2, 4: 2 * 8 * 90}

SOURCE = "synthetic:arithmetic"


def level_capacity(difficulty: int) -> int | None:
    """How many distinct problems level ``difficulty`` has (None: more than anyone asks)."""
    return _CAPACITY.get(difficulty)

VERIFIER = "numeric"

# An expression is an int leaf or (op, left, right).
Expr = int | tuple[str, "Expr", "Expr"]


def _draw(rng: random.Random, level: int) -> Expr:
    if level == 1:
        return ("+", rng.randint(0, 9), rng.randint(0, 9))
    if level == 2:
        return ("+", rng.randint(2, 29), rng.randint(2, 29))
    if level == 3:
        a, b = rng.randint(10, 99), rng.randint(10, 99)
        if rng.random() < 0.5:
            return ("+", a, b)
        return ("-", max(a, b), min(a, b))  # keep level 3 free of negative numbers
    if level == 4:
        small, big = rng.randint(2, 9), rng.randint(10, 99)
        return ("*", small, big) if rng.random() < 0.5 else ("*", big, small)
    if level == 5:
        inner: Expr = (rng.choice("+-*"), rng.randint(2, 20), rng.randint(2, 20))
        op, c = rng.choice("+-*"), rng.randint(2, 20)
        return (op, inner, c) if rng.random() < 0.5 else (op, c, inner)
    left: Expr = (rng.choice("+-*"), rng.randint(2, 30), rng.randint(2, 30))
    right: Expr = (rng.choice("+-*"), rng.randint(2, 30), rng.randint(2, 30))
    return (rng.choice("+-*"), left, right)


def _value(expr: Expr) -> int:
    if isinstance(expr, int):
        return expr
    op, left, right = expr
    a, b = _value(left), _value(right)
    return a + b if op == "+" else a - b if op == "-" else a * b


def render(expr: Expr, top: bool = True) -> str:
    """``expr`` as text; every inner operation is parenthesised, so no precedence is implied."""
    if isinstance(expr, int):
        return str(expr)
    op, left, right = expr
    text = f"{render(left, False)} {op} {render(right, False)}"
    return text if top else f"({text})"


def _reduce_once(expr: Expr) -> Expr:
    """Evaluate the leftmost operation whose operands are both numbers."""
    assert not isinstance(expr, int)
    op, left, right = expr
    if isinstance(left, int) and isinstance(right, int):
        return _value(expr)
    if not isinstance(left, int):
        return (op, _reduce_once(left), right)
    return (op, left, _reduce_once(right))


def worked_solution(expr: Expr) -> str:
    """Step-by-step reduction, e.g. ``(3 + 4) * 5 = 7 * 5 = 35`` (the teacher's hint)."""
    steps = [render(expr)]
    while not isinstance(expr, int):
        expr = _reduce_once(expr)
        steps.append(render(expr))
    return " = ".join(steps)


def generate_arithmetic(n: int, difficulty: int = 1, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct arithmetic problems of one ``difficulty`` (1..6), deterministic in the seed.

    Returns rows with ``id``, ``prompt`` (bare question), ``answer`` (integer text),
    ``solution`` (worked steps), ``verifier`` (``numeric``), ``source`` and ``meta``.
    Problems are distinct so that the train/eval split cannot leak a question; a request
    for more problems than a level has raises :class:`DataError`.
    """
    if difficulty not in LEVELS:
        raise DataError(f"synthetic difficulty must be in 1..{MAX_DIFFICULTY}, got {difficulty}")
    if n < 1:
        raise DataError(f"synthetic size must be at least 1, got {n}")
    capacity = level_capacity(difficulty)
    if capacity is not None and n > capacity:
        raise DataError(
            f"synthetic difficulty {difficulty} ({LEVELS[difficulty]}) has only {capacity} "
            f"distinct problems, asked for n={n}; lower the size or raise the difficulty"
        )
    # A string seed goes through sha512 in random.seed: stable across runs and PYTHONHASHSEED.
    rng = random.Random(f"rlsd-arithmetic:{difficulty}:{seed}")
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    while len(rows) < n:
        expr = _draw(rng, difficulty)
        text = render(expr)
        if text in seen:
            continue
        seen.add(text)
        rows.append({
            "id": f"arith-L{difficulty}-s{seed}-{len(rows):06d}",
            "prompt": f"What is {text}?",
            "answer": str(_value(expr)),
            "solution": worked_solution(expr),
            "verifier": VERIFIER,
            "source": SOURCE,
            "meta": json.dumps({"task": "arithmetic", "difficulty": difficulty}),
        })
    return rows
