"""``python -m pipeline.submit`` without a KFP server.

No KFP API server can run on this machine (it needs Kubernetes, MySQL and object storage), so
the client calls are checked against ``FakeClient``, a stub that records every call with the
keyword arguments ``kfp.Client`` declares and answers with objects that carry the same
attribute names as the ``kfp_server_api`` models. Argument parsing, parameter typing, cron
validation and token handling run for real.
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
from pathlib import Path
from types import SimpleNamespace

import kfp
import pytest
from kfp import compiler

from pipeline.options import CompileOptions
from pipeline.pipeline import build_pipeline
from pipeline.submit import (
    LAUNCHERS,
    SubmitError,
    build_parser,
    check_cron,
    main,
    parse_params,
    plan_submission,
    read_token,
    submit,
)


class FakeClient:
    """Records calls; ``existing`` names pipelines the fake server already has."""

    def __init__(self, existing: dict[str, str] | None = None) -> None:
        self.existing = dict(existing or {})
        self.calls: list[tuple[str, dict]] = []

    def _record(self, name: str, kwargs: dict) -> None:
        # The real client must accept exactly these keyword arguments.
        inspect.signature(getattr(kfp.Client, name)).bind(None, **kwargs)
        self.calls.append((name, kwargs))

    def get_pipeline_id(self, name):
        self._record("get_pipeline_id", {"name": name})
        return self.existing.get(name)

    def upload_pipeline(self, **kwargs):
        self._record("upload_pipeline", kwargs)
        self.existing[kwargs["pipeline_name"]] = "pipe-new"
        return SimpleNamespace(pipeline_id="pipe-new")

    def list_pipeline_versions(self, **kwargs):
        self._record("list_pipeline_versions", kwargs)
        return SimpleNamespace(pipeline_versions=[SimpleNamespace(pipeline_version_id="ver-1")])

    def upload_pipeline_version(self, **kwargs):
        self._record("upload_pipeline_version", kwargs)
        return SimpleNamespace(pipeline_version_id="ver-2")

    def create_experiment(self, **kwargs):
        self._record("create_experiment", kwargs)
        return SimpleNamespace(experiment_id="exp-1")

    def run_pipeline(self, **kwargs):
        self._record("run_pipeline", kwargs)
        return SimpleNamespace(run_id="run-1")

    def create_recurring_run(self, **kwargs):
        self._record("create_recurring_run", kwargs)
        return SimpleNamespace(recurring_run_id="rec-1")

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]

    def kwargs(self, name: str) -> dict:
        (found,) = [kw for n, kw in self.calls if n == name]
        return found


#: Images of the test packages: not the placeholders (see the fixture).
COMPONENT_IMAGE = "registry.example/rlsd-component:1"
TRAINER_IMAGE = "registry.example/rlsd-trainer:1"


@pytest.fixture(scope="module")
def package(tmp_path_factory) -> Path:
    """The pipeline compiled with images of its own (the default ones are placeholders that
    submit refuses: test_pipeline_images.py)."""
    path = tmp_path_factory.mktemp("submit") / "rlsd.yaml"
    options = CompileOptions(rounds=1, component_image=COMPONENT_IMAGE)
    compiler.Compiler().compile(build_pipeline(options), str(path),
                                pipeline_parameters={"trainer_image": TRAINER_IMAGE})
    return path


NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)


def _plan(package: Path, *argv: str):
    args = build_parser().parse_args(["--package", str(package), *argv])
    return plan_submission(args, {}, now=NOW)


@pytest.mark.parametrize("expression", [
    "0 0 3 * * *", "*/30 * * * * *", "0 15,45 9-17 * * MON-FRI", "0 0 0 1 JAN ?", "@daily",
    "@every 1h30m", "  0  0 3 * *  * ",
])
def test_six_field_cron_and_descriptors_pass(expression):
    assert check_cron(expression) == " ".join(expression.split())


def test_five_field_cron_says_kfp_needs_six_and_suggests_the_fix():
    with pytest.raises(SubmitError) as info:
        check_cron("0 3 * * *")
    assert str(info.value) == (
        "cron expression '0 3 * * *' has 5 fields, but KFP needs 6 (second minute hour "
        "day-of-month month day-of-week): did you mean '0 0 3 * * *'?")


@pytest.mark.parametrize(("expression", "message"), [
    ("0 0 24 * * *", "hour field '24': 24 is outside 0-23"),
    ("60 * * * * *", "second field '60': 60 is outside 0-59"),
    ("0 0 3 * * 7", "day-of-week field '7': 7 is outside 0-6"),
    ("0 0 3 * * FUNDAY", "'FUNDAY' is not a number or name"),
    ("0 */0 * * * *", "step '/0' must be a positive number"),
    ("0 0 3 * * * *", "has 7 field(s)"),
    ("", "has 0 field(s)"),
    ("@sometimes", "cron descriptor '@sometimes'"),
])
def test_bad_cron_names_the_field(expression, message):
    with pytest.raises(SubmitError) as info:
        check_cron(expression)
    assert message in str(info.value)


def test_params_are_typed_by_the_pipeline(package):
    pipeline = kfp.components.load_component_from_file(str(package))
    params = parse_params(["learning_rate=1e-5", "samples_per_prompt=16",
                           "model=Qwen/Qwen3-VL-8B-Instruct", "launcher=local",
                           "temperature=0.7"], pipeline)
    assert params == {"learning_rate": 1e-5, "samples_per_prompt": 16,
                      "model": "Qwen/Qwen3-VL-8B-Instruct", "launcher": "local",
                      "temperature": 0.7}
    assert isinstance(params["samples_per_prompt"], int)
    with pytest.raises(SubmitError, match="expects integer, got 'many'"):
        parse_params(["samples_per_prompt=many"], pipeline)
    with pytest.raises(SubmitError, match="has no parameter 'lr'"):
        parse_params(["lr=1"], pipeline)
    with pytest.raises(SubmitError, match="not of the form name=value"):
        parse_params(["learning_rate"], pipeline)
    with pytest.raises(SubmitError, match=re.escape(f"launcher must be one of {list(LAUNCHERS)}, "
                                                    "got 'slurm'")):
        parse_params(["launcher=slurm"], pipeline)


def test_first_upload_creates_the_pipeline_and_starts_one_run(package):
    client = FakeClient()
    result = submit(_plan(package, "--param", "nodes=4", "--experiment", "nightly"), client)
    assert result == {"pipeline_id": "pipe-new", "version_id": "ver-1",
                      "experiment_id": "exp-1", "run_id": "run-1"}
    assert client.names() == ["get_pipeline_id", "upload_pipeline", "list_pipeline_versions",
                              "create_experiment", "run_pipeline"]
    assert client.kwargs("upload_pipeline")["pipeline_name"] == "rlsd-rlsd-1-rounds"
    assert client.kwargs("create_experiment")["name"] == "nightly"
    run = client.kwargs("run_pipeline")
    assert (run["pipeline_id"], run["version_id"], run["experiment_id"]) \
        == ("pipe-new", "ver-1", "exp-1")
    assert run["params"] == {"nodes": 4}
    assert run["job_name"] == "rlsd-rlsd-1-rounds-20260102-030405"


def test_later_uploads_add_a_version_and_a_recurring_run(package):
    client = FakeClient(existing={"rlsd-rlsd-1-rounds": "pipe-old"})
    plan = _plan(package, "--cron", "0 0 3 * * *", "--version-name", "v42",
                 "--service-account", "pipeline-runner")
    result = submit(plan, client)
    assert result["recurring_run_id"] == "rec-1" and result["version_id"] == "ver-2"
    assert "upload_pipeline" not in client.names()
    version = client.kwargs("upload_pipeline_version")
    assert (version["pipeline_id"], version["pipeline_version_name"]) == ("pipe-old", "v42")
    job = client.kwargs("create_recurring_run")
    assert job["cron_expression"] == "0 0 3 * * *"
    assert (job["max_concurrency"], job["no_catchup"], job["enabled"]) == (1, True, True)
    assert (job["pipeline_id"], job["version_id"], job["job_name"]) == ("pipe-old", "ver-2",
                                                                        "v42")
    assert job["service_account"] == "pipeline-runner"


def test_main_checks_everything_before_connecting(package, tmp_path, capsys):
    connected = []

    def factory(environ):
        connected.append(True)
        return FakeClient()

    assert main(["--package", str(package), "--cron", "0 3 * * *"], factory) == 2
    assert main(["--package", str(tmp_path / "missing.yaml")], factory) == 2
    assert main(["--package", str(package), "--param", "nodes=two"], factory) == 2
    assert connected == []
    err = capsys.readouterr().err
    assert "has 5 fields" in err and "run python -m pipeline.compile" in err
    assert main(["--package", str(package)], factory) == 0
    assert "run_id: run-1" in capsys.readouterr().out


def test_token_from_env_or_service_account_file(tmp_path):
    token_file = tmp_path / "token"
    token_file.write_text("fake-sa-token\n")
    assert read_token({"KFP_TOKEN": "fake-token"}) == "fake-token"
    assert read_token({"KF_PIPELINES_SA_TOKEN_PATH": str(token_file)}) == "fake-sa-token"
    assert read_token({}) is None
    with pytest.raises(SubmitError, match="cannot be read"):
        read_token({"KF_PIPELINES_SA_TOKEN_PATH": str(tmp_path / "nope")})


def test_launcher_choices_match_rlsd_launch():
    from pipeline.submit import LAUNCHERS
    from rlsd.launch.entry import MODES

    assert LAUNCHERS == MODES
