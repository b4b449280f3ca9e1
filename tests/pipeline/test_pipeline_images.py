"""The default images are placeholders until published: ``pipeline.compile`` warns when it
writes one, ``pipeline.submit`` refuses a package that names one (before any network use),
and the image tags, the package version and the release workflow's check agree.

The real pipeline is compiled by the real CLI; submit runs with a client factory that fails
the test if called, so a refusal is proven to happen before connecting.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

import rlsd
from components._shared import image
from components._shared.image import (
    DEFAULT_COMPONENT_IMAGE,
    DEFAULT_TRAINER_IMAGE,
    IMAGE_ENV,
    placeholder_references,
)
from pipeline import compile as compile_cli
from pipeline import submit as submit_cli
from tests.pipeline.test_pipeline_submit import FakeClient

REPO = Path(__file__).resolve().parents[2]
OWN_COMPONENT = "registry.example/team/rlsd-component:7"
OWN_TRAINER = "registry.example/team/rlsd-trainer:7"


class Connected(Exception):
    """Raised by a client factory that must not be reached."""


def _never_connect(environ):
    raise Connected("submit tried to connect")


@pytest.fixture(autouse=True)
def _no_image_env(monkeypatch):
    monkeypatch.delenv(IMAGE_ENV, raising=False)


@pytest.fixture(scope="module")
def default_package(tmp_path_factory) -> Path:
    """The real pipeline compiled by the CLI with every default (what a new user uploads)."""
    path = tmp_path_factory.mktemp("placeholder") / "rlsd_pipeline.yaml"
    assert compile_cli.main(["--output", str(path), "--rounds", "1"]) == 0
    return path


@pytest.fixture(scope="module")
def own_package(tmp_path_factory) -> Path:
    """Compiled as the warning says: own component image, own trainer image default."""
    path = tmp_path_factory.mktemp("own") / "rlsd_pipeline.yaml"
    assert compile_cli.main(["--output", str(path), "--rounds", "1", "--component-image",
                             OWN_COMPONENT, "--param", f"trainer_image={OWN_TRAINER}"]) == 0
    return path


def _spec(path: Path) -> dict:
    return next(yaml.safe_load_all(path.read_text()))


# --- the defaults and the version ---------------------------------------------------------

def test_default_images_carry_the_package_version():
    version = rlsd.__version__
    defaults = (DEFAULT_COMPONENT_IMAGE, DEFAULT_TRAINER_IMAGE)
    assert defaults == (
        f"ghcr.io/rlsd-kubeflow/rlsd-component:{version}",
        f"ghcr.io/rlsd-kubeflow/rlsd-trainer:{version}")


def test_the_pipeline_parameter_default_is_the_same_trainer_image():
    from pipeline.options import DEFAULT_TRAINER_IMAGE as options_default

    assert options_default == DEFAULT_TRAINER_IMAGE


def test_pyproject_takes_its_version_from_the_package():
    if sys.version_info < (3, 11):
        pytest.skip("tomllib is Python >= 3.11")
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "rlsd.__version__"}


def test_placeholders_are_the_defaults_until_published(monkeypatch):
    assert image.placeholder_images() == (DEFAULT_COMPONENT_IMAGE, DEFAULT_TRAINER_IMAGE)
    monkeypatch.setattr(image, "DEFAULT_IMAGES_PUBLISHED", True)
    assert image.placeholder_images() == ()


# --- compile -------------------------------------------------------------------------------

def test_compile_with_defaults_warns_naming_both_images_and_the_way_out(tmp_path, capsys):
    out = tmp_path / "p.yaml"
    assert compile_cli.main(["--output", str(out), "--rounds", "1"]) == 0
    captured = capsys.readouterr()
    assert out.is_file() and captured.out.startswith(f"wrote {out}")
    err = captured.err
    assert err.startswith(f"pipeline.compile: warning: {out} names image(s) that are not "
                          "published yet")
    assert re.search(rf"{re.escape(DEFAULT_COMPONENT_IMAGE)} +\(the image of its components\)",
                     err)
    assert re.search(rf"{re.escape(DEFAULT_TRAINER_IMAGE)} +\(the default of parameter "
                     r"trainer_image\)", err)
    assert "make images-push IMAGE_REGISTRY=" in err
    assert "--component-image REGISTRY/PROJECT/rlsd-component:" in err
    assert "--param trainer_image=REGISTRY/PROJECT/rlsd-trainer:" in err
    assert "--allow-placeholder-images" in err


def test_compile_with_own_images_does_not_warn(own_package, capsys, tmp_path):
    spec = _spec(own_package)
    assert placeholder_references(spec) == {}
    assert spec["root"]["inputDefinitions"]["parameters"]["trainer_image"]["defaultValue"] \
        == OWN_TRAINER
    out = tmp_path / "again.yaml"
    assert compile_cli.main(["--output", str(out), "--rounds", "1", "--component-image",
                             OWN_COMPONENT, "--param", f"trainer_image={OWN_TRAINER}"]) == 0
    assert capsys.readouterr().err == ""


def test_compile_warns_about_whichever_image_is_still_a_placeholder(tmp_path, capsys,
                                                                  monkeypatch):
    out = tmp_path / "p.yaml"
    monkeypatch.setenv(IMAGE_ENV, OWN_COMPONENT)  # the component image from the environment
    assert compile_cli.main(["--output", str(out), "--rounds", "1"]) == 0
    err = capsys.readouterr().err
    assert DEFAULT_TRAINER_IMAGE in err and DEFAULT_COMPONENT_IMAGE not in err
    assert set(placeholder_references(_spec(out)).values()) == {DEFAULT_TRAINER_IMAGE}


def test_compile_does_not_warn_once_published(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(image, "DEFAULT_IMAGES_PUBLISHED", True)
    assert compile_cli.main(["--output", str(tmp_path / "p.yaml"), "--rounds", "1"]) == 0
    assert capsys.readouterr().err == ""


def test_components_mode_warns_about_the_component_image(tmp_path, capsys):
    assert compile_cli.main(["--components", "--components-dir", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert "pipeline.compile: warning:" in err and DEFAULT_COMPONENT_IMAGE in err
    assert compile_cli.main(["--components", "--components-dir", str(tmp_path),
                             "--component-image", OWN_COMPONENT]) == 0
    assert capsys.readouterr().err == ""


def test_placeholder_references_find_executors_and_parameter_defaults(default_package):
    found = placeholder_references(_spec(default_package))
    executors = {k: v for k, v in found.items() if k.startswith("executor ")}
    assert executors and set(executors.values()) == {DEFAULT_COMPONENT_IMAGE}
    assert found["parameter trainer_image"] == DEFAULT_TRAINER_IMAGE
    assert set(found) == set(executors) | {"parameter trainer_image"}


# --- submit --------------------------------------------------------------------------------

def test_submit_refuses_the_placeholder_package_before_connecting(default_package, capsys):
    assert submit_cli.main(["--package", str(default_package)], _never_connect) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1, err
    line = err[0]
    assert line.startswith(f"pipeline.submit: error: {default_package} names image(s) that "
                           "are not published yet: ")
    assert f"{DEFAULT_COMPONENT_IMAGE} (every component)" in line
    assert f"{DEFAULT_TRAINER_IMAGE} (parameter trainer_image)" in line
    assert "make images-push" in line and "--allow-placeholder-images" in line


def test_a_run_that_names_its_trainer_image_still_needs_a_component_image(default_package,
                                                                          capsys):
    argv = ["--package", str(default_package), "--param", f"trainer_image={OWN_TRAINER}"]
    assert submit_cli.main(argv, _never_connect) == 2
    line = capsys.readouterr().err
    assert DEFAULT_COMPONENT_IMAGE in line and DEFAULT_TRAINER_IMAGE not in line


def test_the_placeholder_given_as_a_parameter_is_refused_too(own_package, capsys):
    argv = ["--package", str(own_package), "--param", f"trainer_image={DEFAULT_TRAINER_IMAGE}"]
    assert submit_cli.main(argv, _never_connect) == 2
    assert f"{DEFAULT_TRAINER_IMAGE} (parameter trainer_image)" in capsys.readouterr().err


def test_own_images_are_submitted(own_package, capsys):
    client = FakeClient()
    assert submit_cli.main(["--package", str(own_package)], lambda environ: client) == 0
    assert client.names()[-1] == "run_pipeline"
    assert capsys.readouterr().err == ""


def test_the_opt_out_submits_a_mirrored_placeholder(default_package, capsys):
    client = FakeClient()
    argv = ["--package", str(default_package), "--allow-placeholder-images",
            "--param", "nodes=2"]
    assert submit_cli.main(argv, lambda environ: client) == 0
    assert client.kwargs("run_pipeline")["params"] == {"nodes": 2}
    assert "run_id: run-1" in capsys.readouterr().out


def test_other_checks_still_come_first(default_package, capsys):
    """A bad parameter is reported as such, not hidden behind the image refusal."""
    argv = ["--package", str(default_package), "--param", "nodes=two"]
    assert submit_cli.main(argv, _never_connect) == 2
    assert "parameter nodes expects integer" in capsys.readouterr().err


# --- the release workflow's version check --------------------------------------------------

def _release_version():
    spec = importlib.util.spec_from_file_location("release_version",
                                                  REPO / "images" / "release_version.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_release_version_script_matches_tags(capsys):
    release_main = _release_version().main
    assert release_main([]) == 0
    assert capsys.readouterr().out.strip() == rlsd.__version__
    assert release_main(["--tag", f"v{rlsd.__version__}"]) == 0
    assert release_main(["--tag", f"refs/tags/v{rlsd.__version__}"]) == 0
    assert release_main(["--tag", "v9.9.9"]) == 1
    err = capsys.readouterr().err
    assert f"tag v9.9.9 does not match the package version {rlsd.__version__}" in err
    assert release_main(["--tag", rlsd.__version__]) == 1  # no leading v


def test_launcher_local_needs_no_trainer_image(tmp_path, capsys):
    """With launcher=local the training runs in the component's pod: only the component image
    must exist, so a package with its own component image and the default trainer image is
    submitted (and refused as before when the run asks for a cluster launcher)."""
    path = tmp_path / "local.yaml"
    assert compile_cli.main(["--output", str(path), "--rounds", "1", "--component-image",
                             OWN_COMPONENT, "--param", "launcher=local"]) == 0
    client = FakeClient()
    assert submit_cli.main(["--package", str(path)], lambda environ: client) == 0
    assert client.names()[-1] == "run_pipeline"
    capsys.readouterr()
    argv = ["--package", str(path), "--param", "launcher=trainjob"]
    assert submit_cli.main(argv, _never_connect) == 2
    assert f"{DEFAULT_TRAINER_IMAGE} (parameter trainer_image)" in capsys.readouterr().err
