"""``--profile NAME``: a training profile's values as the compiled pipeline's parameter defaults
(:mod:`pipeline.profile_defaults`), and what it refuses."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from components._shared.loop_settings import LOOP_PARAMETERS
from pipeline.compile import main
from pipeline.options import CompileOptions
from pipeline.params import FUSED_SETTINGS_CHECKS, SETTINGS_CHECKS, SettingsCheck
from pipeline.pipeline import build_pipeline
from pipeline.profile_defaults import (
    COMPILE_OPTION_SETTINGS,
    PROFILE_PARAMETERS,
    SECTION_GROUPS,
    ProfileError,
    parameters_for,
)
from pipeline.run_local import FULL_PARAMS, local_params
from rlsd import profiles
from rlsd.data.prompt_format import PROMPT_TEMPLATE
from rlsd.profiles import Profile, get_profile

PROFILE = "smollm2-arithmetic"


def _compile(tmp_path, *argv: str) -> dict:
    out = tmp_path / f"p{len(list(tmp_path.iterdir()))}.yaml"
    assert main(["--output", str(out), "--rounds", "1", *argv]) == 0
    return next(yaml.safe_load_all(out.read_text()))


def _defaults(spec: dict) -> dict:
    return {name: p.get("defaultValue")
            for name, p in spec["root"]["inputDefinitions"]["parameters"].items()}


@pytest.mark.parametrize("mode", ["staged", "fused"])
def test_the_profiles_values_are_the_yaml_defaults(tmp_path, capsys, mode):
    profile = get_profile(PROFILE)
    spec = _compile(tmp_path, "--mode", mode, "--profile", PROFILE)
    defaults = _defaults(spec)
    checked = set()
    for setting, value in profile.flat().items():
        if setting not in PROFILE_PARAMETERS:  # in its section's settings group
            section, _, name = setting.partition(".")
            assert defaults[SECTION_GROUPS[section]][name] == value, setting
            checked.add(setting)
            continue
        target = PROFILE_PARAMETERS[setting]
        param = target if isinstance(target, str) else target[0]
        assert defaults[param] == (pytest.approx(value) if not isinstance(value, str)
                                   else value), setting
        checked.add(setting)
    # Every value of the profile reached the YAML.
    assert checked == set(profile.flat())
    assert "data.prompt_template" in checked and "rollout.top_p" in checked
    assert defaults["verify_settings"] == {"default_verifier": "numeric"}
    # What the profile leaves alone keeps the paper's default.
    paper = _defaults(_compile(tmp_path, "--mode", mode))
    assert defaults["lam0"] == paper["lam0"] == 0.5
    assert paper["prompt_template"] == PROMPT_TEMPLATE and paper["top_p"] == 1.0
    assert paper["learning_rate"] == 1e-6 != defaults["learning_rate"]
    assert f"profile={PROFILE}" in spec["pipelineInfo"]["description"]
    assert "profile=" not in _compile(tmp_path, "--mode", mode)["pipelineInfo"]["description"]
    assert f"profile {PROFILE}" in capsys.readouterr().out


def test_a_param_wins_over_the_profile(tmp_path):
    defaults = _defaults(_compile(tmp_path, "--profile", PROFILE, "--param", "top_p=0.5",
                                  "--param", "prompt_template=Q: {question}"))
    assert (defaults["top_p"], defaults["prompt_template"]) == (0.5, "Q: {question}")
    assert defaults["samples_per_prompt"] == get_profile(PROFILE).section("rollout")[
        "samples_per_prompt"]


def test_new_parameters_reach_their_tasks(tmp_path):
    """prompt_template and eval_split_size go to data prep, top_p to rollout and fused."""
    def inputs(spec: dict, kind: str) -> dict:
        tasks = [t for body in [spec["root"], *spec["components"].values()]
                 for t in body.get("dag", {}).get("tasks", {}).values()
                 if t["componentRef"]["name"].startswith(f"comp-{kind}")]
        assert tasks, kind
        return tasks[0]["inputs"]["parameters"]

    staged, fused = _compile(tmp_path), _compile(tmp_path, "--mode", "fused")
    for spec in (staged, fused):
        data = inputs(spec, "data-prep")
        assert data["prompt_template"]["componentInputParameter"] == "prompt_template"
        assert data["n_eval"]["componentInputParameter"] == "eval_split_size"
    assert inputs(fused, "fused")["top_p"]["componentInputParameter"] == "top_p"
    # The staged rollout sits in the round's ParallelFor: the parameter is handed in.
    assert "top_p" in inputs(staged, "rollout")["top_p"]["componentInputParameter"]
    assert inputs(staged, "report")["learning_rate"]["componentInputParameter"] \
        == "learning_rate"


def test_the_table_agrees_with_what_the_components_read():
    """Each profile setting maps to the parameter the components fill that setting from."""
    sections = {"data": "DataConfig", "rollout": "RolloutConfig", "score": "ScoreConfig",
                "train": "TrainConfig", "algorithm": "AlgorithmConfig", "evaluate": "EvalConfig"}
    staged = {(c.settings.__name__, f): p for c in SETTINGS_CHECKS
              if isinstance(c, SettingsCheck) for f, p in c.parameters().items()}
    fused_params = {p for c in FUSED_SETTINGS_CHECKS for p in c.parameters().values()}
    for setting, target in PROFILE_PARAMETERS.items():
        section, _, name = setting.partition(".")
        param = target if isinstance(target, str) else target[0]
        if section == "loop":  # the fused loop's own settings
            assert setting in LOOP_PARAMETERS[param], setting
            continue
        assert staged[(sections[section], name)] == param, setting
        if section in ("rollout", "score", "train", "algorithm"):  # the fused task's
            assert setting in LOOP_PARAMETERS[param] and param in fused_params, setting
    assert set(COMPILE_OPTION_SETTINGS.values()) <= {f.name for f in
                                                     dataclasses.fields(CompileOptions)}


def test_an_unknown_profile_is_one_error_line(tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert main(["--output", str(out), "--profile", "smollm3"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "pipeline.compile: error: unknown profile 'smollm3'; known: "
        + ", ".join(sorted(profiles.PROFILES))]
    assert not out.exists()
    from pipeline.run_local import main as run_local

    assert run_local(["--profile", "smollm3", "--root", str(tmp_path / "run")]) == 2
    assert len(capsys.readouterr().err.splitlines()) == 1
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("settings", "mode", "message"), [
    ({"report": {"responses": 3}}, "staged", "report.responses=3: the pipeline has no parameter"),
    ({"loop": {"vllm_memory_fraction": 0.5}}, "staged",
     "loop.vllm_memory_fraction=0.5: this pipeline has no parameter fused_settings"),
    # Into its group, which refuses what the pipeline sets itself.
    ({"rollout": {"num_shards": 2}}, "staged",
     "parameter rollout_settings['num_shards']: cannot be set at run time"),
    ({"evaluate": {"top_p": 1.5}}, "staged", "parameter eval_settings['top_p']=1.5: top_p must"),
    ({"rollout": {"max_new_tokens": 48}, "evaluate": {"max_new_tokens": 64}}, "fused",
     "rollout.max_new_tokens=48 and evaluate.max_new_tokens=64 differ, but the pipeline has "
     "one parameter max_new_tokens for both"),
    ({"loop": {"save_every": 5}}, "staged", "this pipeline has no parameter save_every"),
    ({"algorithm": {"algorithm": "grpo"}}, "staged",
     "algorithm.algorithm='grpo' is the compile option algorithm here, which is 'rlsd'; give "
     "--algorithm grpo"),
    ({"data": {"n_eval": 0}}, "staged", "data.n_eval=0 has no pipeline parameter value"),
    ({"data": {"synthetic_n": "many"}}, "fused",
     "data.synthetic_n='many' is not a valid value of the pipeline parameter synthetic_size"),
    ({"rollout": {"top_p": 1.5}}, "fused", "parameter top_p=1.5: [rollout] top_p must be in"),
    ({"data": {"prompt_template": "no slot"}}, "staged",
     "parameter prompt_template='no slot': setting 'prompt_template'"),
])
def test_a_setting_the_pipeline_cannot_take_is_refused(tmp_path, capsys, monkeypatch,
                                                       settings, mode, message):
    monkeypatch.setitem(profiles.PROFILES, "fake", Profile("fake", "a test", settings))
    out = tmp_path / "p.yaml"
    assert main(["--output", str(out), "--mode", mode, "--profile", "fake"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert message in line
    assert not out.exists()


def test_values_the_pipeline_already_has_are_accepted():
    options = CompileOptions(mode="fused")
    types = {"save_every": "Integer", "max_new_tokens": "Integer", "eval_split_size": "Integer",
             "temperature": "Float", "verify_settings": "Dict", "eval_settings": "Dict"}
    fake = Profile("fake", "a test", {
        "verify": {"default_verifier": "numeric"}, "algorithm": {"algorithm": "rlsd"},
        "loop": {"save_every": 5}, "rollout": {"max_new_tokens": 48, "temperature": 1},
        "evaluate": {"max_new_tokens": 48, "top_p": 0.9}, "data": {"n_eval": None}})
    values = parameters_for(fake, types, options)
    assert values == {"save_every": 5, "max_new_tokens": 48, "temperature": 1.0,
                      "eval_split_size": 0, "verify_settings": {"default_verifier": "numeric"},
                      "eval_settings": {"top_p": 0.9}}
    assert isinstance(values["temperature"], float)
    with pytest.raises(ProfileError, match=r"^profile 'fake': loop.save_every"):
        parameters_for(fake, {k: v for k, v in types.items() if k != "save_every"}, options)


def test_run_local_profile_wins_over_the_demo_and_a_param_over_both():
    options = CompileOptions(mode="fused", profile=PROFILE)
    pipeline = build_pipeline(options)
    profile = get_profile(PROFILE)
    params = local_params(options, pipeline, small=False, nproc=2,
                          pairs=["temperature=0.5"])
    rollout = profile.section("rollout")
    assert params["samples_per_prompt"] == rollout["samples_per_prompt"] \
        != FULL_PARAMS["samples_per_prompt"]
    assert params["max_new_tokens"] == rollout["max_new_tokens"] != FULL_PARAMS["max_new_tokens"]
    assert params["temperature"] == 0.5  # --param
    assert params["eval_prompts"] == FULL_PARAMS["eval_prompts"]  # the profile leaves it
    assert params["nproc_per_node"] == 2
    plain = local_params(CompileOptions(mode="fused"), build_pipeline(CompileOptions(
        mode="fused")), small=False, nproc=2)
    assert plain["samples_per_prompt"] == FULL_PARAMS["samples_per_prompt"]
    assert "top_p" not in plain  # the pipeline's default (1.0) applies


def test_comparison_report_names_the_profile_and_keeps_small_values():
    from pipeline.run_local import comparison_report

    text = comparison_report({"pass@1": 0.25, "kl": 2e-6}, {"pass@1": 0.25, "kl": 3e-6},
                             "b.md", "f.md", 4, profile=PROFILE)
    assert f"Training profile: `{PROFILE}`" in text
    assert "| kl | 2e-06 | 3e-06 | +1e-06 |" in text
    assert "| pass@1 | 0.2500 | 0.2500 | +0.0000 |" in text
    assert "profile" not in comparison_report({"pass@1": 0.5}, {}, "b.md", "f.md", 1)


def test_a_multi_line_default_keeps_the_yaml_header_a_comment(tmp_path):
    """KFP copies string defaults into the YAML's comment header as is (kubeflow/pipelines
    #10438): the default prompt template's second line must stay inside the comment."""
    from kfp import components as kfp_components

    from pipeline.yaml_comments import commented

    assert "\n" in PROMPT_TEMPLATE
    out = tmp_path / "p.yaml"
    assert main(["--output", str(out), "--rounds", "1"]) == 0
    text = out.read_text()
    header = text[:text.index("\ncomponents:")].splitlines()
    assert all(line.startswith("#") for line in header), [
        line for line in header if not line.startswith("#")]
    loaded = kfp_components.load_component_from_file(str(out))
    assert loaded.component_spec.inputs["prompt_template"].default == PROMPT_TEMPLATE
    assert commented("# a: [Default: 'x\n\ny']\n# b\n") == "# a: [Default: 'x\n#\n#    y']\n# b\n"
