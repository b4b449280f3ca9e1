"""Check settings: the pipeline's first task, which checks every parameter value of the run.

``pipeline.compile`` checks the defaults it writes and ``pipeline.submit`` the values it sends,
but a run started from the KFP UI (or by any other client) brings values neither has seen.
This task runs the same checks (:func:`pipeline.params.check_parameters`: the settings
dataclasses' own rules, the settings groups' fields, the storage layer's URI rules) on the
values the run really got, before base model and data prep start, and fails with one line
naming the parameter (and the setting, inside a settings group). It outputs the settings
groups that hold anything, which the training report lists.

Its inputs are the pipeline's runtime parameters (:data:`pipeline.params.PIPELINE_PARAMETERS`;
a test keeps the two equal), all passed by the pipeline, and its mode; a staged pipeline leaves
the fused-only ones unset.
"""

from components._shared.image import build_component


def check_settings(
    model: str,
    resume_from: str,
    resume_round: int,
    data_source: str,
    synthetic_difficulty: int,
    synthetic_size: int,
    eval_split_size: int,
    prompt_template: str,
    samples_per_prompt: int,
    prompts_per_round: int,
    max_new_tokens: int,
    temperature: float,
    top_p: float,
    learning_rate: float,
    lam0: float,
    lam_decay_steps: int,
    eps_w: float,
    steps_per_round: int,
    micro_batch_tokens: int,
    nodes: int,
    gpus_per_node: int,
    nproc_per_node: int,
    trainer_image: str,
    launcher: str,
    eval_samples: int,
    eval_prompts: int,
    eval_temperature: float,
    seed: int,
    data_settings: dict,
    rollout_settings: dict,
    verify_settings: dict,
    score_settings: dict,
    train_settings: dict,
    eval_settings: dict,
    job_settings: dict,
    save_every: int = 0,
    fused_settings: dict = None,
    job_defaults: dict = None,
    mode: str = "staged",
) -> dict:
    """Check settings: every runtime parameter value of the run, checked as pipeline.compile
    and pipeline.submit check them (each setting by the settings dataclass of the task that
    reads it; each settings group's fields known, settable and consistent with the typed
    parameters). Fails with one line naming the parameter before any other task starts.
    `mode`: the pipeline's, "staged" or "fused"; `save_every` and `fused_settings` are the
    fused pipeline's (ignored in a staged one). `job_defaults`: the compiled trainer settings
    under job_settings. Returns the settings groups that hold anything (group -> settings),
    for the training report."""
    values = dict(locals())  # first: every input, by name
    from pipeline.params import ParameterError, check_run, pipeline_parameters

    job_defaults = values.pop("job_defaults")
    try:
        names = {p.name for p in pipeline_parameters(values.pop("mode"))}
    except ValueError as exc:
        raise SystemExit(f"check settings: error: {exc}") from None
    values = {name: value for name, value in values.items() if name in names}
    try:
        groups = check_run(values, job_defaults)
    except ParameterError as exc:
        raise SystemExit(f"check settings: error: {exc}") from None
    shown = "; ".join(f"{g} {sorted(s)}" for g, s in groups.items()) or "no settings groups"
    print(f"check settings: {len(values)} parameters OK ({shown})")
    return groups


component = build_component(check_settings)
