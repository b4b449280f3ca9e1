"""Verification (design.md stage 3) as a component: :func:`rlsd.verify.verify_batch`.

Same steps as ``python -m rlsd.verify``: join rollouts to prompts, resolve every verifier
before grading, grade under the per-item time limit, write the rewards table.
"""

from kfp.dsl import Dataset, Input, Output

from components._shared.image import build_component


def verify(
    prompts: Input[Dataset],
    rollouts: Input[Dataset],
    rewards: Output[Dataset],
    settings: dict = None,
):
    """Verify: a verifiable reward per response (0.9 accuracy + 0.1 format by default; math,
    gsm8k, choice, numeric, exact verifiers), each graded in a worker process with a time and
    memory limit. `settings`: any rlsd.verify.VerifyConfig field (e.g. {"time_limit_s": 5,
    "extra_verifiers": ["chem=my_pkg.verifiers:grade"]})."""
    from rlsd.config import from_dict
    from rlsd.storage import read_table, write_table
    from rlsd.verify import VerifyConfig, resolve_verifiers, verify_batch
    from rlsd.verify.cli import summary
    from rlsd.verify.tables import rewards_table, rollout_items

    config = from_dict(VerifyConfig, settings or {})
    keys, items = rollout_items(read_table(rollouts.path), read_table(prompts.path), config)
    resolve_verifiers([item.verifier for item in items], config)  # fail before grading
    results = verify_batch(items, config)
    write_table(rewards_table(keys, results), rewards.path)
    n = max(len(results), 1)
    rewards.metadata.update({
        "items": len(results),
        "reward_mean": sum(r.reward for r in results) / n,
        "accuracy_mean": sum(r.accuracy for r in results) / n,
        "format_mean": sum(r.format for r in results) / n})
    print(summary(results))


component = build_component(verify)
