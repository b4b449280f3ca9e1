"""The shaped reward of the paper's code, and DAPO's soft over-length penalty.

design.md ("The algorithm"): ``reward = 0.9 · accuracy + 0.1 · format`` where format is 1 when
the whole response matches ``<thought>.*</thought>.*<answer>.*</answer>``, plus an optional
soft over-length penalty (DAPO, Yu et al. 2025, "overlong reward shaping"):

    penalty(L) = 0                                   if L <= L_max - L_buffer
               = factor · ((L_max - L_buffer) - L) / L_buffer   if L_max - L_buffer < L <= L_max
               = -factor                             if L > L_max

With the penalty on the reward can be negative; accuracy and format stay in [0, 1].
"""

from __future__ import annotations


def overlong_penalty(length: int, max_length: int, buffer: int, factor: float = 1.0) -> float:
    """DAPO's soft over-length penalty (<= 0); 0 when ``max_length`` is 0 (off)."""
    if max_length <= 0:
        return 0.0
    if length > max_length:
        return -factor
    threshold = max_length - buffer
    if buffer <= 0 or length <= threshold:
        return 0.0
    return factor * (threshold - length) / buffer


def shaped_reward(
    accuracy: float,
    format_score: float,
    *,
    accuracy_weight: float = 0.9,
    format_weight: float = 0.1,
    penalty: float = 0.0,
) -> float:
    """``accuracy_weight · accuracy + format_weight · format + penalty`` (paper: 0.9 / 0.1)."""
    return accuracy_weight * accuracy + format_weight * format_score + penalty
