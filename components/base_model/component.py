"""Base model: bring the starting policy into the graph as a ``Model`` artifact.

Every round's components take ``policy: Input[Model]``; this component gives round 0 (and the
baseline evaluation) the same kind of input. It writes a ``reference`` pointer
(:mod:`components._shared.model_pointer`) holding the model reference string; nothing is
downloaded here.
"""

from kfp.dsl import Model, Output

from components._shared.image import build_component


def base_model(policy: Output[Model], model: str = "default", resume_from: str = "",
               resume_round: int = -1):
    """Base model: a Model artifact pointing at `model` ("default", an s3:// checkpoint
    prefix, a Hugging Face id or a folder). An s3:// checkpoint's manifest is checked here
    (one listing), so a missing or incomplete checkpoint fails before any rollout starts.
    `resume_from`: instead, continue a stopped run, from a round's policy checkpoint (the
    `uri` on an update task's Model artifact) or from a run's root folder (s3:// or local)
    and `resume_round` (-1: its last finished round). Rounds go on from that checkpoint's
    round, optimizer step and state, λ and metric history; finished rounds are not redone."""
    from components._shared.model_pointer import (
        checkpoint_pointer,
        reference_pointer,
        write_pointer,
    )
    from rlsd.storage import is_s3, verify_manifest
    from rlsd.train.run_checkpoints import resume_point

    if resume_from.strip():
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
