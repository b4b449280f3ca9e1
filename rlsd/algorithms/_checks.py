"""Input checks shared by the algorithm modules, each raising one :class:`AlgorithmInputError`."""

from __future__ import annotations

import math

import torch

from rlsd.algorithms.errors import AlgorithmInputError


def require_tensor(name: str, value: object) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise AlgorithmInputError(f"{name} must be a torch.Tensor, got {type(value).__name__}")
    return value


def require_shape(name: str, value: torch.Tensor, shape: tuple[int, ...], expected: str) -> None:
    if tuple(value.shape) != tuple(shape):
        raise AlgorithmInputError(
            f"{name} has shape {tuple(value.shape)}, expected {tuple(shape)} ({expected})"
        )


def require_mask(mask: object) -> torch.Tensor:
    """A [B, T] mask, returned as bool (1/0 floats and ints are accepted; other values are not)."""
    mask = require_tensor("mask", mask)
    if mask.dim() != 2:
        raise AlgorithmInputError(
            f"mask must be 2-D [batch, tokens], got shape {tuple(mask.shape)}"
        )
    if mask.dtype == torch.bool:
        return mask
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise AlgorithmInputError("mask must hold only 0/1 (or bool) values")
    return mask != 0


def require_in_range(name: str, value: float, low: float, high: float,
                     low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float, or an error stating the interval it must lie in."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise AlgorithmInputError(f"{name} must be a number, got {value!r}") from None
    too_low = number <= low if low_open else number < low
    too_high = number >= high if high_open else number > high
    if math.isnan(number) or too_low or too_high:
        interval = f"{'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
        raise AlgorithmInputError(f"{name} must be in {interval}, got {value!r}")
    return number


def float_dtype(*tensors: torch.Tensor | None) -> torch.dtype:
    """At least float32, float64 when any input is float64: advantages are never half precision."""
    dtype = torch.float32
    for t in tensors:
        if t is not None and t.is_floating_point():
            dtype = torch.promote_types(dtype, t.dtype)
    return dtype
