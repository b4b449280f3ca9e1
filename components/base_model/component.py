"""Base model: bring the starting policy into the graph as a ``Model`` artifact.

Every round's components take ``policy: Input[Model]``; this component gives round 0 (and the
baseline evaluation) the same kind of input. It writes a ``reference`` pointer
(:mod:`components._shared.model_pointer`) holding the model reference string; nothing is
downloaded here.
"""

from kfp.dsl import Model, Output

from components._shared.image import build_component


def base_model(policy: Output[Model], model: str = "default", resume_from: str = ""):
    """Base model: a Model artifact pointing at `model` ("default", an s3:// checkpoint
    prefix, a Hugging Face id or a folder). An s3:// checkpoint's manifest is checked here
    (one listing), so a missing or incomplete checkpoint fails before any rollout starts.
    `resume_from`: instead, continue a previous run from a round's policy checkpoint (the
    `uri` on that run's update task's Model artifact, s3:// or a local folder): its manifest
    is verified, and rounds go on from its round, optimizer step, optimizer state and λ."""
    from components._shared.model_pointer import (
        checkpoint_pointer,
        reference_pointer,
        write_pointer,
    )
    from rlsd.storage import is_s3, verify_manifest

    if resume_from.strip():
        uri = resume_from.strip().rstrip("/")
        manifest = verify_manifest(uri)  # IncompleteCheckpointError if it never finished
        if manifest.metadata.get("kind") != "policy":
            raise ValueError(f"resume_from {uri} is a complete folder but not a policy "
                             "checkpoint the update step wrote (its manifest has no "
                             "kind=policy); pass the uri of an update task's Model artifact")
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
