"""Base model: bring the starting policy into the graph as a ``Model`` artifact.

Every round's components take ``policy: Input[Model]``; this component gives round 0 (and the
baseline evaluation) the same kind of input. It writes a ``reference`` pointer
(:mod:`components._shared.model_pointer`) holding the model reference string; nothing is
downloaded here. The starting policy may also come as another pipeline's ``Model`` artifact
(``model_artifact``): a pointer written by this project's components, or a model folder.
"""

from kfp.dsl import Input, Model, Output

from components._shared.image import build_component


def base_model(policy: Output[Model], model: str = "default", resume_from: str = "",
               resume_round: int = -1, model_artifact: Input[Model] = None):
    """Base model: a Model artifact pointing at `model` ("default", an s3:// checkpoint
    prefix, a Hugging Face id or a folder). An s3:// checkpoint's manifest is checked here
    (one listing), so a missing or incomplete checkpoint fails before any rollout starts.
    `model_artifact`: instead, a Model artifact from another pipeline: the pointer an update
    or fused task wrote (its checkpoint), or a Hugging Face model folder (config.json and
    safetensors; on S3 without an rlsd.storage manifest it is copied once, with one, to
    <policy>-checkpoint so that every later pod can fetch and verify it); `model` must then
    stay "default". `resume_from`: instead, continue a stopped run, from a round's policy
    checkpoint (the `uri` on an update task's Model artifact) or from a run's root folder
    (s3:// or local) and `resume_round` (-1: its last finished round). Rounds go on from that
    checkpoint's round, optimizer step and state, λ and metric history; finished rounds are
    not redone."""
    from components._shared.model_pointer import (
        artifact_policy,
        checkpoint_pointer,
        checkpoint_uri,
        is_remote,
        reference_pointer,
        write_pointer,
    )
    from rlsd.storage import is_s3, verify_manifest
    from rlsd.train.run_checkpoints import resume_point

    if model_artifact is not None:
        named = [f"{name}={value!r}" for name, value, unset in (
            ("model", model, ("", "default")), ("resume_from", resume_from, ("",)))
            if value.strip() not in unset]
        if named:
            raise ValueError(f"base_model: give the starting policy once: model_artifact "
                             f"({model_artifact.uri}) or {' and '.join(named)}, not both")
        remote = is_remote(model_artifact.uri)
        pointer = artifact_policy(
            model_artifact.path, model_artifact.uri, remote=remote,
            copy_to=checkpoint_uri(policy.uri, policy.path) if remote else None)
        if is_s3(pointer.uri):
            verify_manifest(pointer.uri)
        print(f"base model: {pointer.kind} {pointer.uri} from the Model artifact "
              f"{model_artifact.uri}")
    elif resume_from.strip():
        uri, manifest = resume_point(resume_from, resume_round)
        pointer = checkpoint_pointer(uri, manifest)
        print(f"base model: resuming from round {pointer.round} (optimizer step "
              f"{pointer.step}, {pointer.algorithm}) at {uri}")
    else:
        pointer = reference_pointer(model)
        if is_s3(pointer.uri):
            verify_manifest(pointer.uri)
    write_pointer(pointer, policy.path)
    policy.metadata.update(pointer.artifact_metadata())


component = build_component(base_model)
