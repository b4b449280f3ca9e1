"""Rollout generation (design.md stage 2) as a component: :func:`rlsd.rollout.run_rollout`.

One task per shard inside the pipeline's ``ParallelFor``; the shards of a round partition its
prompts (:mod:`rlsd.rollout.selection`).
"""

from kfp.dsl import Dataset, Input, Model, Output

from components._shared.image import build_component


def rollout(
    policy: Input[Model],
    prompts: Input[Dataset],
    rollouts: Output[Dataset],
    round_index: int = 0,
    prompts_per_round: int = 0,
    shard_index: int = 0,
    num_shards: int = 1,
    samples_per_prompt: int = 8,
    max_new_tokens: int = 4096,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int = 0,
    settings: dict = None,
):
    """Rollout: sample `samples_per_prompt` responses per prompt from the policy (transformers
    generate, or vLLM when installed and a GPU is present). Round `round_index` takes
    `prompts_per_round` consecutive prompts of the table (0: all), wrapping around; shard
    `shard_index` of `num_shards` takes every num_shards-th of them. `top_p`: nucleus
    sampling mass (1.0: off). `settings`: any other rlsd.rollout.RolloutConfig field (e.g.
    {"backend": "vllm", "batch_size": 16}); a field given both there and as an input above
    must have the same value (else the task fails naming both); max_prompts cannot be set
    (round_index and prompts_per_round choose the prompts). `policy`: the pointer of the
    base_model, update or fused component, or a Hugging Face model folder artifact."""
    import tempfile
    from pathlib import Path

    from components._shared.model_pointer import artifact_policy
    from components._shared.overrides import merge_settings, refuse_settings
    from components._shared.round_prompts import write_round_prompts
    from rlsd.config import from_dict
    from rlsd.rollout import RolloutConfig, run_rollout

    refuse_settings(settings, {"max_prompts": "round_index and prompts_per_round choose "
                                              "each round's prompts"}, "rollout")
    config = from_dict(RolloutConfig, {**merge_settings(settings, {
        "samples_per_prompt": samples_per_prompt, "max_new_tokens": max_new_tokens,
        "temperature": temperature, "top_p": top_p, "seed": seed, "shard_index": shard_index,
        "num_shards": num_shards}, "rollout"), "max_prompts": None})
    pointer = artifact_policy(policy.path, policy.uri)
    with tempfile.TemporaryDirectory() as tmp:
        window = str(Path(tmp) / "round-prompts.parquet")
        write_round_prompts(prompts.path, round_index, prompts_per_round, window)
        result = run_rollout(pointer.uri, window, rollouts.path, config)
    s = result.summary
    rollouts.metadata.update({
        "round": round_index, "shard": shard_index, "prompts": s.prompts, "samples": s.samples,
        "generated_tokens": s.generated_tokens, "stop_fraction": s.stop_fraction,
        "backend": result.backend, "policy_step": result.policy_step})
    print(f"{s.line()} [{result.backend}, policy step {result.policy_step}]")


component = build_component(rollout)
