"""Which prompts a rollout run generates for, and checks on them before any model loads.

The pipeline fans rollout out over shards (a KFP ``ParallelFor``): shard ``k`` of ``n`` takes
the prompts at positions ``k, k + n, k + 2n, ...`` of the table, after ``max_prompts`` has cut
the table to its first rows. The shards partition the prompts exactly and depend only on the
table's row order, so re-running a shard reproduces it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from rlsd.rollout.errors import RolloutError


def select_prompts(
    rows: Sequence[Mapping[str, Any]],
    max_prompts: int | None = None,
    shard_index: int = 0,
    num_shards: int = 1,
) -> list[tuple[int, Mapping[str, Any]]]:
    """``(position in the table, row)`` for the rows this shard generates, in table order."""
    if num_shards < 1 or not 0 <= shard_index < num_shards:
        raise ValueError(f"shard_index {shard_index} is not in 0..{num_shards - 1}")
    limit = len(rows) if max_prompts is None else min(max_prompts, len(rows))
    return [(i, rows[i]) for i in range(shard_index, limit, num_shards)]


def round_positions(num_rows: int, round_index: int, per_round: int) -> list[int]:
    """Row positions of the prompts round ``round_index`` samples: ``per_round`` consecutive
    rows from ``round_index * per_round``, wrapping around the table's end (the next epoch);
    ``per_round <= 0`` or ``>= num_rows``: all rows. The paper draws a new prompt batch every
    step; the staged pipeline and the fused loop both take their rounds' windows from here.

    >>> round_positions(5, 1, 2), round_positions(5, 2, 2), round_positions(5, 0, 9)
    ([2, 3], [4, 0], [0, 1, 2, 3, 4])
    """
    if num_rows < 0 or round_index < 0:
        raise ValueError(f"num_rows ({num_rows}) and round_index ({round_index}) must be >= 0")
    if per_round <= 0 or per_round >= num_rows:
        return list(range(num_rows))
    start = (round_index * per_round) % num_rows
    return [(start + i) % num_rows for i in range(per_round)]


def check_prompt_rows(rows: Sequence[Mapping[str, Any]], where: str = "prompts") -> None:
    """Fail on rows a rollout cannot key or render, naming them (before any model loads).

    Every row needs a non-empty, unique ``id`` (rollout rows are keyed by
    ``(prompt_id, sample_index)``) and a ``prompt`` or a ``messages`` list with a user turn.
    """
    if not rows:
        raise RolloutError(f"{where}: the prompts table has no rows")
    missing_id = [i for i, r in enumerate(rows) if not r.get("id")]
    if missing_id:
        raise RolloutError(f"{where}: row(s) {missing_id[:10]} have no prompt id")
    duplicates = sorted(k for k, n in Counter(str(r["id"]) for r in rows).items() if n > 1)
    if duplicates:
        raise RolloutError(f"{where}: duplicate prompt id(s) {duplicates[:10]}; rollout rows "
                           "are keyed by (prompt_id, sample_index), so ids must be unique")
    no_text = [str(r["id"]) for r in rows if not _has_question(r)]
    if no_text:
        raise RolloutError(f"{where}: prompt(s) {no_text[:10]} have neither a prompt text nor "
                           "a user message")


def check_images_supported(rows: Sequence[Mapping[str, Any]], multimodal: bool) -> None:
    """A text-only policy must not silently drop a prompt's images."""
    if multimodal:
        return
    with_images = [str(r.get("id")) for r in rows if r.get("images")]
    if with_images:
        raise RolloutError(
            f"prompt(s) {with_images[:10]} have images but the policy is a text-only model; "
            "use a vision-language policy or drop the images in data prep")


def _has_question(row: Mapping[str, Any]) -> bool:
    if row.get("prompt"):
        return True
    return any(m.get("role") == "user" for m in row.get("messages") or [])
