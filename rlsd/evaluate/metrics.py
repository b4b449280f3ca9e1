"""Benchmark metrics over n samples per prompt.

- pass@k, the unbiased estimator of Chen et al. (2021): with n samples of which c are
  correct, ``pass@k = 1 − C(n − c, k) / C(n, k)``, the chance that at least one of k samples
  drawn without replacement is correct; averaged over prompts.
- mean@n: the mean accuracy of all n samples (pass@1 equals it in expectation).
- maj@n: majority vote: the most frequent extracted answer of the n samples is graded
  (ties go to the answer seen first).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k for one prompt with ``c`` correct out of ``n`` samples (k <= n)."""
    if not 0 <= c <= n:
        raise ValueError(f"need 0 <= c <= n, got n={n}, c={c}")
    if not 1 <= k <= n:
        raise ValueError(f"need 1 <= k <= n, got n={n}, k={k}")
    if n - c < k:
        return 1.0
    # 1 − Π_{i=n−c+1}^{n} (1 − k/i): the ratio of binomials without huge factorials.
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_at_n(correct: Sequence[float]) -> float:
    """Mean accuracy of a prompt's samples."""
    return sum(correct) / len(correct) if correct else 0.0


def majority_answer(answers: Sequence[str | None]) -> str | None:
    """The most frequent non-empty answer (first seen wins a tie); None if there is none."""
    counts = Counter(a for a in answers if a)
    if not counts:
        return None
    best = max(counts.values())
    return next(a for a in answers if a and counts[a] == best)
