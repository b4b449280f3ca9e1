"""Merge a round's shards: the ``dsl.Collected`` outputs of rollout, verify and score, joined
into one rollouts / rewards / scores set and checked (:mod:`components._shared.round_tables`).
"""

from kfp.dsl import Dataset, Input, Metrics, Output

from components._shared.image import build_component


def merge(
    rollouts: Input[list[Dataset]],
    rewards: Input[list[Dataset]],
    round_rollouts: Output[Dataset],
    round_rewards: Output[Dataset],
    round_scores: Output[Dataset],
    round_summary: Output[Metrics],
    scores: Input[list[Dataset]] = None,
    algorithm: str = "rlsd",
):
    """Merge: concatenate the shards' rollouts, rewards and (except for GRPO) scores, and
    check they describe the same responses (one reward and one scores row per rollout, equal
    token digests, no key twice, equal group sizes). Without `scores` the round_scores output
    is an empty table (metadata rows = 0). Logs the round's reward and accuracy means."""
    from components._shared.round_tables import check_round, concat_shards
    from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA
    from rlsd.storage import write_table

    all_rollouts = concat_shards([a.path for a in rollouts], ROLLOUT_SCHEMA, "rollouts")
    all_rewards = concat_shards([a.path for a in rewards], REWARD_SCHEMA, "rewards")
    all_scores = concat_shards([a.path for a in scores], SCORE_SCHEMA, "scores") \
        if scores else None
    data = check_round(all_rollouts, all_rewards, all_scores, algorithm)
    write_table(all_rollouts, round_rollouts.path, schema=ROLLOUT_SCHEMA)
    write_table(all_rewards, round_rewards.path, schema=REWARD_SCHEMA)
    write_table(all_scores if all_scores is not None else SCORE_SCHEMA.empty_table(),
                round_scores.path, schema=SCORE_SCHEMA)
    for artifact, table in ((round_rollouts, all_rollouts), (round_rewards, all_rewards),
                            (round_scores, all_scores)):
        artifact.metadata["rows"] = 0 if table is None else table.num_rows
        artifact.metadata["shards"] = len(rollouts)
    round_summary.log_metric("samples", float(all_rollouts.num_rows))
    round_summary.log_metric("reward_mean", float(data.reward_mean))
    round_summary.log_metric("accuracy_mean", float(data.accuracy_mean))
    round_summary.log_metric("zero_advantage_group_fraction",
                             float(data.zero_advantage_group_fraction))
    print(f"merge: {len(rollouts)} shard(s), {all_rollouts.num_rows} samples, reward mean "
          f"{data.reward_mean:.4f}, accuracy {data.accuracy_mean:.4f}")


component = build_component(merge)
