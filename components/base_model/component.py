"""Base model: bring the starting policy into the graph as a ``Model`` artifact.

Every round's components take ``policy: Input[Model]``; this component gives round 0 (and the
baseline evaluation) the same kind of input. It writes a ``reference`` pointer
(:mod:`components._shared.model_pointer`) holding the model reference string; nothing is
downloaded here.
"""

from kfp.dsl import Model, Output

from components._shared.image import build_component


def base_model(policy: Output[Model], model: str = "default"):
    """Base model: a Model artifact pointing at `model` ("default", an s3:// checkpoint
    prefix, a Hugging Face id or a folder). An s3:// checkpoint's manifest is checked here
    (one listing), so a missing or incomplete checkpoint fails before any rollout starts."""
    from components._shared.model_pointer import reference_pointer, write_pointer
    from rlsd.storage import is_s3, verify_manifest

    pointer = reference_pointer(model)
    if is_s3(pointer.uri):
        verify_manifest(pointer.uri)
    write_pointer(pointer, policy.path)
    policy.metadata.update(pointer.artifact_metadata())


component = build_component(base_model)
