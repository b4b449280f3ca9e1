"""The run's training report (design.md, "Reports"): :func:`rlsd.report.report_from_checkpoint`.

The pipeline runs it once, at the end, on the final policy (whose checkpoint carries every
round's metrics in ``metrics_history.jsonl``), the last round's merged tables and the base and
final evaluation folders.
"""

from kfp.dsl import HTML, Dataset, Input, Model, Output

from components._shared.image import build_component


def report(
    final_policy: Input[Model],
    training_report: Output[HTML],
    rollouts: Input[Dataset] = None,
    rewards: Input[Dataset] = None,
    scores: Input[Dataset] = None,
    base_evaluation: Input[Dataset] = None,
    final_evaluation: Input[Dataset] = None,
    eps_w: float = 0.2,
    scale_by_std: bool = None,
    responses: int = 6,
    title: str = "",
    profile: str = "",
    algorithm: str = "",
    samples_per_prompt: int = -1,
    prompts_per_round: int = -1,
    temperature: float = -1.0,
    top_p: float = -1.0,
    max_new_tokens: int = -1,
    learning_rate: float = -1.0,
    steps_per_round: int = -1,
    prompt_template: str = "",
    settings: dict = None,
    stage_settings: dict = None,
):
    """Report: one HTML page with the before/after evaluation table (base vs final policy),
    the training curves of every round (reward, accuracy, RLSD weight statistics, clip
    fractions, KL, entropy, length, λ, loss) and the token-credit view: responses of the
    round's tables with each token shaded by its RLSD weight w_t. `final_policy` must be a
    checkpoint the update component wrote; the tables are one round's merge outputs (GRPO's
    empty scores table gets a note instead of the view); the evaluations are the evaluate
    component's `results` folders. `eps_w` and `scale_by_std` must be the run's own
    (`scale_by_std` unset: the one in stage_settings' train_settings, else true).
    The run's settings are listed under the title: `profile` (the named training profile,
    rlsd.profiles), `algorithm`, any other `settings` (name -> value, sorted by name), the
    `stage_settings` (settings group -> {name: value}, e.g. {"data_settings":
    {"answer_after": "####"}}: the pipeline passes the groups its check settings task
    validated; listed as group.name, sorted), then the sampling and training values given (G,
    prompts per round, temperature, top-p, new tokens, learning rate, steps per round),
    `eps_w` and the prompt template; those left unset (empty, or -1 for a number) are not
    listed, and with none set there is no such list."""
    from components._shared.model_pointer import KIND_CHECKPOINT, read_pointer
    from rlsd.report import ReportConfig, report_from_checkpoint

    pointer = read_pointer(final_policy.path)
    if pointer.kind != KIND_CHECKPOINT:
        raise ValueError(f"report: final_policy is a {pointer.kind} ({pointer.uri}), not a "
                         "checkpoint the update component wrote: it has no training metrics")
    run_scale = (stage_settings or {}).get("train_settings", {}).get("scale_by_std")
    if scale_by_std is not None and run_scale is not None and bool(run_scale) != scale_by_std:
        raise ValueError(f"report: scale_by_std={scale_by_std} and the run's train_settings "
                         f"scale_by_std={run_scale} disagree")
    scale = scale_by_std if scale_by_std is not None else \
        (bool(run_scale) if run_scale is not None else True)
    config = ReportConfig(responses=responses, eps_w=eps_w, scale_by_std=scale,
                          title=title or None)
    numbers = {"samples_per_prompt": samples_per_prompt, "prompts_per_round": prompts_per_round,
               "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens,
               "learning_rate": learning_rate, "steps_per_round": steps_per_round}
    # KFP hands a dict over as a protobuf Struct, whose keys come in no fixed order.
    stages = {f"{group}.{name}": value for group, values in (stage_settings or {}).items()
              for name, value in (values or {}).items()}
    listed = {"profile": profile, "algorithm": algorithm, **dict(sorted((settings or {}).items())),
              **dict(sorted(stages.items())),
              **{name: value for name, value in numbers.items() if value >= 0}}
    listed = {name: value for name, value in listed.items() if value is not None and value != ""}
    if listed or prompt_template:  # eps_w always has a value: listed only with the others
        listed["eps_w"] = eps_w
        if prompt_template:
            listed["prompt_template"] = prompt_template
    counts = report_from_checkpoint(
        pointer.uri, training_report.path,
        rollouts=rollouts.path if rollouts else None,
        rewards=rewards.path if rewards else None,
        scores=scores.path if scores else None,
        eval_before=base_evaluation.path if base_evaluation else None,
        eval_after=final_evaluation.path if final_evaluation else None,
        round_label=f"round {pointer.round}", config=config, settings=listed)
    training_report.metadata.update({"policy": pointer.uri, "rounds": pointer.round + 1,
                                     "steps": counts["steps"],
                                     "responses_shown": counts["responses"]})
    if profile:
        training_report.metadata["profile"] = profile
    print(f"report: {counts['steps']} optimizer steps over {pointer.round + 1} round(s), "
          f"{counts['responses']} responses shown token by token -> {training_report.path}")


component = build_component(report)
