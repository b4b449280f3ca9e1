"""Seeded train / held-out eval split.

Rows are ordered by ``sha256(f"{seed}:{id}")`` and the first ``n_eval`` of that order go to
eval, the next ``n_train`` to train. The order depends only on the ids and the seed, not on
the source row order, so the same data set splits the same way however it was read, and a
row keeps its side when rows are added to the data set (it only moves if others overtake it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from rlsd.data.errors import DataError


def split_sizes(n_valid: int, n_train: int | None, n_eval: int | None,
                eval_fraction: float) -> tuple[int, int]:
    """(train rows, eval rows) for ``n_valid`` valid rows.

    ``n_eval`` wins over ``eval_fraction``; a positive fraction holds out at least one row
    when there are two or more. ``n_train=None`` takes every row not held out. Raises
    :class:`DataError` when the sizes ask for more rows than there are, or when ``n_eval``
    alone would leave no training rows.
    """
    if n_eval is None:
        n_eval = round(n_valid * eval_fraction)
        if eval_fraction > 0 and n_valid >= 2:
            n_eval = max(n_eval, 1)
        n_eval = min(n_eval, n_valid)
    elif n_eval > n_valid or (n_train is None and n_eval == n_valid and n_valid):
        # Never a silent empty train split: training on it fails much later, far from here.
        raise DataError(f"n_eval={n_eval} leaves no training rows: only {n_valid} valid rows; "
                        "lower n_eval (or give n_train=0 for an evaluation-only set)")
    train = n_valid - n_eval if n_train is None else n_train
    if n_eval + train > n_valid:
        raise DataError(
            f"asked for n_train={train} and n_eval={n_eval} but only {n_valid} valid rows"
        )
    return train, n_eval


def split_order(ids: Sequence[str], seed: int) -> list[int]:
    """Indices of ``ids`` in the seeded hash order."""
    def key(i: int) -> bytes:
        return hashlib.sha256(f"{seed}:{ids[i]}".encode()).digest()

    return sorted(range(len(ids)), key=key)


def split_indices(ids: Sequence[str], *, n_train: int | None, n_eval: int | None,
                  eval_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, eval indices) into ``ids``, disjoint, each in the seeded hash order."""
    train, held = split_sizes(len(ids), n_train, n_eval, eval_fraction)
    order = split_order(ids, seed)
    return order[held:held + train], order[:held]
