"""Fused rounds (design.md, "Two ways to run the rounds") as a component: a light driver that
runs ``python -m rlsd.loop`` through :func:`rlsd.launch.launch_training`, exactly as the update
component runs ``python -m rlsd.train``.

One job runs ``rounds`` rounds (rollout, grading, teacher pass and update) with the policy
resident, as a Kubeflow PyTorchJob or Trainer v2 TrainJob over ``nodes`` x ``gpus_per_node``
(``launcher="pytorchjob"`` or ``"trainjob"``) or under ``torchrun`` inside this task
(``launcher="local"``). The loop writes
``round-NNNN`` checkpoints (every ``save_every`` rounds and after its last) and each round's
tables straight to ``<updated_policy.uri>-checkpoint``; this task then writes a pointer
(:mod:`components._shared.model_pointer`) to the last round's checkpoint and copies that
round's small tables into Dataset artifacts, the merge component's outputs in the staged mode.
"""

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components._shared.image import build_component


def fused(
    policy: Input[Model],
    prompts: Input[Dataset],
    updated_policy: Output[Model],
    train_metrics: Output[Metrics],
    round_rollouts: Output[Dataset],
    round_rewards: Output[Dataset],
    round_scores: Output[Dataset],
    rounds: int = 1,
    algorithm: str = "rlsd",
    teacher_refresh_rounds: int = 20,
    round_index: int = 0,
    launcher: str = "pytorchjob",
    prompts_per_round: int = 256,
    samples_per_prompt: int = 8,
    max_new_tokens: int = 4096,
    temperature: float = 1.0,
    top_p: float = 1.0,
    learning_rate: float = 1e-6,
    lam0: float = 0.5,
    lam_decay_steps: int = 60,
    eps_w: float = 0.2,
    steps_per_round: int = 1,
    micro_batch_tokens: int = 8192,
    seed: int = 0,
    save_every: int = 10,
    nodes: int = 1,
    gpus_per_node: int = 1,
    nproc_per_node: int = 0,
    trainer_image: str = "",
    s3_secret: str = "",
    run_id: str = "",
    job_settings: dict = None,
    loop_settings: dict = None,
    timeout_s: int = 0,
    rollout_settings: dict = None,
    verify_settings: dict = None,
    score_settings: dict = None,
    train_settings: dict = None,
    fused_settings: dict = None,
    job_defaults: dict = None,
):
    """Fused rounds: `rounds` RLSD rounds (rollout -> verify -> score -> update) in one
    resident training job (python -m rlsd.loop), as a Kubeflow PyTorchJob or Trainer v2
    TrainJob over `nodes` x `gpus_per_node` GPUs running `trainer_image` (launcher
    "pytorchjob" or "trainjob"; needs an s3:// pipeline root) or under torchrun in this task
    (launcher "local", `nproc_per_node` processes). The job starts from `policy` (or, when
    run again, from its own last complete checkpoint) and writes round-NNNN checkpoints to
    <updated_policy>-checkpoint every `save_every` rounds and after its last round. Outputs a
    Model pointer to the last round's checkpoint, that round's rollouts, rewards and scores
    tables (scores empty for GRPO with one step per round) and the last optimizer step's
    metrics. `round_index`: the job's first round in the pipeline, which names the job.
    `job_settings`: rlsd.launch.TrainingJobSpec fields, over `job_defaults` (the same fields;
    the pipeline passes its compile-time trainer settings there) field by field. Other
    rlsd.loop settings: flat, as the staged components take them, in `rollout_settings`
    (RolloutConfig), `verify_settings` (VerifyConfig), `score_settings` (ScoreConfig),
    `train_settings` (TrainConfig and AlgorithmConfig) and `fused_settings` (LoopConfig, e.g.
    {"vllm_memory_fraction": 0.5}), or by section in `loop_settings`, e.g.
    {"train": {"zero_stage": 3}, "rollout": {"backend": "vllm"}}. A setting given twice (in
    two of these, or there and as an input above; `top_p` is rollout.top_p) must have the
    same value, else the task fails naming both."""

    from components._shared.loop_settings import (
        check_agreement,
        check_loop_settings,
        loop_overrides,
        loop_sections,
    )
    from components._shared.model_pointer import (
        KIND_CHECKPOINT,
        artifact_policy,
        checkpoint_pointer,
        checkpoint_uri,
        remote_uri,
        write_pointer,
    )
    from components._shared.train_metrics import log_last_step
    from components._shared.training_job import training_job_settings
    from rlsd.config import from_dict
    from rlsd.launch import TrainingJobSpec, launch_training
    from rlsd.launch.naming import job_name
    from rlsd.loop.layout import tables_folder
    from rlsd.schemas import REWARD_SCHEMA, ROLLOUT_SCHEMA, SCORE_SCHEMA
    from rlsd.storage import exists, join, read_table, write_table
    from rlsd.train.resume import starting_state
    from rlsd.train.run_checkpoints import round_checkpoints

    remote = launcher != "local"  # pytorchjob or trainjob: the job's pods read from S3
    values = {
        "rounds": rounds, "save_every": save_every, "prompts_per_round": prompts_per_round,
        "samples_per_prompt": samples_per_prompt, "max_new_tokens": max_new_tokens,
        "temperature": temperature, "top_p": top_p, "seed": seed,
        "micro_batch_tokens": micro_batch_tokens,
        "learning_rate": learning_rate, "steps_per_round": steps_per_round,
        "algorithm": algorithm, "teacher_refresh_rounds": teacher_refresh_rounds,
        "lam0": lam0, "lam_decay_steps": lam_decay_steps, "eps_w": eps_w}
    sections, origin = loop_sections(loop_settings, {
        "rollout_settings": rollout_settings, "verify_settings": verify_settings,
        "score_settings": score_settings, "train_settings": train_settings,
        "fused_settings": fused_settings})
    if "behaviour_logprobs" in sections.get("score", {}):
        raise ValueError("fused: score.behaviour_logprobs cannot be set: the loop computes the "
                         "behaviour log-probs exactly when steps_per_round > 1")
    check_agreement(values, sections, origin)
    overrides = loop_overrides(values, sections)
    # Check every setting here, before a job is scheduled, the way the loop will read them.
    if not check_loop_settings(overrides).loop.keep_tables:
        raise ValueError("fused: loop_settings sets loop.keep_tables=false, but this task "
                         "outputs the last round's tables (the report reads them)")
    # The job's name tells it from the update's; a name in the job settings still wins.
    named = {"name": job_name(run_id, round_index, prefix="rlsd-fused")} if run_id else {}
    spec = from_dict(TrainingJobSpec, training_job_settings(
        "fused", {**named, **(job_defaults or {})}, job_settings, trainer_image=trainer_image,
        nodes=nodes, gpus_per_node=gpus_per_node, nproc_per_node=nproc_per_node,
        s3_secret=s3_secret, run_id=run_id, round_index=round_index,
        extra={"module": "rlsd.loop"}))

    start = artifact_policy(policy.path, policy.uri, remote=remote)
    policy_ref = remote_uri(start.uri) if remote and start.kind == KIND_CHECKPOINT else start.uri
    # The loop counts its rounds from the starting policy's round (a retried job finishes
    # the same rounds); so does this task, to find the job's last checkpoint.
    last_round = int(starting_state(policy_ref)["round"]) + rounds
    output = checkpoint_uri(updated_policy.uri, updated_policy.path)
    args = ["--policy", policy_ref,
            "--prompts", remote_uri(prompts.uri) if remote else prompts.path,
            "--output", output]
    for item in overrides:
        args += ["--set", item]
    result = launch_training(launcher, args, spec, timeout_s=timeout_s or None)
    print(f"fused: {result.mode} {result.target} finished in {result.duration_s:.0f} s")

    found = round_checkpoints(output)
    if last_round not in found:
        raise RuntimeError(f"fused: the job ended without the checkpoint of round {last_round} "
                           f"under {output} (complete rounds there: {sorted(found)})")
    uri, manifest = found[last_round]
    pointer = checkpoint_pointer(uri, manifest)
    write_pointer(pointer, updated_policy.path)
    updated_policy.metadata.update(pointer.artifact_metadata())

    tables = tables_folder(output, last_round)
    for artifact, name, schema in ((round_rollouts, "rollouts", ROLLOUT_SCHEMA),
                                   (round_rewards, "rewards", REWARD_SCHEMA),
                                   (round_scores, "scores", SCORE_SCHEMA)):
        source = join(tables, f"{name}.parquet")
        # GRPO with one step per round scores nothing: an empty table, as the merge writes.
        table = read_table(source, schema=schema) if name != "scores" or exists(source) \
            else schema.empty_table()
        write_table(table, artifact.path, schema=schema)
        artifact.metadata.update({"rows": table.num_rows, "round": last_round,
                                  "source": source})

    log_last_step(train_metrics, uri)
    print(f"fused: rounds up to {last_round} (optimizer step {pointer.step}) at {uri}")


component = build_component(fused)
