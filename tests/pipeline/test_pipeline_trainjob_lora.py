"""Pipeline parameters for the TrainJob launcher and LoRA are checked before any task runs:
settings a TrainJob cannot carry fail at compile (and submit, and the run's check task), and
LoRA settings travel in ``train_settings``."""

from __future__ import annotations

import pytest
import yaml

from pipeline.compile import main as compile_main


def _compile(tmp_path, *params: str, mode: str = "fused") -> tuple[int, str]:
    out = tmp_path / "p.yaml"
    argv = ["--mode", mode, "--rounds", "2", "--output", str(out)]
    for param in params:
        argv += ["--param", param]
    return compile_main(argv), out.read_text() if out.exists() else ""


@pytest.mark.parametrize("mode", ["staged", "fused"])
def test_trainjob_launcher_with_a_runtime_compiles(tmp_path, mode) -> None:
    code, text = _compile(tmp_path, "launcher=trainjob",
                          'job_settings={"training_runtime": "torch-distributed-gpu"}', mode=mode)
    assert code == 0
    root = yaml.safe_load_all(text)
    spec = next(d for d in root if d and "root" in d)
    defaults = {k: v.get("defaultValue") for k, v in
                spec["root"]["inputDefinitions"]["parameters"].items()}
    assert defaults["launcher"] == "trainjob"
    assert defaults["job_settings"] == {"training_runtime": "torch-distributed-gpu"}


@pytest.mark.parametrize(("param", "message"), [
    ('job_settings={"restart_policy": "OnFailure"}', "applies to the PyTorchJob launcher only"),
    ('job_settings={"env": {"PET_NNODES": "2"}}', "PET_NNODES"),
])
def test_settings_a_trainjob_cannot_carry_fail_at_compile(tmp_path, capsys, param,
                                                          message) -> None:
    code, _ = _compile(tmp_path, "launcher=trainjob", param)
    assert code == 2
    err = capsys.readouterr().err
    assert "launcher trainjob" in err and message in err
    # the same settings are fine for the PyTorchJob launcher
    if "restart_policy" in param:
        assert _compile(tmp_path, "launcher=pytorchjob", param)[0] == 0


def test_lora_travels_in_train_settings(tmp_path, capsys) -> None:
    assert _compile(tmp_path, 'train_settings={"lora_rank": 16, "lora_alpha": 32}')[0] == 0
    assert _compile(tmp_path, 'train_settings={"lora_rank": 16}', mode="staged")[0] == 0
    code, _ = _compile(tmp_path, 'train_settings={"lora_rank": -1}')
    assert code == 2 and "lora_rank" in capsys.readouterr().err
