"""``python -m pipeline.compile`` and the committed ``components/*/component.yaml`` files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from kfp import components as kfp_components

from components import COMPONENT_NAMES
from components._shared.image import DEFAULT_COMPONENT_IMAGE, IMAGE_ENV
from pipeline.compile import COMPONENTS_DIR, compile_components, main

STAGE_INPUTS = {  # artifact inputs each component declares
    "check_settings": set(),
    # Optional: another pipeline's Model / Dataset artifact instead of a string (issue 14).
    "base_model": {"model_artifact"},
    "data_prep": {"data"},
    "rollout": {"policy", "prompts"},
    "verify": {"prompts", "rollouts"},
    "score": {"policy", "teacher", "rollouts", "prompts"},
    "merge": {"rollouts", "rewards", "scores"},
    "update": {"policy", "rollouts", "rewards", "scores", "prompts"},
    "fused": {"policy", "prompts"},
    "evaluate": {"policy", "prompts"},
    "report": {"final_policy", "rollouts", "rewards", "scores", "base_evaluation",
               "final_evaluation"},
}


def _images(spec: dict) -> set[str]:
    return {e["container"]["image"] for e in spec["deploymentSpec"]["executors"].values()}


def test_compile_writes_the_pipeline_with_flags(tmp_path, capsys):
    out = tmp_path / "sub" / "rlsd.yaml"
    code = main(["--output", str(out), "--rounds", "3", "--rollout-shards", "2",
                 "--algorithm", "grpo", "--teacher-refresh-rounds", "0",
                 "--component-image", "registry.example/rlsd:9", "--s3-secret", "my-s3"])
    assert code == 0
    spec = yaml.safe_load_all(out.read_text()).__next__()
    assert spec["pipelineInfo"]["name"] == "rlsd-grpo-3-rounds"
    assert _images(spec) == {"registry.example/rlsd:9"}
    assert "my-s3" in out.read_text()
    assert "grpo, 3 round(s), 2 rollout shard(s), teacher refresh K=0" in capsys.readouterr().out


def test_component_image_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(IMAGE_ENV, "registry.example/from-env:1")
    out = tmp_path / "p.yaml"
    assert main(["--output", str(out), "--rounds", "1"]) == 0
    assert _images(next(yaml.safe_load_all(out.read_text()))) == {"registry.example/from-env:1"}


def test_bad_flag_is_one_error_line_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert main(["--output", str(out), "--rounds", "0"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["pipeline.compile: error: rounds must be >= 1, got 0"]
    assert not out.exists()
    assert main(["--output", str(out), "--set", "roundz=2"]) == 2
    assert "unknown setting(s) ['roundz']" in capsys.readouterr().err


def test_components_mode_writes_every_component_yaml(tmp_path):
    assert main(["--components", "--components-dir", str(tmp_path),
                 "--component-image", "registry.example/rlsd:2"]) == 0
    for name in COMPONENT_NAMES:
        spec = yaml.safe_load((tmp_path / name / "component.yaml").read_text())
        assert _images(spec) == {"registry.example/rlsd:2"}


def test_committed_component_yaml_files_are_up_to_date(tmp_path, monkeypatch):
    """Regenerate with `python -m pipeline.compile --components` when this fails."""
    monkeypatch.delenv(IMAGE_ENV, raising=False)
    compile_components(tmp_path, DEFAULT_COMPONENT_IMAGE)
    stale = [name for name in COMPONENT_NAMES
             if (tmp_path / name / "component.yaml").read_text()
             != (COMPONENTS_DIR / name / "component.yaml").read_text()]
    assert stale == [], "run: python -m pipeline.compile --components"


@pytest.mark.parametrize("name", COMPONENT_NAMES)
def test_committed_component_yaml_loads_for_reuse(name):
    path = Path(COMPONENTS_DIR) / name / "component.yaml"
    loaded = kfp_components.load_component_from_file(str(path))
    assert loaded.name == name.replace("_", "-")
    artifacts = {k for k, v in loaded.component_spec.inputs.items()
                 if v.type.startswith("system.")}
    assert artifacts == STAGE_INPUTS[name]
    assert _images(yaml.safe_load(path.read_text())) == {DEFAULT_COMPONENT_IMAGE}
    readme = (Path(COMPONENTS_DIR) / name / "README.md").read_text()
    assert "component.yaml" in readme and "## Inputs" in readme and "## Outputs" in readme
