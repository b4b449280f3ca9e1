"""The base model component: a reference pointer, no download."""

from __future__ import annotations

import pytest

from components._shared.model_pointer import KIND_REFERENCE, read_pointer
from components.base_model.component import component as base_model


def test_writes_a_reference_pointer(kfp_local):
    task = base_model(model=" HuggingFaceTB/SmolLM2-135M-Instruct ")
    pointer = read_pointer(task.outputs["policy"].path)
    assert (pointer.uri, pointer.kind, pointer.round, pointer.files) \
        == ("HuggingFaceTB/SmolLM2-135M-Instruct", KIND_REFERENCE, -1, ())
    assert task.outputs["policy"].metadata["uri"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_empty_reference_fails(kfp_local, capsys):
    with pytest.raises(RuntimeError):
        base_model(model="  ")
    assert "empty model reference" in capsys.readouterr().out


def _checkpoint(folder, kind="policy"):
    from rlsd.storage import write_manifest

    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * 32)
    (folder / "trainer_state.json").write_text('{"global_step": 6, "round": 2}')
    write_manifest(str(folder), {"kind": kind, "round": 2, "step": 6, "algorithm": "rlsd"})
    return folder


def test_resume_from_a_finished_round(kfp_local, tmp_path, capsys):
    from components._shared.model_pointer import KIND_CHECKPOINT

    ckpt = _checkpoint(tmp_path / "update" / "updated_policy-checkpoint")
    task = base_model(model="default", resume_from=str(ckpt))
    pointer = read_pointer(task.outputs["policy"].path)
    assert (pointer.uri, pointer.kind, pointer.round, pointer.step, pointer.algorithm) \
        == (str(ckpt), KIND_CHECKPOINT, 2, 6, "rlsd")
    assert {f.path for f in pointer.files} == {"model.safetensors", "trainer_state.json"}
    assert "resuming from round 2 (optimizer step 6, rlsd)" in capsys.readouterr().out


def test_resume_from_an_unfinished_or_foreign_folder_fails(kfp_local, tmp_path, capsys):
    unfinished = tmp_path / "cut"
    unfinished.mkdir()
    (unfinished / "model.safetensors").write_bytes(b"\0" * 8)  # no manifest: never finished
    with pytest.raises(RuntimeError):
        base_model(resume_from=str(unfinished))
    assert "is incomplete" in capsys.readouterr().out
    foreign = _checkpoint(tmp_path / "data", kind="dataset")
    with pytest.raises(RuntimeError):
        base_model(resume_from=str(foreign))
    assert "not a policy checkpoint" in capsys.readouterr().out
