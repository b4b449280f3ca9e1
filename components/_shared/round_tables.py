"""Join a round's shards: concatenate the per-shard tables and prove they belong together.

The pipeline fans rollout -> verify -> score out over shards (``ParallelFor``) and collects
each stage's tables (``dsl.Collected``). Before the update trains on them, the merged tables
must describe the same responses: every rollout has exactly one reward (and one scores row,
whose ``response_digest`` matches), no (prompt_id, sample_index) appears twice across shards,
and every prompt has the same number of samples (GRPO groups). Those checks are
:func:`rlsd.train.build_round_data`'s, so the update itself would fail on the same tables;
here they fail a cheap task, before a PyTorchJob is scheduled.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pyarrow as pa

from rlsd.algorithms import AlgorithmConfig
from rlsd.storage import read_table
from rlsd.train import RoundData, build_round_data
from rlsd.train.samples import RoundDataError


def concat_shards(uris: Sequence[str | os.PathLike[str]], schema: pa.Schema, what: str
                  ) -> pa.Table:
    """The tables at ``uris`` (each checked against ``schema``), one after the other."""
    if not uris:
        raise RoundDataError(f"no {what} shards to merge")
    return pa.concat_tables([read_table(uri, schema=schema) for uri in uris])


def check_round(rollouts: pa.Table, rewards: pa.Table, scores: pa.Table | None,
                algorithm: str) -> RoundData:
    """Raise :class:`RoundDataError` naming the first row on which the tables disagree."""
    for name, table in (("rewards", rewards), ("scores", scores)):
        if table is not None and table.num_rows != rollouts.num_rows:
            raise RoundDataError(f"the merged {name} table has {table.num_rows} rows for "
                                 f"{rollouts.num_rows} rollouts (a shard is missing or extra)")
    return build_round_data(rollouts, rewards, scores, AlgorithmConfig(algorithm=algorithm))
