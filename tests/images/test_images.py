"""The container images: ``images/check.sh`` (``make images-check``), the script it runs
inside the image, the Makefile's image targets and the release workflow.

The real build-and-run check needs podman or docker and minutes of CPU, so it runs only with
``RLSD_IMAGE_TESTS=1`` (images/README.md: how long it takes, and the variables a machine
without registry access needs: BASE_IMAGE, TORCH_INDEX_URL, BUILD_CA_BUNDLE, BUILD_WHEELS);
``RLSD_IMAGE_TESTS_DOCKER_RUNNER=components`` (or ``1``) or ``small-run`` adds kfp.local's
DockerRunner against the built image. ``images/ci.sh`` (CI) prepares a machine and runs it.
Everything else here is fast and runs in ``make test``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
IMAGES = REPO / "images"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"rlsd_images_{name}", IMAGES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _container_cli() -> str | None:
    wanted = os.environ.get("DOCKER")
    for cli in ([wanted] if wanted else ["podman", "docker"]):
        if shutil.which(cli) and subprocess.run([cli, "info"], capture_output=True,
                                                check=False).returncode == 0:
            return cli
    return None


# --- what runs inside the image, run here ------------------------------------------------

def test_the_in_image_check_passes_in_this_environment(tmp_path, monkeypatch):
    """images/smoke.py with this Python: the same stages and checks as inside the image."""
    monkeypatch.setenv("RLSD_NO_PROGRESS", "1")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    found = _load("smoke").check(tmp_path)
    assert found["train_rows"] == 80 and found["eval_rows"] == 20 and found["rejected"] == 0
    assert [round(r, 4) for r in found["rewards"]] == [1.0, 0.1] * 3
    assert found["versions"]["rlsd-kubeflow"] != "missing"


def test_the_in_image_check_fails_on_a_wrong_reward(tmp_path, monkeypatch):
    smoke = _load("smoke")
    monkeypatch.setattr(smoke, "FORMAT_ONLY_REWARD", 0.2)  # what a broken verifier would give
    with pytest.raises(smoke.CheckFailed, match=r"verify: 6 reward row\(s\) for 6 rollouts; "
                                                r"wrong: .*#1: expected 0.2, got \(0.1"):
        smoke.check(tmp_path)


# --- check.sh's own errors ---------------------------------------------------------------

def test_check_script_refuses_unknown_options_and_missing_clis():
    done = subprocess.run([str(IMAGES / "check.sh"), "--frobnicate"], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 2
    assert "unknown option '--frobnicate' (--help lists them)" in done.stderr
    done = subprocess.run([str(IMAGES / "check.sh"), "--docker", "no-such-container-cli"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert "no container CLI 'no-such-container-cli' on PATH" in done.stderr
    done = subprocess.run([str(IMAGES / "check.sh"), "--help"], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0 and "BUILD_CA_BUNDLE" in done.stdout


# --- Dockerfiles, Makefile, workflow -----------------------------------------------------

@pytest.mark.parametrize("name", ["component", "trainer"])
def test_dockerfiles_take_a_base_image_argument(name):
    text = (IMAGES / name / "Dockerfile").read_text()
    before_from, _, _ = text.partition("\nFROM ")
    assert re.search(r"^ARG BASE_IMAGE=\S+$", before_from, re.MULTILINE)
    assert re.search(r"^FROM \$\{BASE_IMAGE\}$", text, re.MULTILINE)


def test_trainer_default_base_is_still_the_cuda_image():
    text = (IMAGES / "trainer" / "Dockerfile").read_text()
    assert "ARG CUDA_IMAGE=nvidia/cuda:" in text and "ARG BASE_IMAGE=${CUDA_IMAGE}" in text
    assert "ARG DS_ACCELERATOR=cuda" in text and "ARG DS_BUILD_FUSED_ADAM=1" in text


def _make_n(*args: str) -> str:
    done = subprocess.run(["make", "-n", "-C", str(REPO), *args], capture_output=True,
                          text=True, check=True)
    return done.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_make_image_targets_with_podman():
    out = _make_n("images-push", "DOCKER=podman", "IMAGE_REGISTRY=registry.example/team",
                  "IMAGE_TAG=7", "IMAGE_PUSH_FLAGS=--tls-verify=false")
    assert re.search(r"podman build -f images/component/Dockerfile .*\n?.*-t "
                     r"registry.example/team/rlsd-component:7 \.", out)
    assert re.search(r"podman build -f images/trainer/Dockerfile .*\n?.*-t "
                     r"registry.example/team/rlsd-trainer:7 \.", out)
    assert "podman push --tls-verify=false registry.example/team/rlsd-component:7" in out
    assert "podman push --tls-verify=false registry.example/team/rlsd-trainer:7" in out
    assert "--component-image registry.example/team/rlsd-component:7 --param " \
           "trainer_image=registry.example/team/rlsd-trainer:7" in out
    check = _make_n("images-check", "DOCKER=podman", "IMAGES_CHECK_FLAGS=--docker-runner")
    assert "DOCKER=podman images/check.sh --docker-runner" in check


def test_release_workflow_builds_both_images_on_a_version_tag():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "images.yml").read_text())
    on = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as True
    assert on["push"] == {"tags": ["v*"]}
    version = workflow["jobs"]["version"]
    run = "\n".join(step.get("run", "") for step in version["steps"])
    assert 'images/release_version.py --tag "$GITHUB_REF_NAME"' in run
    images = workflow["jobs"]["images"]
    assert images["needs"] == "version"
    assert images["strategy"]["matrix"]["image"] == ["component", "trainer"]
    assert images["permissions"]["packages"] == "write"
    (build,) = [s for s in images["steps"] if s.get("uses", "").startswith(
        "docker/build-push-action")]
    assert build["with"]["file"] == "images/${{ matrix.image }}/Dockerfile"
    for name in ("component", "trainer"):
        assert (IMAGES / name / "Dockerfile").is_file()
    steps = "\n".join(s.get("run", "") for s in images["steps"])
    assert "images/check.sh --docker docker --skip-build" in steps
    assert "ghcr.io/$owner/rlsd-$IMAGE:$VERSION" in steps


# --- the real thing: build the image and run the stages inside it ------------------------

@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("RLSD_IMAGE_TESTS") != "1",
                    reason="builds the component image (minutes): set RLSD_IMAGE_TESTS=1")
def test_component_image_builds_and_runs_data_prep_and_verification(tmp_path):
    cli = _container_cli()
    if cli is None:
        pytest.skip("neither podman nor docker answers 'info'")
    report = tmp_path / "report.json"
    argv = [str(IMAGES / "check.sh"), "--docker", cli, "--report", str(report)]
    runner = {"1": "components", "components": "components", "small-run": "small-run"}.get(
        os.environ.get("RLSD_IMAGE_TESTS_DOCKER_RUNNER", ""))
    if runner:
        argv += ["--docker-runner", "--docker-runner-what", runner, "--python", sys.executable]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, check=False,
                          timeout=3600)
    assert done.returncode == 0, (done.stdout[-4000:], done.stderr[-4000:])
    found = json.loads(report.read_text())
    assert found["image_bytes"] > 100_000_000
    inside = found["inside"]
    assert inside["train_rows"] == 80 and inside["rejected"] == 0
    assert [round(r, 4) for r in inside["rewards"]] == [1.0, 0.1] * 3
    assert inside["versions"]["torch"].startswith("2.") and inside["versions"]["kfp"] != "missing"
    if runner == "components":
        assert found["docker_runner"]["rewards"] == [1.0, 0.1] * 3
    elif runner == "small-run":
        assert found["docker_runner"]["final_metrics"]["prompts"] > 0
