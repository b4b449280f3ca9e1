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


def test_the_s3_secret_of_the_compile_options_is_part_of_the_check(tmp_path, capsys) -> None:
    """A Secret keyed like Kubeflow's MinIO one works with a TrainJob (the compile option
    --s3-secret names it); a whole-Secret envFrom, which a TrainJob cannot take, fails."""
    keys = 'job_settings={"s3_secret_keys": {"AWS_ACCESS_KEY_ID": "accesskey", ' \
        '"AWS_SECRET_ACCESS_KEY": "secretkey"}}'
    assert _compile(tmp_path, "launcher=trainjob", keys)[0] == 0
    code, _ = _compile(tmp_path, "launcher=trainjob", 'job_settings={"s3_secret_keys": {}}')
    assert code == 2 and "cannot take a whole Secret" in capsys.readouterr().err
    assert _compile(tmp_path, "launcher=pytorchjob", 'job_settings={"s3_secret_keys": {}}')[0] == 0


def test_a_cluster_launcher_needs_a_trainer_image(tmp_path, capsys) -> None:
    for launcher in ("trainjob", "pytorchjob"):
        code, _ = _compile(tmp_path, f"launcher={launcher}", "trainer_image=")
        assert code == 2 and "image is required" in capsys.readouterr().err
    assert _compile(tmp_path, "launcher=local", "trainer_image=")[0] == 0


def test_lora_travels_in_train_settings(tmp_path, capsys) -> None:
    assert _compile(tmp_path, 'train_settings={"lora_rank": 16, "lora_alpha": 32}')[0] == 0
    assert _compile(tmp_path, 'train_settings={"lora_rank": 16}', mode="staged")[0] == 0
    code, _ = _compile(tmp_path, 'train_settings={"lora_rank": -1}')
    assert code == 2 and "lora_rank" in capsys.readouterr().err


def test_submit_checks_run_values_with_the_packages_job_settings(tmp_path) -> None:
    """Submit reads the compiled job settings (the S3 Secret's name among them) from the
    package, so a run's custom Secret keys are checked as the run's first task checks them."""
    from kfp import components

    from pipeline.submit import SubmitError, package_job_defaults, parse_params

    code, _ = _compile(tmp_path)
    assert code == 0
    package = tmp_path / "p.yaml"
    defaults = package_job_defaults(package)
    assert defaults is not None and defaults["s3_secret"] == "rlsd-s3-credentials"
    pipeline = components.load_component_from_file(str(package))
    keys = ('job_settings={"s3_secret_keys": {"AWS_ACCESS_KEY_ID": "accesskey", '
            '"AWS_SECRET_ACCESS_KEY": "secretkey"}}')
    params = parse_params(["launcher=trainjob", keys], pipeline, job_defaults=defaults)
    assert params["launcher"] == "trainjob"
    with pytest.raises(SubmitError, match="restart_policy"):
        parse_params(["launcher=trainjob", 'job_settings={"restart_policy": "OnFailure"}'],
                     pipeline, job_defaults=defaults)
