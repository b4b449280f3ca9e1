"""RLSD update (design.md stage 5) as a component: a light driver around
:func:`rlsd.launch.launch_training`.

The training itself (``python -m rlsd.train``) runs as a Kubeflow PyTorchJob
(``launcher="pytorchjob"``) or Trainer v2 TrainJob (``launcher="trainjob"``) over ``nodes`` x
``gpus_per_node``, or under ``torchrun`` inside this task (``launcher="local"``: kfp.local,
laptops). Either way the trainer writes the checkpoint
straight to ``<updated_policy.uri>-checkpoint`` and this task writes only the pointer to it
(:mod:`components._shared.model_pointer`): the weights never pass through the KFP launcher.
"""

from kfp.dsl import Dataset, Input, Metrics, Model, Output

from components._shared.image import build_component


def update(
    policy: Input[Model],
    rollouts: Input[Dataset],
    rewards: Input[Dataset],
    prompts: Input[Dataset],
    updated_policy: Output[Model],
    train_metrics: Output[Metrics],
    scores: Input[Dataset] = None,
    algorithm: str = "rlsd",
    round_index: int = 0,
    launcher: str = "pytorchjob",
    learning_rate: float = 1e-6,
    lam0: float = 0.5,
    lam_decay_steps: int = 60,
    eps_w: float = 0.2,
    steps_per_round: int = 1,
    micro_batch_tokens: int = 8192,
    seed: int = 0,
    nodes: int = 1,
    gpus_per_node: int = 1,
    nproc_per_node: int = 0,
    trainer_image: str = "",
    s3_secret: str = "",
    run_id: str = "",
    job_settings: dict = None,
    train_settings: dict = None,
    timeout_s: int = 0,
    job_defaults: dict = None,
):
    """Update: RLSD (or a baseline) optimizer step(s) on the round's scored rollouts with
    DeepSpeed, as a training job over `nodes` x `gpus_per_node` GPUs running `trainer_image`
    (launcher "pytorchjob" or "trainjob": a Kubeflow PyTorchJob or Trainer v2 TrainJob; needs
    an s3:// pipeline root) or under torchrun in this task (launcher "local",
    `nproc_per_node` processes). Outputs a Model artifact holding a pointer to the checkpoint
    (written to <updated_policy>-checkpoint: URI, files, sizes, sha256, round, step) and the
    last step's training metrics. `scores` is omitted for GRPO. `policy`: the pointer of the
    base_model, update or fused component, or a Hugging Face model folder artifact (with a
    remote launcher it needs an rlsd.storage manifest: bring it in through base_model).
    `job_settings`: rlsd.launch.TrainingJobSpec fields (node_selector, tolerations, cpu,
    memory, shm_size, namespace, training_runtime...), over `job_defaults` (the same fields;
    the pipeline passes its compile-time trainer settings there) field by field;
    `train_settings`: other rlsd.train.TrainConfig / AlgorithmConfig fields (e.g.
    {"zero_stage": 3, "clip_high": 0.28}). A field given both in a settings mapping and as an
    input above must have the same value (else the task fails naming both; an empty
    trainer_image counts as not given)."""
    import argparse

    from components._shared.model_pointer import (
        KIND_CHECKPOINT,
        artifact_policy,
        checkpoint_pointer,
        checkpoint_uri,
        remote_uri,
        write_pointer,
    )
    from components._shared.overrides import merge_settings, override_args
    from components._shared.train_metrics import log_last_step
    from components._shared.training_job import training_job_settings
    from rlsd.algorithms import AlgorithmConfig
    from rlsd.config import configs_from_args, from_dict
    from rlsd.launch import TrainingJobSpec, launch_training
    from rlsd.storage import read_manifest
    from rlsd.train import TrainConfig

    remote = launcher != "local"  # pytorchjob or trainjob: the job's pods read from S3
    if steps_per_round > 1 and scores is None:
        raise ValueError(f"update: steps_per_round={steps_per_round} needs the behaviour "
                         "policy's log-probs (a scores table): after the first optimizer step "
                         "the update is off-policy. Without scoring (GRPO) use "
                         "steps_per_round=1")

    def where(artifact):  # trainer pods read the tables from S3, a local torchrun from disk
        return remote_uri(artifact.uri) if remote else artifact.path

    settings = merge_settings(train_settings, {
        "algorithm": algorithm, "learning_rate": learning_rate, "lam0": lam0,
        "lam_decay_steps": lam_decay_steps, "eps_w": eps_w, "steps_per_round": steps_per_round,
        "micro_batch_tokens": micro_batch_tokens, "seed": seed}, "update")
    overrides = override_args(settings)
    # Check every setting here, before a job is scheduled, the way the trainer will read them.
    configs_from_args(argparse.Namespace(set=overrides), TrainConfig, AlgorithmConfig)
    spec = from_dict(TrainingJobSpec, training_job_settings(
        "update", job_defaults, job_settings, trainer_image=trainer_image, nodes=nodes,
        gpus_per_node=gpus_per_node, nproc_per_node=nproc_per_node, s3_secret=s3_secret,
        run_id=run_id, round_index=round_index))

    start = artifact_policy(policy.path, policy.uri, remote=remote)
    policy_ref = remote_uri(start.uri) if remote and start.kind == KIND_CHECKPOINT else start.uri
    output = checkpoint_uri(updated_policy.uri, updated_policy.path)
    args = ["--policy", policy_ref, "--rollouts", where(rollouts), "--rewards", where(rewards),
            "--prompts", where(prompts), "--output", output]
    if scores is not None:
        args += ["--scores", where(scores)]
    for item in overrides:
        args += ["--set", item]
    result = launch_training(launcher, args, spec, timeout_s=timeout_s or None)
    print(f"update: {result.mode} {result.target} finished in {result.duration_s:.0f} s")

    pointer = checkpoint_pointer(output, read_manifest(output))
    write_pointer(pointer, updated_policy.path)
    updated_policy.metadata.update(pointer.artifact_metadata())
    log_last_step(train_metrics, output)


component = build_component(update)
