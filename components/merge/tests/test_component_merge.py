"""The merge component under kfp.local: shards collected from a ParallelFor, as in the DAG."""

# No `from __future__ import annotations`: KFP reads the test pipelines' real types.
import pytest
from kfp import dsl
from kfp.dsl import Dataset

from components.merge.component import component as merge
from rlsd.schemas import SCORE_SCHEMA
from rlsd.storage import read_table


def _merge_pipeline(shards: list[dict], with_scores: bool = True, algorithm: str = "rlsd"):
    """A pipeline that imports each shard's tables inside a ParallelFor and merges them."""
    items = [{k: str(v) for k, v in shard.items()} for shard in shards]

    @dsl.pipeline
    def merge_shards() -> Dataset:
        with dsl.ParallelFor(items) as shard:
            rollouts = dsl.importer(artifact_uri=shard.rollouts, artifact_class=Dataset)
            rewards = dsl.importer(artifact_uri=shard.rewards, artifact_class=Dataset)
            scores = dsl.importer(artifact_uri=shard.scores, artifact_class=Dataset)
        extra = {"scores": dsl.Collected(scores.output)} if with_scores else {}
        task = merge(rollouts=dsl.Collected(rollouts.output),
                     rewards=dsl.Collected(rewards.output), algorithm=algorithm, **extra)
        return task.outputs["round_rollouts"]

    return merge_shards


def test_merges_shards_and_reports_the_round(kfp_local, round_shard):
    a = round_shard("a", {"p0": [1.0, 0.0], "p1": [0.0, 0.0]})
    b = round_shard("b", {"p2": [1.0, 1.0]})
    out = _merge_pipeline([a, b])().output
    task_dir = out.path.rsplit("/", 1)[0]
    rollouts = read_table(out.path)
    keys = sorted(zip(rollouts["prompt_id"].to_pylist(), rollouts["sample_index"].to_pylist(),
                      strict=True))
    assert keys == [("p0", 0), ("p0", 1), ("p1", 0), ("p1", 1), ("p2", 0), ("p2", 1)]
    assert read_table(f"{task_dir}/round_rewards").num_rows == 6
    assert read_table(f"{task_dir}/round_scores").num_rows == 6
    assert out.metadata == {"rows": 6, "shards": 2}


def test_grpo_merges_without_scores(kfp_local, round_shard):
    out = _merge_pipeline([round_shard("a", {"p0": [1.0, 0.0]})], with_scores=False,
                          algorithm="grpo")().output
    task_dir = out.path.rsplit("/", 1)[0]
    scores = read_table(f"{task_dir}/round_scores")
    assert scores.num_rows == 0 and scores.schema.equals(SCORE_SCHEMA)


def test_scores_of_other_responses_fail_the_merge(kfp_local, round_shard, table_file, capsys):
    shard = round_shard("a", {"p0": [1.0, 0.0]})
    rows = read_table(shard["scores"]).to_pylist()
    rows[1]["response_digest"] = "0" * 16  # scored tokens differ from the sampled ones
    shard["scores"] = table_file("tampered-scores", rows, SCORE_SCHEMA)
    with pytest.raises(RuntimeError):
        _merge_pipeline([shard])()
    assert "scores do not match rollouts for prompt 'p0' sample 1" in capsys.readouterr().out


def test_a_missing_reward_shard_fails_the_merge(kfp_local, round_shard, capsys):
    a, b = round_shard("a", {"p0": [1.0, 0.0]}), round_shard("b", {"p1": [0.0, 1.0]})
    b["rewards"] = a["rewards"]  # shard b's rewards lost: shard a's twice
    with pytest.raises(RuntimeError):
        _merge_pipeline([a, b])()
    assert "rewards table has two rows for prompt 'p0' sample 0" in capsys.readouterr().out
