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


def _checkpoint(folder, kind="policy", round_index=2):
    from rlsd.storage import write_manifest

    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_bytes(b"\0" * 32)
    (folder / "trainer_state.json").write_text(
        f'{{"global_step": {3 * round_index}, "round": {round_index}}}')
    write_manifest(str(folder), {"kind": kind, "round": round_index, "step": 3 * round_index,
                                 "algorithm": "rlsd"})
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


def test_resume_from_a_run_root_and_round(kfp_local, tmp_path, capsys):
    run = tmp_path / "run-7"
    for r, task in ((0, "update"), (1, "update-2")):
        _checkpoint(run / task / "updated_policy-checkpoint", round_index=r)
    cut = run / "update-3" / "updated_policy-checkpoint"  # round 2 died while uploading
    cut.mkdir(parents=True)
    (cut / "model.safetensors").write_bytes(b"\0" * 8)
    (run / "data" / "train").mkdir(parents=True)  # other artifacts are ignored

    latest = read_pointer(base_model(resume_from=str(run)).outputs["policy"].path)
    assert (latest.round, latest.uri) == (1, str(run / "update-2" / "updated_policy-checkpoint"))
    first = read_pointer(base_model(resume_from=str(run), resume_round=0)
                         .outputs["policy"].path)
    assert first.round == 0 and first.step == 0
    capsys.readouterr()
    with pytest.raises(RuntimeError):
        base_model(resume_from=str(run), resume_round=2)
    out = capsys.readouterr().out
    assert "round 2 did not finish" in out and "finished rounds: [0, 1]" in out


def test_resume_from_an_unfinished_or_foreign_folder_fails(kfp_local, tmp_path, capsys):
    unfinished = tmp_path / "cut"
    unfinished.mkdir()
    (unfinished / "model.safetensors").write_bytes(b"\0" * 8)  # no manifest: never finished
    with pytest.raises(RuntimeError):
        base_model(resume_from=str(unfinished))
    assert "no finished round under" in capsys.readouterr().out
    foreign = _checkpoint(tmp_path / "data", kind="dataset")
    with pytest.raises(RuntimeError):
        base_model(resume_from=str(foreign))
    assert "not a policy checkpoint" in capsys.readouterr().out
