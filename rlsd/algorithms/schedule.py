"""The RLSD mixing schedule λ(step).

design.md: "λ0 = 0.5, linear decay to 0 over 60 steps (paper text says 50; configurable)".
With an optional warm-up at λ0 first:

    λ(s) = λ0                                  for s < warmup_steps
    λ(s) = λ0 · max(0, 1 − (s − warmup) / D)   after, D = decay_steps

so λ(warmup) = λ0 and λ(warmup + D) = 0. ``decay_steps = 0`` means no decay: λ stays λ0.
``step`` counts optimizer steps from 0.
"""

from __future__ import annotations

import operator

from rlsd.algorithms._checks import require_in_range
from rlsd.algorithms.errors import AlgorithmInputError


def _non_negative_int(name: str, value: int) -> int:
    """``value`` as an int >= 0; numpy/torch integers are accepted, floats and bools are not."""
    try:
        number = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        number = None
    if number is None or number < 0:
        raise AlgorithmInputError(f"{name} must be an int >= 0, got {value!r}")
    return number


def rlsd_lambda(step: int, lam0: float = 0.5, decay_steps: int = 60,
                warmup_steps: int = 0) -> float:
    """λ at optimizer step ``step`` (0-based): ``lam0`` during warm-up, then linear to 0.

    ``decay_steps = 0`` keeps λ constant at ``lam0`` forever.
    """
    step = _non_negative_int("step", step)
    decay_steps = _non_negative_int("decay_steps", decay_steps)
    warmup_steps = _non_negative_int("warmup_steps", warmup_steps)
    lam0 = require_in_range("lam0", lam0, 0.0, 1.0)
    if decay_steps == 0 or step < warmup_steps:
        return lam0
    return lam0 * max(0.0, 1.0 - (step - warmup_steps) / decay_steps)
