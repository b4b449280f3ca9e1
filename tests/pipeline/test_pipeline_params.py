"""Impossible parameter values and S3 roots fail at compile and submit (issue 11, kinds 9, 18).

Every rule comes from the settings dataclasses (their ``validate()``) and the storage layer
(``rlsd.storage.parse_s3``); these tests feed the CLIs values those rules reject and check for
one line, exit status 2 and nothing written or uploaded.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import kfp
import pytest
import yaml
from kfp import compiler

from pipeline import compile as compile_cli
from pipeline import params as params_module
from pipeline import submit as submit_cli
from pipeline.options import CompileOptions
from pipeline.params import SETTINGS_CHECKS, URI_PARAMETERS, check_parameters
from pipeline.pipeline import build_pipeline
from pipeline.submit import SubmitError, parse_params
from rlsd.config import ConfigError
from rlsd.train.config import TrainConfig

#: Numeric parameters that no settings dataclass reads, and why that is right.
UNCHECKED_NUMBERS = {
    # round_prompts.round_positions takes any integer: <= 0 means every prompt.
    "prompts_per_round",
    # Only meaningful against the run root's finished rounds, which base_model lists at run
    # time (rlsd.train.run_checkpoints.resume_point); -1 is "the last one".
    "resume_round",
}


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("params") / "rlsd.yaml"
    compiler.Compiler().compile(build_pipeline(CompileOptions(rounds=1)), str(path))
    return path


@pytest.fixture(scope="module")
def loaded(package):
    return kfp.components.load_component_from_file(str(package))


@pytest.mark.parametrize(("pairs", "message"), [
    # NaN and infinity, for every float setting (rlsd.config refuses them too): KFP carries
    # JSON numbers, and NaN would pass any `<= 0` test a dataclass makes.
    (["learning_rate=nan"], "parameter learning_rate=nan: must be a finite number"),
    (["learning_rate=inf"], "parameter learning_rate=inf: must be a finite number"),
    (["temperature=inf"], "parameter temperature=inf: must be a finite number"),
    (["eval_temperature=nan"], "parameter eval_temperature=nan: must be a finite number"),
    (["temperature=-inf"], "parameter temperature=-inf: must be a finite number"),
    (["lam0=inf"], "parameter lam0=inf: must be a finite number"),
    (["lam0=nan"], "parameter lam0=nan: must be a finite number"),
    # The dataclasses' own rules, for finite values
    (["temperature=-1"], "parameter temperature=-1.0: temperature must be >= 0"),
    # AlgorithmConfig.validate
    (["lam0=1.5"], "parameter lam0=1.5: setting 'lam0' must be in [0, 1], got 1.5 "
                   "(AlgorithmConfig, read by the update task)"),
    (["eps_w=1.0"], "parameter eps_w=1.0: setting 'eps_w' must be in (0, 1)"),
    (["lam_decay_steps=-1"], "setting 'lam_decay_steps' must be >= 0"),
    # TrainConfig.validate
    (["learning_rate=0"], "parameter learning_rate=0.0: learning_rate must be > 0"),
    (["steps_per_round=0"], "steps_per_round must be >= 1"),
    (["micro_batch_tokens=0"], "micro_batch_tokens must be >= 1"),
    # RolloutConfig.validate
    (["samples_per_prompt=0"], "parameter samples_per_prompt=0: samples_per_prompt must be "
                               ">= 1, got 0 (RolloutConfig, read by the rollout task)"),
    (["max_new_tokens=0"], "max_new_tokens must be >= 1"),
    (["temperature=-0.5"], "temperature must be >= 0"),
    (["seed=-1"], "parameter seed=-1: seed must be >= 0"),
    # DataConfig.validate: the parameter is synthetic_size, the field synthetic_n.
    (["synthetic_size=0"], "parameter synthetic_size=0: setting 'synthetic_n' must be at "
                           "least 1"),
    (["synthetic_difficulty=99"], "setting 'synthetic_difficulty' must be in 1.."),
    (["data_source= "], "setting 'source' must not be empty"),
    # EvalConfig.validate, including a rule over two parameters.
    (["eval_samples=0"], "parameter eval_samples=0: samples_per_prompt must be >= 1"),
    (["eval_samples=4"], "parameter eval_samples=4, eval_temperature=0.0: several samples per "
                         "prompt need temperature > 0"),
    # TrainingJobSpec.validate
    (["nodes=0"], "parameter nodes=0: nodes must be >= 1, got 0 (TrainingJobSpec"),
    (["gpus_per_node=-1"], "gpus_per_node must be >= 0"),
    (["nproc_per_node=-2"], "nproc_per_node must be >= 0"),
    # The storage layer's URI rules, for every parameter that may name a URI.
    (["model=s3://my bucket/ckpt"], "parameter model='s3://my bucket/ckpt': s3://my bucket/"
                                    "ckpt: 'my bucket' is not a valid bucket name"),
    (["data_source=s3://data/" + "k" * 1100 + ".parquet"], "key is 1108 bytes, S3 allows 1024"),
    (["resume_from=gs://bucket/run"], "parameter resume_from='gs://bucket/run': unsupported "
                                      "URI scheme"),
    (["launcher=slurm"], "parameter launcher must be one of ['local', 'pytorchjob', 'trainjob']"),
])
def test_impossible_values_are_refused_with_the_parameter_named(loaded, pairs, message):
    with pytest.raises(SubmitError) as info:
        parse_params(pairs, loaded)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("pairs", [
    ["eval_samples=4", "eval_temperature=0.7"],  # the two-parameter rule, satisfied
    ["learning_rate=1e-5", "lam0=0", "lam0=1", "eps_w=0.5", "temperature=0"],
    ["model=s3://rlsd-models/qwen/step-10", "resume_from=s3://rlsd-pipelines/v2/run-1",
     "data_source=s3://data.example/nightly/train.parquet"],
    ["model=Qwen/Qwen3-VL-8B-Instruct", "data_source=hf:openai/gsm8k", "resume_from=runs/a"],
    ["prompts_per_round=0", "resume_round=3", "eval_prompts=16", "nproc_per_node=4"],
])
def test_good_values_pass(loaded, pairs):
    assert parse_params(pairs, loaded)


def test_the_rules_are_the_dataclasses_own(loaded, monkeypatch):
    """No second copy: change a dataclass's validate() and the pipeline check follows it."""
    def stricter(self):
        if self.learning_rate > 1e-3:
            raise ConfigError(f"learning_rate must be <= 1e-3 here, got {self.learning_rate}")

    assert parse_params(["learning_rate=0.01"], loaded) == {"learning_rate": 0.01}
    monkeypatch.setattr(TrainConfig, "validate", stricter)
    with pytest.raises(SubmitError, match=r"learning_rate=0.01: learning_rate must be <= 1e-3"):
        parse_params(["learning_rate=0.01"], loaded)


def test_every_numeric_parameter_is_checked_by_a_settings_class(loaded):
    types = {name: str(spec.type) for name, spec in loaded.component_spec.inputs.items()}
    numeric = {name for name, kind in types.items() if kind in ("Integer", "Float")}
    checked = {p for check in SETTINGS_CHECKS for p in check.parameters().values()}
    assert numeric - checked == UNCHECKED_NUMBERS
    for check in SETTINGS_CHECKS:  # the mapped fields exist on the dataclass
        assert set(check.fields) <= {f.name for f in dataclasses.fields(check.settings)}
    assert set(URI_PARAMETERS) <= set(types)


def test_a_package_missing_a_parameter_asks_for_a_recompile(loaded):
    values = {name: spec.default for name, spec in loaded.component_spec.inputs.items()}
    del values["lam0"]
    with pytest.raises(ConfigError, match=r"\['lam0'\] are missing.*recompile"):
        check_parameters(values)


# --- compile ---------------------------------------------------------------------------

@pytest.mark.parametrize(("argv", "message"), [
    (["--param", "learning_rate=nan"], "parameter learning_rate=nan: must be a finite number"),
    (["--param", "lam0=1.5"], "setting 'lam0' must be in [0, 1], got 1.5"),
    (["--pipeline-root", "s3://my bucket/x"],
     "pipeline_root 's3://my bucket/x' is not a usable S3 root: s3://my bucket/x: 'my bucket' "
     "is not a valid bucket name"),
    (["--pipeline-root", "minio://x/artifacts"], "'x' is not a valid bucket name"),
    (["--param", "nope=1"], "the pipeline has no parameter 'nope'"),
])
def test_compile_refuses_with_one_line_and_writes_nothing(tmp_path, capsys, argv, message):
    out = tmp_path / "sub" / "p.yaml"
    assert compile_cli.main(["--output", str(out), "--rounds", "1", *argv]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("pipeline.compile: error: ")
    assert message in err[0]
    assert not out.parent.exists()


def test_compile_param_sets_a_checked_default(tmp_path):
    out = tmp_path / "p.yaml"
    assert compile_cli.main(["--output", str(out), "--rounds", "1", "--param", "seed=7",
                             "--param", "learning_rate=2e-6", "--pipeline-root",
                             "minio://mlpipeline/v2/artifacts"]) == 0
    loaded = kfp.components.load_component_from_file(str(out))
    assert loaded.component_spec.inputs["seed"].default == 7
    assert loaded.component_spec.inputs["learning_rate"].default == 2e-6
    assert yaml.safe_load_all(out.read_text()).__next__()["defaultPipelineRoot"] \
        == "minio://mlpipeline/v2/artifacts"


def test_compile_checks_the_defaults_it_writes(monkeypatch):
    """build_pipeline runs the same checks on the signature's defaults."""
    seen = []
    monkeypatch.setattr("pipeline.pipeline.check_parameters",
                        lambda values, types=None, job_defaults=None: seen.append(dict(values)))
    build_pipeline(CompileOptions(rounds=1))
    (values,) = seen
    assert values["learning_rate"] == 1e-6 and values["launcher"] == "pytorchjob"
    with pytest.raises(ConfigError, match="eps_w"):  # the real check on those values
        params_module.check_parameters({**values, "eps_w": 0.0})


# --- submit ----------------------------------------------------------------------------

def _never_connect(environ):
    raise AssertionError("connected before every check passed")


@pytest.mark.parametrize(("argv", "message"), [
    (["--param", "learning_rate=nan"], "parameter learning_rate=nan: must be a finite number"),
    (["--param", "lam0=1.5"], "parameter lam0=1.5: setting 'lam0' must be in [0, 1]"),
    (["--param", "eval_samples=8"], "several samples per prompt need temperature > 0"),
    (["--param", "model=s3://my bucket/m"], "'my bucket' is not a valid bucket name"),
    (["--pipeline-root", "s3://my bucket/x"],
     "--pipeline-root 's3://my bucket/x' is not a usable S3 root"),
    (["--pipeline-root", "/tmp/kfp"], "--pipeline-root must be an s3:// (or minio://) URI"),
])
def test_submit_refuses_before_connecting(package, capsys, argv, message):
    assert submit_cli.main(["--package", str(package), *argv], _never_connect) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("pipeline.submit: error: ")
    assert message in err[0]


def test_submit_refuses_a_package_compiled_with_a_bad_root(package, tmp_path, capsys):
    """A package from before these checks (or edited by hand) is checked again."""
    bad = tmp_path / "old.yaml"
    text = package.read_text()
    assert "defaultPipelineRoot: s3://rlsd-pipelines/v2/artifacts" in text
    bad.write_text(text.replace("defaultPipelineRoot: s3://rlsd-pipelines/v2/artifacts",
                                "defaultPipelineRoot: s3://my bucket/x"))
    assert submit_cli.main(["--package", str(bad)], _never_connect) == 2
    assert "the pipeline root compiled into" in capsys.readouterr().err
    # An explicit, valid --pipeline-root replaces it: every check passes, submit connects.
    class Connected(Exception):
        pass

    def factory(environ):
        raise Connected

    with pytest.raises(Connected):
        submit_cli.main(["--package", str(bad), "--pipeline-root", "s3://ok-bucket/r",
                         "--allow-placeholder-images"], factory)


def test_submit_refuses_a_file_that_is_not_a_pipeline(tmp_path, capsys):
    junk = tmp_path / "junk.yaml"
    junk.write_text("just: [text\n")
    assert submit_cli.main(["--package", str(junk)], _never_connect) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "is not a compiled pipeline" in line
