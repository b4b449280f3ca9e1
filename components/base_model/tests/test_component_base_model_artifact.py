"""The base model component's `model_artifact` input: the starting policy as another
pipeline's Model artifact (issue 14), in small kfp.local pipelines."""

# No `from __future__ import annotations`: KFP reads the upstream components' real types.
from pathlib import Path

import pytest
from kfp import dsl
from kfp.dsl import Model, Output

from components._shared.image import COMPONENT_IMAGE
from components._shared.model_pointer import KIND_CHECKPOINT, KIND_REFERENCE, read_pointer
from components.base_model.component import component as base_model


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def trained_elsewhere(model: Output[Model], checkpoint: str):
    """Another RLSD run's update step: its Model artifact is a pointer to a checkpoint."""
    from components._shared.model_pointer import checkpoint_pointer, write_pointer
    from rlsd.storage import read_manifest

    write_pointer(checkpoint_pointer(checkpoint, read_manifest(checkpoint)), model.path)


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def downloaded_elsewhere(model: Output[Model], folder: str):
    """A team's own step that writes a Hugging Face model folder as its Model artifact."""
    import shutil

    shutil.copytree(folder, model.path)


def _checkpoint(folder):
    from rlsd.storage import write_manifest

    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * 32)
    (folder / "trainer_state.json").write_text('{"global_step": 6, "round": 2}')
    write_manifest(str(folder), {"kind": "policy", "round": 2, "step": 6, "algorithm": "rlsd"})
    return folder


def test_a_checkpoint_pointer_from_another_run_is_the_start(kfp_local, tmp_path, capsys):
    ckpt = _checkpoint(tmp_path / "other-run" / "updated_policy-checkpoint")

    @dsl.pipeline(name="continue-elsewhere")
    def start() -> Model:
        upstream = trained_elsewhere(checkpoint=str(ckpt))
        return base_model(model_artifact=upstream.outputs["model"]).outputs["policy"]

    pointer = read_pointer(start().output.path)
    assert (pointer.kind, pointer.uri, pointer.round, pointer.step) \
        == (KIND_CHECKPOINT, str(ckpt), 2, 6)
    assert f"base model: checkpoint {ckpt} from the Model artifact" in capsys.readouterr().out


def test_a_model_folder_artifact_is_the_start(kfp_local, tiny_model_dir):
    @dsl.pipeline(name="start-from-folder")
    def start() -> Model:
        upstream = downloaded_elsewhere(folder=str(tiny_model_dir))
        return base_model(model_artifact=upstream.outputs["model"]).outputs["policy"]

    policy = start().output
    pointer = read_pointer(policy.path)
    # kfp.local: the artifact is a local folder, which every later task reads as is.
    assert pointer.kind == KIND_REFERENCE and pointer.uri.endswith("/model")
    assert (tiny_model_dir / "config.json").read_bytes() \
        == (Path(pointer.uri) / "config.json").read_bytes()


@pytest.mark.parametrize(("args", "message"), [
    ({"model": "org/name"}, "or model='org/name', not both"),
    ({"resume_from": "s3://bucket/run"}, "or resume_from='s3://bucket/run', not both"),
])
def test_an_artifact_and_a_reference_together_are_refused(kfp_local, tmp_path, capsys, args,
                                                          message):
    ckpt = _checkpoint(tmp_path / "ckpt")

    @dsl.pipeline(name="both")
    def start() -> Model:
        upstream = trained_elsewhere(checkpoint=str(ckpt))
        return base_model(model_artifact=upstream.outputs["model"], **args).outputs["policy"]

    with pytest.raises(RuntimeError):
        start()
    out = capsys.readouterr().out
    assert "base_model: give the starting policy once: model_artifact (" in out
    assert message in out


def test_a_folder_that_is_no_model_is_refused(kfp_local, tmp_path, capsys):
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "weights.bin").write_bytes(b"\0" * 8)

    @dsl.pipeline(name="junk")
    def start() -> Model:
        upstream = downloaded_elsewhere(folder=str(junk))
        return base_model(model_artifact=upstream.outputs["model"]).outputs["policy"]

    with pytest.raises(RuntimeError):
        start()
    assert "is a folder but not a usable model" in capsys.readouterr().out
