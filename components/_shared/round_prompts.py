"""Which prompts round ``r`` samples: a fresh window of the train table per round.

The paper draws a new prompt batch every step. Rounds are unrolled at compile time (design.md,
"Rounds"), so round ``r`` takes ``per_round`` consecutive rows starting at ``r * per_round``,
wrapping around the table's end (the next epoch). ``rlsd.rollout.RolloutConfig.max_prompts``
alone would give every round the same first rows. The rollout's shards then split this window
(shard ``k`` of ``n`` takes its positions ``k, k + n, ...``).
"""

from __future__ import annotations

import os

from rlsd.rollout.selection import round_positions
from rlsd.storage import read_table, write_table

__all__ = ["round_positions", "write_round_prompts"]


def write_round_prompts(prompts_uri: str | os.PathLike[str], round_index: int, per_round: int,
                        output: str | os.PathLike[str]) -> int:
    """Write round ``round_index``'s rows of the prompts table to ``output``; returns how many."""
    table = read_table(prompts_uri)
    positions = round_positions(table.num_rows, round_index, per_round)
    write_table(table.take(positions), output)
    return len(positions)
