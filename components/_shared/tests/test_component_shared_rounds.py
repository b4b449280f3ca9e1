"""Round prompt windows and the merged-round checks."""

from __future__ import annotations

import pyarrow as pa
import pytest

from components._shared.round_prompts import round_positions, write_round_prompts
from components._shared.round_tables import check_round, concat_shards
from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA
from rlsd.storage import read_table
from rlsd.train.samples import RoundDataError


@pytest.mark.parametrize(("rows", "r", "per_round", "expected"), [
    (10, 0, 4, [0, 1, 2, 3]),
    (10, 1, 4, [4, 5, 6, 7]),
    (10, 2, 4, [8, 9, 0, 1]),  # wraps into the next epoch
    (10, 5, 4, [0, 1, 2, 3]),  # 5 * 4 = 20 = 2 epochs
    (10, 3, 0, list(range(10))),  # 0: all
    (3, 1, 8, [0, 1, 2]),  # more than the table: all, once
])
def test_round_windows(rows, r, per_round, expected):
    assert round_positions(rows, r, per_round) == expected


def test_consecutive_rounds_cover_the_table_once_per_epoch():
    seen = [p for r in range(5) for p in round_positions(20, r, 4)]
    assert sorted(seen) == list(range(20))


def test_write_round_prompts(tmp_path, prompts_file):
    prompts = prompts_file([str(i) for i in range(5)])
    assert write_round_prompts(prompts, 1, 2, tmp_path / "w.parquet") == 2
    assert read_table(tmp_path / "w.parquet")["id"].to_pylist() == ["p2", "p3"]


def test_concat_and_check_a_consistent_round(round_shard):
    a = round_shard("a", {"p0": [1.0, 0.0]})
    b = round_shard("b", {"p1": [0.0, 0.0]})
    tables = {kind: concat_shards([a[kind], b[kind]], schema, kind) for kind, schema in
              (("rollouts", ROLLOUT_SCHEMA), ("rewards", REWARD_SCHEMA),
               ("scores", SCORE_SCHEMA))}
    data = check_round(tables["rollouts"], tables["rewards"], tables["scores"], "rlsd")
    assert (data.group_size, data.reward_mean) == (2, 0.25)
    assert data.zero_advantage_group_fraction == 0.5  # p1's rewards are all equal


def test_missing_rows_and_teacher_logprobs_are_named(round_shard):
    shard = round_shard("a", {"p0": [1.0, 0.0], "p1": [1.0, 0.0]})
    rollouts = read_table(shard["rollouts"])
    rewards = read_table(shard["rewards"])
    scores = read_table(shard["scores"])
    with pytest.raises(RoundDataError, match="merged rewards table has 3 rows for 4 rollouts"):
        check_round(rollouts, rewards.slice(0, 3), scores, "rlsd")
    no_teacher = scores.set_column(scores.schema.get_field_index("teacher_logprobs"),
                                   SCORE_SCHEMA.field("teacher_logprobs"),
                                   pa.array([None] * 4, pa.list_(pa.float32())))
    with pytest.raises(RoundDataError, match="lacks teacher log-probs"):
        check_round(rollouts, rewards, no_teacher, "rlsd")
    # GRPO needs neither.
    assert check_round(rollouts, rewards, None, "grpo").group_size == 2
    with pytest.raises(RoundDataError, match="no rollouts shards to merge"):
        concat_shards([], ROLLOUT_SCHEMA, "rollouts")
