"""PyTorchJobLauncher and launch_training("pytorchjob") against the fake API server.

Every call goes through the real ``kubernetes`` client over HTTP to tests/launch/
fake_apiserver.py, which speaks the API server's REST paths, validates bodies like it (CRD
schema when ../shared/k8s has the CRD, strict unknown fields, the operator's webhook rules)
and scripts the job's conditions, pods and master log.
"""

from __future__ import annotations

import io
import json
import threading
import time
from pathlib import Path

import pytest
import yaml

from rlsd.launch import (
    LaunchTimeout,
    PyTorchJobFailed,
    PyTorchJobLauncher,
    PyTorchJobRejected,
    TrainingJobSpec,
    build_pytorchjob,
    launch_training,
)
from rlsd.launch.errors import KubernetesConfigError
from rlsd.launch.kube_client import default_namespace, load_api_client
from tests.launch.fake_apiserver import FakeKubeAPI, Scenario
from tests.launch.k8s_reference import crd_validator_or_skip

FAST = {"poll_interval_s": 0.02, "log_retry_interval_s": 0.02}


def _spec(**overrides) -> TrainingJobSpec:
    values = {"image": "registry.example/rlsd-trainer:test", "namespace": "team-a",
              "kfp_run_id": "0b6f2a54-1d2e-4c3b-9a8f-7e6d5c4b3a21", "round_index": 1,
              "nodes": 2, "gpus_per_node": 2, "memory": "8Gi", "shm_size": "1Gi",
              "s3_secret": "rlsd-s3-credentials", "forward_env": [],
              "args": ["--policy", "s3://bucket/run/r0/policy"]}
    values.update(overrides)
    return TrainingJobSpec(**values)


def _launcher(api_client, sink=None, **kwargs) -> PyTorchJobLauncher:
    return PyTorchJobLauncher(api_client, sink=sink or io.StringIO(), **{**FAST, **kwargs})


def _log_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("log-") and t.is_alive()]


def test_success_creates_relays_log_and_deletes(fake_api: FakeKubeAPI, api_client) -> None:
    lines = [f"step {i} loss {1.0 / (i + 1):.3f}" for i in range(6)] + ["train: {\"round\": 1}"]
    fake_api.scenario = Scenario(running_after=0.05, end_after=0.4, log_lines=lines)
    sink = io.StringIO()
    body = build_pytorchjob(_spec())
    outcome = _launcher(api_client, sink).run(body)

    assert outcome.state.phase == "Succeeded"
    assert (outcome.name, outcome.namespace) == ("rlsd-0b6f2a54-1d2e-4c3b-9a8f-7e6d5c4b3a21-r1",
                                                 "team-a")
    assert sink.getvalue().splitlines() == lines  # every line once, in order
    assert outcome.log_tail == lines
    query, posted = fake_api.posted[0]
    assert query.get("fieldValidation") == "Strict"
    assert posted == body
    # polled through the status subresource; deleted with foreground propagation
    assert ("GET", f"/apis/kubeflow.org/v1/namespaces/team-a/pytorchjobs/{outcome.name}/status") \
        in fake_api.calls
    assert [(ns, name) for ns, name, _ in fake_api.deletes] == [("team-a", outcome.name)]
    assert fake_api.deletes[0][2].get("propagationPolicy") == "Foreground"
    assert fake_api.jobs == {}
    assert not _log_threads()


def test_failure_raises_one_error_with_reason_pod_state_and_log(fake_api, api_client) -> None:
    lines = ["loading policy", "step 0 loss 0.693", "CUDA out of memory? no: killed"]
    fake_api.scenario = Scenario(
        end_after=0.25, outcome="Failed", reason="PyTorchJobFailed",
        message="PyTorchJob team-a/x is failed because 1 Master replica(s) failed.",
        master_exit={"reason": "OOMKilled", "exitCode": 137}, log_lines=lines)
    with pytest.raises(PyTorchJobFailed) as info:
        _launcher(api_client).run(build_pytorchjob(_spec()))
    err = info.value
    assert err.reason == "PyTorchJobFailed"
    assert "1 Master replica(s) failed" in err.message
    assert err.pod_problem == "container terminated: OOMKilled (exit code 137)"
    assert err.log_tail == lines
    text = str(err)
    assert "failed: PyTorchJobFailed" in text and "OOMKilled (exit code 137)" in text
    assert text.rstrip().endswith("| CUDA out of memory? no: killed")
    assert fake_api.jobs == {}  # deleted
    assert not err.kept


def test_keep_on_failure_leaves_the_failed_job(fake_api, api_client) -> None:
    fake_api.scenario = Scenario(end_after=0.1, outcome="Failed",
                                 master_exit={"reason": "Error", "exitCode": 1})
    body = build_pytorchjob(_spec())
    with pytest.raises(PyTorchJobFailed) as info:
        _launcher(api_client, keep_on_failure=True).run(body)
    assert info.value.kept
    assert "kubectl -n team-a describe pytorchjob" in str(info.value)
    assert list(fake_api.jobs) == [("team-a", body["metadata"]["name"])]
    assert fake_api.deletes == []


def test_timeout_deletes_the_running_job_and_stops_following(fake_api, api_client) -> None:
    fake_api.scenario = Scenario(end_after=None, log_lines=["still training"])
    started = time.monotonic()
    with pytest.raises(LaunchTimeout) as info:
        _launcher(api_client, timeout_s=0.8).run(build_pytorchjob(_spec()))
    assert time.monotonic() - started < 5.0
    text = str(info.value)
    assert "did not finish within 0.8 s" in text and "last state: Running" in text
    assert "the job was deleted" in text
    assert info.value.log_tail == ["still training"]
    assert fake_api.jobs == {}
    assert not _log_threads()


def test_timeout_while_image_cannot_be_pulled_names_the_reason(fake_api, api_client) -> None:
    fake_api.scenario = Scenario(pending_waiting={
        "reason": "ImagePullBackOff",
        "message": 'Back-off pulling image "registry.example/rlsd-trainer:test"'})
    with pytest.raises(LaunchTimeout) as info:
        _launcher(api_client, timeout_s=0.3).run(build_pytorchjob(_spec()))
    assert "last state: Created" in str(info.value)
    assert "master pod: container waiting: ImagePullBackOff: Back-off pulling image" \
        in str(info.value)
    assert fake_api.jobs == {}


def test_transient_api_errors_while_polling_are_retried(fake_api, api_client) -> None:
    fake_api.scenario = Scenario(end_after=0.1)
    fake_api.fail_status_polls = 3
    outcome = _launcher(api_client).run(build_pytorchjob(_spec()))
    assert outcome.state.phase == "Succeeded"
    assert fake_api.fail_status_polls == 0


def test_leftover_job_of_a_retried_round_is_replaced(fake_api, api_client) -> None:
    body = build_pytorchjob(_spec())
    fake_api.add_job(body)  # an earlier attempt of the same run and round, still running
    fake_api.scenario = Scenario(end_after=0.1)
    outcome = _launcher(api_client).run(body)
    assert outcome.state.phase == "Succeeded"
    assert len(fake_api.deletes) == 2  # the leftover, then ours
    assert len(fake_api.posted) == 1


def test_leftover_job_is_an_error_without_replace(fake_api, api_client) -> None:
    body = build_pytorchjob(_spec())
    fake_api.add_job(body)
    with pytest.raises(PyTorchJobRejected) as info:
        _launcher(api_client, replace_existing=False).run(body)
    assert info.value.status == 409 and info.value.reason == "AlreadyExists"
    assert "already exists" in str(info.value)


def test_rbac_denial_names_the_missing_permission(fake_api, api_client) -> None:
    fake_api.forbid = {"create"}
    with pytest.raises(PyTorchJobRejected) as info:
        _launcher(api_client).run(build_pytorchjob(_spec()))
    text = str(info.value)
    assert info.value.status == 403
    assert 'cannot create resource "pytorchjobs"' in text
    assert "manifests/" in text  # the hint


def test_webhook_rule_violation_is_rejected_by_the_server(fake_api, api_client) -> None:
    body = build_pytorchjob(_spec())
    body["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0][
        "name"] = "trainer"
    with pytest.raises(PyTorchJobRejected) as info:
        _launcher(api_client).run(body)
    assert info.value.status == 403
    assert "no container named 'pytorch'" in str(info.value)
    assert fake_api.jobs == {}


def test_schema_violation_is_a_422_from_the_server(fake_api, api_client) -> None:
    crd_validator_or_skip()
    body = build_pytorchjob(_spec())
    body["spec"]["runPolicy"]["backoffLimit"] = "zero"
    with pytest.raises(PyTorchJobRejected) as info:
        _launcher(api_client).run(body)
    assert info.value.status == 422 and info.value.reason == "Invalid"
    assert "spec.runPolicy.backoffLimit: 'zero' is not of type 'integer'" in str(info.value)


def test_unknown_field_is_refused_under_strict_validation(fake_api, api_client) -> None:
    crd_validator_or_skip()
    body = build_pytorchjob(_spec())
    body["spec"]["nprocsPerNode"] = "2"  # a typo the server would otherwise drop silently
    with pytest.raises(PyTorchJobRejected) as info:
        _launcher(api_client).run(body)
    assert info.value.status == 400
    assert 'unknown field "spec.nprocsPerNode"' in str(info.value)


def test_client_side_validation_stops_a_bad_body_before_any_request(fake_api,
                                                                    api_client) -> None:
    validator = crd_validator_or_skip()
    body = build_pytorchjob(_spec())
    body["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] = 2**31  # beyond int32
    from rlsd.launch import PyTorchJobInvalid

    with pytest.raises(PyTorchJobInvalid) as info:
        _launcher(api_client, validator=validator).run(body)
    assert "spec.pytorchReplicaSpecs.Worker.replicas" in str(info.value)
    assert fake_api.calls == []


def test_master_log_found_by_older_operator_labels(api_client) -> None:
    api = FakeKubeAPI(legacy_labels=True)
    api.start()
    try:
        api.scenario = Scenario(end_after=0.15, log_lines=["legacy labels work"])
        from kubernetes import client

        with client.ApiClient(client.Configuration(host=api.url)) as legacy_client:
            sink = io.StringIO()
            _launcher(legacy_client, sink).run(build_pytorchjob(_spec()))
        assert sink.getvalue() == "legacy labels work\n"
    finally:
        api.stop()


def test_launch_training_sends_no_credential_values(fake_api, api_client) -> None:
    fake_api.scenario = Scenario(end_after=0.1, log_lines=["ok"])
    environ = {"AWS_ACCESS_KEY_ID": "testing-key-id", "AWS_SECRET_ACCESS_KEY": "fake-secret",
               "AWS_ENDPOINT_URL": "http://minio.team-a:9000", "AWS_DEFAULT_REGION": "us-east-1"}
    spec = _spec(forward_env=["AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"],
                 secret_env={"HF_TOKEN": "hf-token:token"})
    result = launch_training("pytorchjob", ["--output", "s3://bucket/run/r1/policy"], spec,
                             api_client=api_client, poll_interval_s=0.02, sink=io.StringIO(),
                             environ=environ)
    assert result.mode == "pytorchjob"
    assert result.target == "team-a/rlsd-0b6f2a54-1d2e-4c3b-9a8f-7e6d5c4b3a21-r1"
    assert result.log_tail == ["ok"]
    _, body = fake_api.posted[0]
    text = json.dumps(body)
    assert "fake-secret" not in text and "testing-key-id" not in text
    container = body["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"] == {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {
        "secretKeyRef": {"name": "rlsd-s3-credentials", "key": "AWS_SECRET_ACCESS_KEY"}}}
    assert env["AWS_ACCESS_KEY_ID"]["valueFrom"]["secretKeyRef"]["name"] == "rlsd-s3-credentials"
    assert env["HF_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "hf-token", "key": "token"}}
    assert env["AWS_ENDPOINT_URL"] == {"name": "AWS_ENDPOINT_URL",
                                       "value": "http://minio.team-a:9000"}
    assert container["args"][-2:] == ["--output", "s3://bucket/run/r1/policy"]


def _kubeconfig(tmp_path: Path, url: str, namespace: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "fake",
        "clusters": [{"name": "fake", "cluster": {"server": url}}],
        "users": [{"name": "tester", "user": {"token": "fake-token"}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "tester",
                                                  "namespace": namespace}}],
    }))
    return path


def test_kubeconfig_gives_server_and_namespace(fake_api, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    config_path = _kubeconfig(tmp_path, fake_api.url, "team-b")
    assert default_namespace(str(config_path)) == "team-b"
    fake_api.scenario = Scenario(end_after=0.1)
    result = launch_training("pytorchjob", [], _spec(namespace=""), kubeconfig=str(config_path),
                             poll_interval_s=0.02, sink=io.StringIO(), environ={})
    assert result.target.startswith("team-b/rlsd-")
    assert fake_api.posted[0][1]["metadata"]["namespace"] == "team-b"


def test_missing_kubeconfig_is_one_clear_error(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    missing = tmp_path / "nowhere" / "config"
    with pytest.raises(KubernetesConfigError, match="no usable Kubernetes configuration"):
        load_api_client(str(missing))
    assert default_namespace(str(missing)) == "default"


def test_job_deleted_from_outside_ends_the_step_with_reason_and_log(fake_api, api_client) -> None:
    lines = ["loading policy", "step 0 loss 0.693", "step 1 loss 0.690"]
    fake_api.scenario = Scenario(running_after=0.02, end_after=None, log_lines=lines)
    body = build_pytorchjob(_spec())
    # Someone runs `kubectl delete pytorchjob` while it trains.
    threading.Timer(0.3, fake_api.jobs.clear).start()
    with pytest.raises(PyTorchJobFailed) as info:
        _launcher(api_client).run(body)
    err = info.value
    assert err.reason == "NotFound" and "deleted while it ran" in err.message
    assert err.log_tail == lines  # the master's last lines come with the reason
    assert str(err).rstrip().endswith("| step 1 loss 0.690")
    assert not _log_threads()
