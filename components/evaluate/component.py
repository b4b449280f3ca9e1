"""Benchmark evaluation (design.md stage 6) as a component: :func:`rlsd.evaluate.run_evaluation`.

The pipeline runs it twice on the same eval prompts and settings: on the base policy and on
the final policy.
"""

from kfp.dsl import Dataset, Input, Markdown, Metrics, Model, Output

from components._shared.image import build_component


def evaluate(
    policy: Input[Model],
    prompts: Input[Dataset],
    metrics: Output[Metrics],
    report: Output[Markdown],
    results: Output[Dataset],
    label: str = "",
    samples_per_prompt: int = 1,
    max_new_tokens: int = 1024,
    temperature: float = 0.0,
    max_prompts: int = 0,
    seed: int = 0,
    k_values: list = None,
    settings: dict = None,
):
    """Evaluate: sample `samples_per_prompt` responses per eval prompt (the first
    `max_prompts`, 0: all) and grade them with the training verifiers. Metrics: pass@k
    (unbiased estimator) for each k in `k_values` (default 1 and samples_per_prompt), mean@n,
    maj@n, format, response length, truncation rate. Also a Markdown report and `results`, the
    evaluation folder (metrics.json, results.json with every graded response, items.json,
    breakdown.json, report.md) that rlsd.evaluate.compare and the report component read.
    `label` names the policy in the report (e.g. "base", "final"); `policy`: the pointer of
    the base_model, update or fused component, or a Hugging Face model folder artifact.
    `settings`: any other rlsd.evaluate.EvalConfig field (e.g. {"top_p": 0.95,
    "batch_size": 16}); a field given both there and as an input must have the same value
    (max_prompts 0 and an empty k_values count as not given)."""
    import shutil
    import tempfile
    from pathlib import Path

    from components._shared.model_pointer import artifact_policy
    from components._shared.overrides import merge_settings
    from rlsd.config import from_dict
    from rlsd.evaluate import EvalConfig, run_evaluation

    values = merge_settings(settings, {
        "samples_per_prompt": samples_per_prompt, "max_new_tokens": max_new_tokens,
        "temperature": temperature, "max_prompts": max_prompts or None, "seed": seed,
        "k_values": list(k_values) if k_values else None}, "evaluate")
    values.setdefault("k_values", sorted({1, int(samples_per_prompt)}))
    config = from_dict(EvalConfig, values)
    pointer = artifact_policy(policy.path, policy.uri)
    with tempfile.TemporaryDirectory() as tmp:
        values = run_evaluation(pointer.uri, prompts.path, tmp, config)
        shutil.copytree(tmp, results.path, dirs_exist_ok=True)
        text = Path(tmp, "report.md").read_text()
    title = f"**{label}** policy" if label else "Policy"
    Path(report.path).write_text(f"{title} `{pointer.uri}` (trainer round {pointer.round}, "
                                 f"step {pointer.step})\n\n{text}")
    for key, value in values.items():
        metrics.log_metric(key, float(value))
    for artifact in (report, results):  # Metrics keep only metrics: the UI tabulates them
        artifact.metadata.update({"label": label, "policy": pointer.uri,
                                  "policy_round": pointer.round, "policy_step": pointer.step})
    print(f"evaluate {label or pointer.uri}: " +
          ", ".join(f"{k} {v:.4f}" for k, v in values.items()))


component = build_component(evaluate)
