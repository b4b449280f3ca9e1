"""Sequence-level group advantages (GRPO / Dr.GRPO) and the zero-advantage-group helpers.

design.md, "The algorithm": for a prompt with G sampled responses and rewards r_1..r_G,

    A_i = (r_i - mean(r)) / (std(r) + eps)        (GRPO, ``scale_by_std=True``)
    A_i =  r_i - mean(r)                          (Dr.GRPO, ``scale_by_std=False``)

``std`` is the unbiased sample standard deviation (``torch.std``, divisor G - 1). Groups whose
rewards are all equal carry no learning signal: their advantages are exactly 0, and they can be
counted (a training metric) or dropped (``filter_zero_groups``).

Layout: rewards are a flat [B] tensor laid out prompt by prompt, G consecutive samples per
prompt, so group g holds samples g*G .. g*G + G - 1 (B = num_prompts * G).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from rlsd.algorithms._checks import float_dtype
from rlsd.algorithms.errors import AlgorithmInputError


def _grouped(rewards: torch.Tensor | Sequence[float], group_size: int) -> torch.Tensor:
    """Rewards as a float [num_prompts, G] tensor, or an error naming what is wrong."""
    if isinstance(group_size, bool) or not isinstance(group_size, int):
        raise AlgorithmInputError(f"group_size must be an int, got {group_size!r}")
    if group_size < 1:
        raise AlgorithmInputError(f"group_size must be >= 1, got {group_size}")
    r = rewards if isinstance(rewards, torch.Tensor) else torch.as_tensor(rewards)
    if r.dim() != 1:
        raise AlgorithmInputError(
            f"rewards must be 1-D [batch] (prompt by prompt), got shape {tuple(r.shape)}"
        )
    if r.numel() == 0:
        raise AlgorithmInputError("rewards is empty")
    if r.numel() % group_size != 0:
        raise AlgorithmInputError(
            f"len(rewards) = {r.numel()} is not a multiple of group_size = {group_size}; "
            "rewards must hold exactly group_size samples per prompt"
        )
    r = r.detach().to(float_dtype(r) if r.is_floating_point() else torch.float32)
    if not bool(torch.isfinite(r).all()):
        bad = (~torch.isfinite(r)).nonzero().flatten().tolist()
        raise AlgorithmInputError(f"rewards must be finite; NaN/inf at indices {bad[:10]}")
    return r.view(-1, group_size)


def zero_advantage_groups(rewards: torch.Tensor | Sequence[float], group_size: int) -> torch.Tensor:
    """Bool [num_prompts]: True for groups whose rewards are all equal (advantage 0, no gradient).

    Equality is exact: rewards come from the same verifier, so equal outcomes give equal floats.
    A group of one sample (``group_size == 1``) is always such a group.
    """
    r = _grouped(rewards, group_size)
    return r.amax(dim=1) == r.amin(dim=1)


def zero_advantage_fraction(rewards: torch.Tensor | Sequence[float], group_size: int) -> float:
    """Fraction of groups with all-equal rewards (the "zero-advantage groups" training metric)."""
    return zero_advantage_groups(rewards, group_size).float().mean().item()


def informative_sample_mask(
    rewards: torch.Tensor | Sequence[float], group_size: int
) -> torch.Tensor:
    """Bool [B]: True for samples of groups whose rewards differ — the rows that
    ``filter_zero_groups`` keeps. Index any per-sample tensor with it to drop the rest."""
    return (~zero_advantage_groups(rewards, group_size)).repeat_interleave(group_size)


def group_advantages(
    rewards: torch.Tensor | Sequence[float],
    group_size: int,
    scale_by_std: bool = True,
    eps: float = 1e-6,
) -> torch.Tensor:
    """Per-sample group advantages A [B] (design.md: ``A_i = (r_i - mean(r)) / (std(r) + eps)``).

    Args:
        rewards: [B] rewards, prompt by prompt (``group_size`` consecutive samples per prompt).
        group_size: G, samples per prompt.
        scale_by_std: True for GRPO (divide by the unbiased std + ``eps``); False for Dr.GRPO.
        eps: added to the std so that near-equal groups do not divide by ~0.

    Returns:
        Detached float tensor [B] (float64 if the rewards are float64, else float32). Groups
        whose rewards are all equal get exactly 0. With ``group_size == 1`` the std is undefined
        (and the mean is the reward itself), so every advantage is 0: a lone sample has nothing
        to be compared with.
    """
    if eps < 0:
        raise AlgorithmInputError(f"eps must be >= 0, got {eps!r}")
    r = _grouped(rewards, group_size)  # [P, G]
    if group_size == 1:
        return torch.zeros(r.numel(), dtype=r.dtype, device=r.device)
    centred = r - r.mean(dim=1, keepdim=True)
    if scale_by_std:
        centred = centred / (r.std(dim=1, keepdim=True, unbiased=True) + eps)
    # The float mean of equal values can differ from them in the last bit; force exact zeros.
    equal = (r.amax(dim=1) == r.amin(dim=1)).unsqueeze(1)
    return torch.where(equal, torch.zeros_like(centred), centred).reshape(-1)
