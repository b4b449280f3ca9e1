"""The settings groups (issue 14): every stage setting reachable as a dict pipeline parameter,
checked at compile and submit time by the dataclass that reads it, with one line naming the
group and the setting; a typed parameter and its group entry must agree.

The same checks run in the pipeline's first task (components/check_settings, tested under
kfp.local there and in test_pipeline_data_settings_local.py).
"""

from __future__ import annotations

import dataclasses

import kfp
import pytest
import yaml
from kfp import compiler

from pipeline import compile as compile_cli
from pipeline.options import CompileOptions
from pipeline.params import (
    PIPELINE_PARAMETERS,
    SETTINGS_GROUPS,
    ParameterError,
    check_parameters,
    pipeline_defaults,
    pipeline_parameters,
)
from pipeline.pipeline import build_pipeline
from pipeline.submit import SubmitError, parse_params
from rlsd.algorithms import AlgorithmConfig
from rlsd.data.config import DataConfig
from rlsd.evaluate.config import EvalConfig
from rlsd.launch.spec import TrainingJobSpec
from rlsd.loop.config import LoopConfig
from rlsd.rollout.config import RolloutConfig
from rlsd.score.config import ScoreConfig
from rlsd.train.config import TrainConfig
from rlsd.verify.settings import VerifyConfig

#: Every group and the dataclasses it reaches (one per stage; the update's two share one).
GROUPS = {
    "data_settings": {DataConfig}, "rollout_settings": {RolloutConfig},
    "verify_settings": {VerifyConfig}, "score_settings": {ScoreConfig},
    "train_settings": {TrainConfig, AlgorithmConfig}, "eval_settings": {EvalConfig},
    "job_settings": {TrainingJobSpec}, "fused_settings": {LoopConfig},
}


def _package(tmp_path_factory, **options):
    path = tmp_path_factory.mktemp("groups") / "rlsd.yaml"
    compiler.Compiler().compile(build_pipeline(CompileOptions(rounds=1, **options)), str(path))
    return kfp.components.load_component_from_file(str(path))


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    return _package(tmp_path_factory)


@pytest.fixture(scope="module")
def fused(tmp_path_factory):
    return _package(tmp_path_factory, mode="fused")


def test_every_stage_dataclass_has_a_group_in_both_modes(staged, fused):
    assert {g: {c.settings for c in checks} for g, checks in SETTINGS_GROUPS.items()} == GROUPS
    for package, mode in ((staged, "staged"), (fused, "fused")):
        inputs = package.component_spec.inputs
        groups = {g for g in GROUPS if mode == "fused" or g != "fused_settings"}
        assert {n for n, spec in inputs.items() if str(spec.type) == "Dict"} == groups
        built = build_pipeline(CompileOptions(rounds=1, mode=mode)).component_spec.inputs
        for group in groups:  # empty by default; the UI shows what each one takes
            assert inputs[group].default == {}
            assert "e.g. {" in built[group].description, group


def test_defaults_come_from_the_settings_dataclasses():
    defaults = {p.name: p.default for p in PIPELINE_PARAMETERS}
    assert defaults["samples_per_prompt"] == RolloutConfig().samples_per_prompt
    assert defaults["top_p"] == RolloutConfig().top_p
    assert defaults["learning_rate"] == TrainConfig().learning_rate
    assert defaults["eps_w"] == AlgorithmConfig().eps_w
    assert defaults["save_every"] == LoopConfig().save_every
    assert defaults["prompt_template"] == DataConfig().prompt_template
    assert defaults["eval_temperature"] == EvalConfig().temperature
    assert defaults["nodes"] == TrainingJobSpec().nodes
    assert [p.name for p in pipeline_parameters("fused")] \
        == [p.name for p in PIPELINE_PARAMETERS]
    assert {p.name for p in PIPELINE_PARAMETERS} - {p.name for p in pipeline_parameters(
        "staged")} == {"save_every", "fused_settings"}


@pytest.mark.parametrize("pairs", [
    # Raw GSM8K, as python -m rlsd.data --prompt-field question --answer-field answer
    # --answer-after '####' maps it.
    ['data_settings={prompt_field: question, answer_field: answer, answer_after: "####"}',
     "data_source=s3://team-data/gsm8k/test.jsonl"],
    ['data_settings={verifier: gsm8k, solution_field: rationale, eval_fraction: 0.1}'],
    ['rollout_settings={backend: vllm, batch_size: 4.0}'],  # KFP's doubles read as ints
    ['verify_settings={default_verifier: math, time_limit_s: 5, format_weight: 0.0, '
     'accuracy_weight: 1.0}'],
    ['score_settings={hint_source: solution}'],
    ['train_settings={zero_stage: 3, clip_low: 0.2, clip_high: 0.3, dual_clip: 3.0, '
     'grad_clip: 0.5}'],
    ['eval_settings={top_p: 0.95, k_values: [1, 2]}', "eval_samples=2",
     "eval_temperature=0.7"],
    ['eval_settings={max_prompts: 50}'],  # eval_prompts=0 leaves it to the group
    ['data_settings={n_eval: 30}'],  # eval_split_size=0 likewise
    ['job_settings={memory: 200Gi, namespace: team-a, service_account: trainer}'],
    # A field with its own parameter, repeated with the same value.
    ['rollout_settings={temperature: 1.0, seed: 0}', "temperature=1"],
])
def test_good_groups_pass(staged, pairs):
    assert parse_params(pairs, staged)


@pytest.mark.parametrize(("pairs", "message"), [
    # Each group's dataclass's own rules, with the group and the setting named.
    (["eval_settings={top_p: 1.5}"],
     "parameter eval_settings['top_p']=1.5: top_p must be in (0, 1], got 1.5 (EvalConfig, "
     "read by the evaluate task)"),
    (["train_settings={clip_low: 1.5}"],
     "parameter train_settings['clip_low']=1.5: setting 'clip_low' must be in [0, 1), got 1.5 "
     "(AlgorithmConfig, read by the update task)"),
    (["train_settings={zero_stage: 5}"],
     "parameter train_settings['zero_stage']=5: zero_stage must be 0, 1, 2 or 3"),
    (["rollout_settings={batch_size: 0}"], "parameter rollout_settings['batch_size']=0:"),
    (["data_settings={max_reject_fraction: 1.5}"],
     "parameter data_settings['max_reject_fraction']=1.5: setting 'max_reject_fraction' must "
     "be in [0, 1], got 1.5 (DataConfig, read by the data_prep task)"),
    (['verify_settings={time_limit_s: .nan}'], "time_limit_s"),
    (["job_settings={memory: 8Gi, shm_size: 16Gi}"],
     "shm_size 16Gi must be below the memory limit 8Gi"),
    # Unknown names, with the valid ones.
    (["train_settings={zero_stag: 3}"],
     "parameter train_settings: unknown setting(s) ['zero_stag'] (fields of TrainConfig and "
     "AlgorithmConfig); valid: ["),
    (["data_settings={prompt: question}"], "unknown setting(s) ['prompt']"),
    # Not a mapping.
    (["job_settings=[1, 2]"], "parameter job_settings must be a mapping of settings"),
    # A typed parameter's field with another value: an error, never a silent winner.
    (["rollout_settings={temperature: 0.7}"],
     "parameter rollout_settings['temperature']=0.7 and parameter temperature=1.0 disagree: "
     "temperature has its own parameter temperature; set it there"),
    (["data_settings={synthetic_n: 50}"],
     "data_settings['synthetic_n']=50 and parameter synthetic_size=100 disagree"),
    (["eval_settings={max_prompts: 10}", "eval_prompts=5"],
     "eval_settings['max_prompts']=10 and parameter eval_prompts=5 disagree"),
    (["job_settings={image: my/trainer:1}"],
     "job_settings['image']='my/trainer:1' and parameter trainer_image="),
    (["train_settings={seed: 3}"], "train_settings['seed']=3 and parameter seed=0 disagree"),
    # What the pipeline sets itself.
    (["train_settings={algorithm: grpo}"],
     "parameter train_settings['algorithm']: cannot be set at run time: the algorithm shapes "
     "the graph: the --algorithm compile option"),
    (["rollout_settings={num_shards: 4}"], "the rollout_shards compile option"),
    (["rollout_settings={max_prompts: 4}"], "prompts_per_round chooses each round's prompts"),
    (["score_settings={behaviour_logprobs: true}"], "computed exactly when steps_per_round > 1"),
    (["job_settings={s3_secret: mine}"], "the --s3-secret compile option"),
    (["job_settings={kfp_run_id: x}"], "set by the pipeline for each training job"),
])
def test_bad_groups_are_refused_naming_the_setting(staged, pairs, message):
    with pytest.raises(SubmitError) as info:
        parse_params(pairs, staged)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(("pairs", "message"), [
    # The loop's sections, with the group entry named.
    (["train_settings={zero_stage: 5}"],
     "parameter train_settings['zero_stage']=5: [train] zero_stage must be 0, 1, 2 or 3"),
    (["rollout_settings={batch_size: 0}"],
     "parameter rollout_settings['batch_size']=0: [rollout] batch_size must be >= 1"),
    (["fused_settings={vllm_memory_fraction: 2}"],
     "parameter fused_settings['vllm_memory_fraction']=2: [loop] setting "
     "'vllm_memory_fraction' must be in (0, 1)"),
    (["fused_settings={keep_tables: false}"],
     "parameter fused_settings['keep_tables']: cannot be set at run time"),
    (["fused_settings={save_every: 5}"],
     "fused_settings['save_every']=5 and parameter save_every=10 disagree"),
    (["train_settings={kl_coef: 0.1}"], "kl_coef > 0 needs reference-policy log-probs"),
])
def test_fused_groups_are_checked_by_the_loop(fused, pairs, message):
    with pytest.raises(SubmitError) as info:
        parse_params(pairs, fused)
    assert message in str(info.value)


def test_fused_groups_that_pass(fused):
    assert parse_params(["fused_settings={vllm_memory_fraction: 0.5}",
                         "train_settings={zero_stage: 3, clip_high: 0.3}",
                         "verify_settings={time_limit_s: 3}", "save_every=5"], fused)


def test_the_compiled_trainer_settings_are_checked_with_a_runs_job_settings():
    """Run values go over the compiled ones field by field; together they must be valid."""
    values = {p.name: p.default for p in pipeline_parameters("staged")}
    check_parameters({**values, "job_settings": {"memory": "64Gi"}},
                     job_defaults={"shm_size": "32Gi"})
    with pytest.raises(ParameterError, match="shm_size 32Gi must be below the memory limit"):
        check_parameters({**values, "job_settings": {"memory": "16Gi"}},
                         job_defaults={"shm_size": "32Gi", "memory": "64Gi"})


def test_compile_param_sets_a_group_default(tmp_path):
    out = tmp_path / "p.yaml"
    assert compile_cli.main(["--output", str(out), "--rounds", "1", "--param",
                             'data_settings={prompt_field: question, answer_after: "####"}']) == 0
    loaded = kfp.components.load_component_from_file(str(out))
    assert loaded.component_spec.inputs["data_settings"].default \
        == {"prompt_field": "question", "answer_after": "####"}
    # The package's defaults pass the same checks again (as submit runs them).
    check_parameters(pipeline_defaults(loaded))
    spec = next(yaml.safe_load_all(out.read_text()))
    assert spec["root"]["inputDefinitions"]["parameters"]["data_settings"]["defaultValue"] \
        == {"prompt_field": "question", "answer_after": "####"}


def test_compile_refuses_a_bad_group_default(tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert compile_cli.main(["--output", str(out), "--rounds", "1", "--param",
                             "train_settings={clip_high: -1}"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "parameter train_settings['clip_high']=-1:" in line
    assert not out.exists()


def test_every_group_field_is_settable_or_refused_with_a_reason():
    """No field falls between two stools: each is settable in its group, has a typed
    parameter, or is set by the pipeline (with a reason)."""
    for group, checks in SETTINGS_GROUPS.items():
        for check in checks:
            for f in dataclasses.fields(check.settings):
                if f.name in check.owned:
                    assert len(check.owned[f.name]) > 15, (group, f.name)
