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
    loads once. `settings`: any other rlsd.score.ScoreConfig field (e.g.
    {"hint_source": "solution"} or {"behaviour_logprobs": true})."""
    from components._shared.model_pointer import read_pointer
    from components._shared.overrides import override_args
    from rlsd.score.__main__ import main

    policy_ref = read_pointer(policy.path).uri
    teacher_ref = read_pointer(teacher.path).uri
    argv = ["--policy", policy_ref, "--rollouts", rollouts.path, "--prompts", prompts.path,
            "--output", scores.path, "--algorithm", algorithm,
            "--micro-batch-tokens", str(micro_batch_tokens)]
    if teacher_ref != policy_ref:
        argv += ["--teacher", teacher_ref]
    # The behaviour pass is needed only off-policy; settings may still ask for it.
    settings = {"behaviour_logprobs": steps_per_round > 1, **(settings or {})}
    for item in override_args(settings):
        argv += ["--set", item]
    code = main(argv)
    if code != 0:
        raise RuntimeError(f"scoring failed (exit status {code}); the error is printed above")
    scores.metadata.update({"algorithm": algorithm, "teacher": teacher_ref,
                            "separate_teacher": teacher_ref != policy_ref,
                            "behaviour_logprobs": bool(settings["behaviour_logprobs"])})


component = build_component(score)
