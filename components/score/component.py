"""Self-distillation scoring (design.md stage 4) as a component: ``python -m rlsd.score``'s
flow, called in-process (:func:`rlsd.score.__main__.main`), so the component and the CLI can
never drift apart.
"""

from kfp.dsl import Dataset, Input, Model, Output

from components._shared.image import build_component


def score(
    policy: Input[Model],
    teacher: Input[Model],
    rollouts: Input[Dataset],
    prompts: Input[Dataset],
    scores: Output[Dataset],
    algorithm: str = "rlsd",
    micro_batch_tokens: int = 8192,
    steps_per_round: int = 1,
    settings: dict = None,
):
    """Score: the self-teacher's log-prob of every sampled token (the teacher model given the
    reference answer as a hint) and, when the update takes several optimizer steps per round
    (`steps_per_round` > 1), the behaviour policy's. With one step the update is on-policy:
    its own forward gives s_t, so the teacher pass is the only extra forward. `teacher` is a
    frozen copy of the policy refreshed every K rounds; when it is the policy itself the model
    loads once. `policy`, `teacher`: pointers of the base_model, update or fused component,
    or Hugging Face model folder artifacts. `settings`: any other rlsd.score.ScoreConfig field
    (e.g. {"hint_source": "solution", "teacher_template": "..."} or {"behaviour_logprobs":
    true}, which wins over the choice from steps_per_round); micro_batch_tokens given both
    there and as the input must have the same value."""
    from components._shared.model_pointer import artifact_policy
    from components._shared.overrides import merge_settings, override_args
    from rlsd.score.__main__ import main

    policy_ref = artifact_policy(policy.path, policy.uri).uri
    teacher_ref = artifact_policy(teacher.path, teacher.uri).uri
    argv = ["--policy", policy_ref, "--rollouts", rollouts.path, "--prompts", prompts.path,
            "--output", scores.path, "--algorithm", algorithm]
    if teacher_ref != policy_ref:
        argv += ["--teacher", teacher_ref]
    # The behaviour pass is needed only off-policy; settings may still ask for it.
    settings = merge_settings({"behaviour_logprobs": steps_per_round > 1, **(settings or {})},
                              {"micro_batch_tokens": micro_batch_tokens}, "score")
    for item in override_args(settings):
        argv += ["--set", item]
    code = main(argv)
    if code != 0:
        raise RuntimeError(f"scoring failed (exit status {code}); the error is printed above")
    scores.metadata.update({"algorithm": algorithm, "teacher": teacher_ref,
                            "separate_teacher": teacher_ref != policy_ref,
                            "behaviour_logprobs": bool(settings["behaviour_logprobs"])})


component = build_component(score)
