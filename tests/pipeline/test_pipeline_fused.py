"""The fused mode's compiled DAG (design.md, "Two ways to run the rounds"; issue 12):
data prep -> base model -> ceil(R / M) chained fused jobs -> both evaluations -> report, and
no staged task. Caching: test_pipeline_caching.py; parameter checks: below and
test_pipeline_params.py; a kfp.local run: test_pipeline_run_local.py."""

from __future__ import annotations

import math

import kfp
import pytest
import yaml
from kfp import compiler

from components._shared.loop_settings import LOOP_PARAMETERS, loop_overrides
from pipeline import compile as compile_cli
from pipeline.options import CompileOptions
from pipeline.params import (
    FUSED_SETTINGS_CHECKS,
    SETTINGS_CHECKS,
    URI_PARAMETERS,
    LoopSettingsCheck,
    check_parameters,
    settings_checks,
)
from pipeline.pipeline import build_pipeline, fused_title, pipeline_name
from pipeline.submit import SubmitError, parse_params
from rlsd.config import ConfigError
from rlsd.loop.config import LoopConfig
from tests.pipeline.test_pipeline_graph import RUNTIME_PARAMETERS

STAGED_ONLY = {"rollout", "verify", "score", "merge", "update"}


def _fused_displays(ir) -> list[str]:
    """The fused tasks' display names, in chain order."""
    tasks = [(t["inputs"]["parameters"]["round_index"]["runtimeValue"]["constant"], d)
             for d, t in ir.executor_tasks() if ir.component_kind(t) == "fused"]
    return [d for _, d in sorted(tasks)]


def _constant(task: dict, name: str):
    return task["inputs"]["parameters"][name]["runtimeValue"]["constant"]


@pytest.mark.parametrize(("rounds", "per_job"), [(30, 10), (7, 3), (1, 10), (4, 1), (10, 10)])
def test_ceil_r_over_m_fused_jobs_are_chained(compiled, rounds, per_job):
    ir = compiled(mode="fused", rounds=rounds, rounds_per_job=per_job)
    jobs = _fused_displays(ir)
    assert len(jobs) == math.ceil(rounds / per_job)
    # Every job but the last runs M rounds; the last what is left; together exactly R.
    counts = [int(_constant(ir.find(d)[2], "rounds")) for d in jobs]
    assert counts[:-1] == [per_job] * (len(jobs) - 1) and sum(counts) == rounds
    firsts = [int(_constant(ir.find(d)[2], "round_index")) for d in jobs]
    assert firsts == list(range(0, rounds, per_job))
    assert jobs == [fused_title(f, c) for f, c in zip(firsts, counts, strict=True)]
    assert ir.source(jobs[0], "policy") == ("base model", "policy")
    for before, after in zip(jobs, jobs[1:], strict=False):
        assert ir.source(after, "policy") == (before, "updated_policy")
    for job in jobs:
        assert ir.source(job, "prompts") == ("data prep", "train")


def test_job_titles_name_their_rounds():
    assert fused_title(0, 10) == "fused rounds 0-9"
    assert fused_title(20, 1) == "fused round 20"
    assert CompileOptions(rounds=25, rounds_per_job=10).fused_jobs() \
        == [(0, 10), (10, 10), (20, 5)]
    assert CompileOptions(rounds=3, rounds_per_job=10).fused_jobs() == [(0, 3)]


def test_no_staged_task_and_every_other_stage_is_there(compiled):
    ir = compiled(mode="fused", rounds=30, rounds_per_job=10)
    kinds = [ir.component_kind(task) for _, task in ir.executor_tasks()]
    assert not set(kinds) & STAGED_ONLY
    assert sorted(set(kinds)) == ["base_model", "check_settings", "data_prep", "evaluate",
                                  "fused", "report"]
    assert kinds.count("fused") == 3 and kinds.count("evaluate") == 2
    assert not [t for _, _, t in ir.all_tasks() if "parameterIterator" in t]  # no ParallelFor
    assert ir.displays() == sorted([
        "check settings", "base model", "data prep", "fused rounds 0-9", "fused rounds 10-19",
        "fused rounds 20-29", "evaluate base policy", "evaluate final policy",
        "training report"])


def test_evaluations_and_report_read_the_last_job(compiled):
    ir = compiled(mode="fused", rounds=30, rounds_per_job=10)
    last = "fused rounds 20-29"
    assert ir.source("evaluate base policy", "policy") == ("base model", "policy")
    assert ir.source("evaluate final policy", "policy") == (last, "updated_policy")
    assert ir.source("evaluate base policy", "prompts") \
        == ir.source("evaluate final policy", "prompts") == ("data prep", "eval_prompts")
    assert ir.source("training report", "final_policy") == (last, "updated_policy")
    for name in ("rollouts", "rewards", "scores"):  # the same inputs as in the staged mode
        assert ir.source("training report", name) == (last, f"round_{name}")
    assert ir.source("training report", "base_evaluation") == ("evaluate base policy",
                                                               "results")
    assert ir.source("training report", "final_evaluation") == ("evaluate final policy",
                                                                "results")


def test_fused_tasks_get_the_parameters_the_compile_options_and_the_launcher(compiled):
    ir = compiled(mode="fused", rounds=4, rounds_per_job=2, algorithm="grpo+opsd",
                  teacher_refresh_rounds=3, gpu_type="NVIDIA-H100-80GB-HBM3",
                  trainer_settings={"memory": "200Gi", "shm_size": "64Gi"},
                  update_cpu="2", update_memory="4Gi")
    for display in ("fused rounds 0-1", "fused rounds 2-3"):
        _, _, task = ir.find(display)
        params = task["inputs"]["parameters"]
        # Pipeline parameters pass straight through, under the staged names.
        for name in ("launcher", "prompts_per_round", "samples_per_prompt", "max_new_tokens",
                     "temperature", "learning_rate", "lam0", "lam_decay_steps", "eps_w",
                     "steps_per_round", "micro_batch_tokens", "seed", "save_every", "nodes",
                     "gpus_per_node", "nproc_per_node", "trainer_image"):
            assert params[name] == {"componentInputParameter": name}, name
        assert _constant(task, "algorithm") == "grpo+opsd"
        assert _constant(task, "teacher_refresh_rounds") == 3
        assert _constant(task, "run_id") == "{{$.pipeline_job_uuid}}"
        assert _constant(task, "s3_secret") == "rlsd-s3-credentials"
        assert params["job_settings"] == {"componentInputParameter": "job_settings"}
        job = _constant(task, "job_defaults")
        assert job["node_selector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
        assert (job["memory"], job["shm_size"]) == ("200Gi", "64Gi")
        # A driver pod, like the update: the GPUs belong to the job it launches.
        container = ir.spec["deploymentSpec"]["executors"][
            ir.spec["components"][task["componentRef"]["name"]]["executorLabel"]]["container"]
        assert container["resources"]["cpuRequest"] == 2
        assert "accelerator" not in container["resources"]
        (secret,) = ir.executor_of(display)["secretAsEnv"]
        assert secret["secretName"] == "rlsd-s3-credentials"


def test_pipeline_parameters_are_the_staged_ones_plus_save_every_and_fused_settings(compiled):
    staged = compiled(rounds=1).spec["root"]["inputDefinitions"]["parameters"]
    fused = compiled(mode="fused", rounds=1).spec["root"]["inputDefinitions"]["parameters"]
    assert set(fused) == set(staged) | {"save_every", "fused_settings"}
    assert set(fused) >= RUNTIME_PARAMETERS
    assert fused["save_every"]["defaultValue"] == LoopConfig().save_every
    for name in staged:  # same meaning, same default
        assert fused[name].get("defaultValue") == staged[name].get("defaultValue"), name


def test_name_and_description_say_fused(compiled):
    ir = compiled(mode="fused", rounds=30, rounds_per_job=10)
    assert ir.spec["pipelineInfo"]["name"] == "rlsd-rlsd-30-rounds-fused"
    assert "mode=fused (3 chained job(s) of up to 10 rounds)" \
        in ir.spec["pipelineInfo"]["description"]
    assert pipeline_name(CompileOptions(rounds=30)) == "rlsd-rlsd-30-rounds"  # staged: as before


@pytest.mark.parametrize(("fields", "message"), [
    ({"mode": "resident"}, "mode must be one of ['staged', 'fused'], got 'resident'"),
    ({"mode": "fused", "rounds_per_job": 0}, "rounds_per_job must be >= 1, got 0"),
    ({"mode": "fused", "rollout_shards": 2}, "rollout_shards=2 is a staged-mode option"),
    ({"mode": "fused", "algorithm": "opd"}, "separate teacher model"),
])
def test_bad_fused_options_fail_with_one_clear_message(fields, message):
    with pytest.raises(ConfigError) as info:
        CompileOptions(**fields).validate()
    assert message in str(info.value)


# --- compile CLI -------------------------------------------------------------------------

def test_compile_cli_writes_the_fused_pipeline(tmp_path, capsys):
    out = tmp_path / "fused.yaml"
    assert compile_cli.main(["--output", str(out), "--mode", "fused", "--rounds", "30",
                             "--rounds-per-job", "10", "--param", "save_every=5"]) == 0
    assert "30 round(s), fused: 3 chained job(s) of up to 10 round(s)" \
        in capsys.readouterr().out
    spec = next(yaml.safe_load_all(out.read_text()))
    assert spec["root"]["inputDefinitions"]["parameters"]["save_every"]["defaultValue"] == 5
    assert compile_cli.main(["--output", str(tmp_path / "x.yaml"), "--mode", "fused",
                             "--rollout-shards", "2"]) == 2
    assert "staged-mode option" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()


# --- parameter checks --------------------------------------------------------------------

@pytest.fixture(scope="module")
def fused_package(tmp_path_factory):
    path = tmp_path_factory.mktemp("fused-params") / "fused.yaml"
    compiler.Compiler().compile(build_pipeline(CompileOptions(mode="fused", rounds=3)),
                                str(path))
    return kfp.components.load_component_from_file(str(path))


@pytest.mark.parametrize(("pairs", "message"), [
    # LoopConfig.validate
    (["save_every=0"], "parameter save_every=0: [loop] setting 'save_every' must be >= 1, "
                       "got 0 (LoopSettings, read by the fused task)"),
    (["prompts_per_round=-1"], "parameter prompts_per_round=-1: [loop] setting "
                               "'prompts_per_round' must be >= 0"),
    # LoopSettings.validate: a rule of the fused loop (the staged rollout takes G = 1).
    (["samples_per_prompt=1"], "parameter samples_per_prompt=1: rollout.samples_per_prompt "
                               "must be >= 2"),
    # Each section's own rules (RolloutConfig, TrainConfig, ScoreConfig, AlgorithmConfig).
    (["samples_per_prompt=0"], "parameter samples_per_prompt=0: [rollout] samples_per_prompt "
                               "must be >= 1"),
    (["temperature=-1"], "parameter temperature=-1.0: [rollout] temperature must be >= 0"),
    (["learning_rate=0"], "parameter learning_rate=0.0: [train] learning_rate must be > 0"),
    (["steps_per_round=0"], "steps_per_round must be >= 1"),
    (["micro_batch_tokens=0"], "parameter micro_batch_tokens=0: [score] micro_batch_tokens "
                               "must be >= 1"),
    (["lam0=1.5"], "parameter lam0=1.5: [algorithm] setting 'lam0' must be in [0, 1]"),
    (["eps_w=1.0"], "setting 'eps_w' must be in (0, 1)"),
    (["seed=-1"], "parameter seed=-1:"),
    (["learning_rate=nan"], "parameter learning_rate=nan: must be a finite number"),
    # The checks both modes share: the trainer job, the evaluation, data prep, URIs.
    (["nodes=0"], "parameter nodes=0: nodes must be >= 1, got 0 (TrainingJobSpec, read by the "
                  "fused task)"),
    (["eval_samples=4"], "several samples per prompt need temperature > 0"),
    (["synthetic_size=0"], "setting 'synthetic_n' must be at least 1"),
    (["model=s3://my bucket/m"], "'my bucket' is not a valid bucket name"),
    (["launcher=slurm"], "parameter launcher must be one of ['local', 'pytorchjob', 'trainjob']"),
])
def test_fused_parameters_are_checked_by_the_loops_settings(fused_package, pairs, message):
    with pytest.raises(SubmitError) as info:
        parse_params(pairs, fused_package)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("pairs", [
    ["save_every=1", "prompts_per_round=0", "samples_per_prompt=2"],
    ["learning_rate=1e-5", "lam0=0", "eps_w=0.5", "temperature=0", "micro_batch_tokens=1"],
    ["launcher=local", "nproc_per_node=2", "model=s3://rlsd-models/qwen/step-10"],
])
def test_good_fused_values_pass(fused_package, pairs):
    assert parse_params(pairs, fused_package)


def test_the_fused_rules_are_the_loops_own(fused_package, monkeypatch):
    """No second copy: change LoopConfig.validate() and the pipeline check follows it."""
    def stricter(self):
        if self.save_every > 50:
            raise ConfigError(f"setting 'save_every' must be <= 50 here, got {self.save_every}")

    assert parse_params(["save_every=100"], fused_package) == {"save_every": 100}
    monkeypatch.setattr(LoopConfig, "validate", stricter)
    with pytest.raises(SubmitError,
                       match=r"save_every=100: \[loop\] setting 'save_every' must be <= 50"):
        parse_params(["save_every=100"], fused_package)


def test_every_numeric_fused_parameter_is_checked(fused_package):
    inputs = fused_package.component_spec.inputs
    numeric = {n for n, spec in inputs.items() if str(spec.type) in ("Integer", "Float")}
    checked = {p for check in FUSED_SETTINGS_CHECKS for p in check.parameters().values()}
    # resume_round is checked against the run root's rounds at run time (base_model).
    assert numeric - checked == {"resume_round"}
    assert set(URI_PARAMETERS) <= set(inputs)
    # Every loop setting the fused task fills from a pipeline parameter is checked.
    (loop_check,) = [c for c in FUSED_SETTINGS_CHECKS if isinstance(c, LoopSettingsCheck)]
    assert set(loop_check.passed) | {"rounds", "algorithm", "teacher_refresh_rounds"} \
        == set(LOOP_PARAMETERS)


def test_the_mode_is_told_by_the_parameters(fused_package):
    values = {name: spec.default for name, spec in fused_package.component_spec.inputs.items()}
    assert settings_checks(values) is FUSED_SETTINGS_CHECKS
    staged = {k: v for k, v in values.items() if k != "save_every"}
    assert settings_checks(staged) is SETTINGS_CHECKS
    check_parameters(values)  # the defaults pass
    del values["lam0"]
    with pytest.raises(ConfigError, match=r"\['lam0'\] are missing.*recompile"):
        check_parameters(values)


def test_loop_overrides_are_what_rlsd_loop_reads():
    args = loop_overrides({"seed": 3.0, "micro_batch_tokens": 512, "lam0": 0.25},
                          {"rollout": {"top_p": 0.9}, "train": {"seed": 99}})
    # A parameter wins over the same setting in loop_settings; KFP's 3.0 is written as 3.
    assert args == ["rollout.top_p=0.9", "train.seed=3", "rollout.seed=3",
                    "score.micro_batch_tokens=512", "train.micro_batch_tokens=512",
                    "algorithm.lam0=0.25"]
    from rlsd.loop.__main__ import build_parser, settings_from_args

    settings = settings_from_args(build_parser().parse_args(
        ["--policy", "p", "--prompts", "t", "--output", "o"]
        + [a for item in args for a in ("--set", item)]))
    assert (settings.rollout.seed, settings.train.seed, settings.rollout.top_p) == (3, 3, 0.9)
    assert settings.score.micro_batch_tokens == settings.train.micro_batch_tokens == 512
    with pytest.raises(KeyError):
        loop_overrides({"rollout_shards": 2})
