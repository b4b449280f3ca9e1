"""launcher ``trainjob``: the Kubeflow Trainer v2 TrainJob body, its CRD validation, and its
whole life cycle against the fake API server with the real ``kubernetes`` client.

The fake server (tests/launch/fake_apiserver.py) checks bodies against the v2.3.0 TrainJob
CRD, its CEL rules and Trainer's webhook, requires the named runtime, and runs each node as
a local process with the runtime's PET_* variables and the Secret references resolved
(tests/launch/fake_nodes.py): the nodes below really run.
"""

from __future__ import annotations

import io
import threading
import time

import pytest
import yaml
from kubernetes import client

from rlsd.launch import (
    LaunchTimeout,
    TrainingJobSpec,
    TrainingJobSpecError,
    TrainJobFailed,
    TrainJobInvalid,
    TrainJobLauncher,
    TrainJobRejected,
    build_pytorchjob,
    build_trainjob,
    launch_training,
)
from rlsd.launch.__main__ import main as launch_main
from tests.launch.fake_apiserver import FakeKubeAPI
from tests.launch.k8s_reference import trainjob_validator_or_skip

FAST = {"poll_interval_s": 0.05, "log_retry_interval_s": 0.05}
RUN_ID = "0b6f2a54-1d2e-4c3b-9a8f-7e6d5c4b3a21"
SECRET = "rlsd-s3-credentials"
#: Obviously fake credentials that the fake cluster's Secret holds.
FAKE_KEYS = {"AWS_ACCESS_KEY_ID": "fake-key-id", "AWS_SECRET_ACCESS_KEY": "fake-secret"}


def _spec(**overrides) -> TrainingJobSpec:
    values = {"image": "registry.example/rlsd-trainer:test", "namespace": "team-a",
              "kfp_run_id": RUN_ID, "round_index": 1, "nodes": 2, "gpus_per_node": 0,
              "nproc_per_node": 1, "cpu": "1", "memory": "2Gi", "shm_size": "256Mi",
              "s3_secret": SECRET, "forward_env": []}
    values.update(overrides)
    return TrainingJobSpec(**values)


def _python(code: str) -> list[str]:
    return ["python", "-c", code]


def _launcher(api_client, sink=None, **kwargs) -> TrainJobLauncher:
    return TrainJobLauncher(api_client, sink=sink or io.StringIO(), **{**FAST, **kwargs})


@pytest.fixture
def cluster(fake_api: FakeKubeAPI) -> FakeKubeAPI:
    """The fake cluster with the S3 Secret in place (fake values)."""
    fake_api.secrets[("team-a", SECRET)] = dict(FAKE_KEYS)
    return fake_api


# -- the body ----------------------------------------------------------------------------------

@pytest.mark.parametrize("overrides", [
    {},
    {"nodes": 4, "gpus_per_node": 8, "nproc_per_node": 0, "memory": "400Gi", "shm_size": "64Gi",
     "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
     "service_account": "trainer", "image_pull_secrets": ["registry"], "scratch_size": "200Gi",
     "active_deadline_seconds": 7200, "secret_env": {"HF_TOKEN": "hf:token"},
     "env": {"NCCL_DEBUG": "WARN"}, "cpu_limit": "32", "memory_limit": "420Gi"},
    {"run_as_user": None, "read_only_root_filesystem": False, "s3_secret": "",
     "training_runtime": "my-runtime", "training_runtime_kind": "TrainingRuntime"},
    {"command": ["bash", "-c", "torchrun -m rlsd.train \"$@\"", "--"], "module": "rlsd.loop"},
])
def test_bodies_pass_the_v2_3_crd_and_trainer_rules(overrides: dict) -> None:
    validator = trainjob_validator_or_skip()
    body = build_trainjob(_spec(args=["--policy", "s3://bucket/run/r0/policy"], **overrides))
    assert validator.problems(body) == []


def test_body_carries_topology_secret_refs_and_the_pytorchjob_pod_security() -> None:
    spec = _spec(nodes=3, gpus_per_node=8, nproc_per_node=0, memory="64Gi", shm_size="16Gi",
                 args=["--policy", "s3://b/p"], secret_env={"HF_TOKEN": "hf:token"},
                 forward_env=["AWS_ENDPOINT_URL"])
    body = build_trainjob(spec, environ={"AWS_ENDPOINT_URL": "http://minio:9000",
                                         "AWS_SECRET_ACCESS_KEY": "never-copied"})
    trainer = body["spec"]["trainer"]
    assert body["spec"]["runtimeRef"] == {"name": "torch-distributed", "kind":
                                          "ClusterTrainingRuntime",
                                          "apiGroup": "trainer.kubeflow.org"}
    assert (trainer["numNodes"], trainer["numProcPerNode"]) == (3, 8)
    assert trainer["command"] == ["torchrun"]
    assert trainer["args"] == ["-m", "rlsd.train", "--policy", "s3://b/p"]
    assert trainer["resourcesPerNode"]["limits"]["nvidia.com/gpu"] == "8"
    env = {e["name"]: e for e in trainer["env"]}
    assert env["AWS_SECRET_ACCESS_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": SECRET, "key": "AWS_SECRET_ACCESS_KEY"}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hf", "key": "token"}
    assert env["AWS_ENDPOINT_URL"]["value"] == "http://minio:9000"
    assert "never-copied" not in yaml.safe_dump(body)

    # The pod security settings are exactly those of the PyTorchJob path.
    pytorch_pod = build_pytorchjob(spec)["spec"]["pytorchReplicaSpecs"]["Master"]["template"]
    (patch,) = body["spec"]["runtimePatches"]
    (node_job,) = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    assert node_job["name"] == "node"
    pod = node_job["template"]["spec"]["template"]
    assert pod["spec"]["securityContext"] == pytorch_pod["spec"]["securityContext"]
    assert pod["spec"]["volumes"] == pytorch_pod["spec"]["volumes"]
    assert pod["metadata"] == pytorch_pod["metadata"]
    (container,) = pod["spec"]["containers"]
    pytorch_container = pytorch_pod["spec"]["containers"][0]
    assert container["name"] == "node"
    assert container["securityContext"] == pytorch_container["securityContext"]
    assert container["volumeMounts"] == pytorch_container["volumeMounts"]


@pytest.mark.parametrize(("overrides", "message"), [
    ({"restart_policy": "OnFailure"}, "restart_policy='OnFailure' applies to the PyTorchJob"),
    ({"backoff_limit": 2}, "backoff_limit=2 applies to the PyTorchJob launcher only"),
    ({"image_pull_policy": "Always"}, "image_pull_policy"),
    ({"s3_secret_keys": {}}, "cannot take a whole Secret as envFrom"),
    ({"env": {"PET_NNODES": "4"}}, "PET_NNODES"),
    ({"image": ""}, "image is required for a TrainJob"),
    ({"training_runtime": "Torch_Distributed"}, "training_runtime"),
    ({"training_runtime_kind": "Runtime"}, "training_runtime_kind"),
])
def test_settings_a_trainjob_cannot_carry_fail_early(overrides: dict, message: str) -> None:
    with pytest.raises(TrainingJobSpecError, match=message):
        build_trainjob(_spec(**overrides))


def test_crd_schema_and_cel_rules_catch_real_mistakes() -> None:
    validator = trainjob_validator_or_skip()
    body = build_trainjob(_spec())
    body["spec"]["trainer"]["numProcPerNodes"] = 2  # a typo
    body["spec"]["trainer"]["numNodes"] = "two"
    body["metadata"]["name"] = "Rlsd_Round"
    body["spec"]["runtimePatches"][0]["trainingRuntimeSpec"]["template"]["spec"][
        "replicatedJobs"][0]["name"] = "trainer"
    problems = "\n".join(validator.problems(body))
    assert "spec.trainer.numProcPerNodes: unknown field" in problems
    assert "spec.trainer.numNodes" in problems and "'two'" in problems
    assert "RFC 1035" in problems
    assert "no replicated job 'trainer'" in problems
    with pytest.raises(TrainJobInvalid, match="TrainJob 'Rlsd_Round' is invalid"):
        validator.check(body)


def test_render_prints_the_trainjob(capsys: pytest.CaptureFixture[str]) -> None:
    code = launch_main(["--mode", "trainjob", "--render", "--image", "r.example/t:1",
                        "--nodes", "2", "--gpus-per-node", "4", "--kfp-run-id", RUN_ID,
                        "--round-index", "3", "--s3-secret", SECRET, "--", "--policy", "s3://b/p"])
    assert code == 0
    body = yaml.safe_load(capsys.readouterr().out)
    assert body == build_trainjob(TrainingJobSpec(
        image="r.example/t:1", nodes=2, gpus_per_node=4, kfp_run_id=RUN_ID, round_index=3,
        s3_secret=SECRET, args=["--policy", "s3://b/p"]))


# -- the life cycle against the fake API server --------------------------------------------

NODE_REPORT = ("import os; print('node', os.environ['PET_NODE_RANK'], 'of', "
               "os.environ['PET_NNODES'], 'procs', os.environ['PET_NPROC_PER_NODE'], "
               "'key', os.environ.get('AWS_ACCESS_KEY_ID'), 'home', os.environ['HOME'], "
               "flush=True)")


def test_success_relays_node_0_and_deletes_the_job(cluster: FakeKubeAPI, api_client) -> None:
    sink = io.StringIO()
    body = build_trainjob(_spec(command=_python(NODE_REPORT)))
    outcome = _launcher(api_client, sink).run(body)

    assert outcome.state.phase == "Succeeded"
    assert outcome.name == f"rlsd-{RUN_ID}-r1"
    lines = sink.getvalue().splitlines()
    assert len(lines) == 1, lines  # node 0's log only, once
    words = lines[0].split()
    assert words[:6] == ["node", "0", "of", "2", "procs", "1"]
    assert words[7] == FAKE_KEYS["AWS_ACCESS_KEY_ID"]  # from the Secret, by reference
    assert words[9].endswith("/tmp/home")  # the pod's own /tmp emptyDir
    query, posted = cluster.posted[0]
    assert query.get("fieldValidation") == "Strict" and posted == body
    assert ("GET", f"/apis/trainer.kubeflow.org/v1alpha1/namespaces/team-a/trainjobs/"
                   f"{outcome.name}/status") in cluster.calls
    assert [(ns, name) for ns, name, _ in cluster.deletes] == [("team-a", outcome.name)]
    assert cluster.deletes[0][2].get("propagationPolicy") == "Foreground"
    assert cluster.jobs == {}


def test_failed_node_0_raises_with_reason_exit_code_and_log(cluster, api_client) -> None:
    code = "print('loading policy', flush=True); print('bad input', flush=True); raise SystemExit(3)"
    body = build_trainjob(_spec(nodes=1, command=_python(code)))
    with pytest.raises(TrainJobFailed) as failure:
        _launcher(api_client).run(body)
    err = failure.value
    assert err.reason == "FailedJobs"
    assert err.pod_problem == "container terminated: Error (exit code 3)"
    assert err.log_tail == ["loading policy", "bad input"]
    text = str(err)
    assert text.startswith(f"TrainJob team-a/{body['metadata']['name']} failed: FailedJobs")
    assert "node-0 pod: container terminated: Error (exit code 3)" in text
    assert cluster.jobs == {}


def test_a_killed_node_names_itself(cluster: FakeKubeAPI, api_client) -> None:
    code = "import time; print('up', flush=True); time.sleep(120)"
    body = build_trainjob(_spec(nodes=3, command=_python(code)))
    name = body["metadata"]["name"]

    def kill_node_1() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            job = cluster.jobs.get(("team-a", name))
            if job is not None and job.nodes is not None and all(job.nodes.lines):
                job.nodes.kill(1)
                return
            time.sleep(0.05)

    threading.Thread(target=kill_node_1, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(TrainJobFailed) as failure:
        _launcher(api_client, timeout_s=60).run(body)
    assert time.monotonic() - started < 30  # the failure ends the wait, not the timeout
    err = failure.value
    killed = [line for line in err.other_pods if line.startswith("node 1 ")]
    assert killed and "exit code 137" in killed[0], err.other_pods
    assert f"node 1 (pod {name}-node-0-1-" in str(err)
    assert cluster.jobs == {}


def test_timeout_deletes_the_job_and_stops_every_node(cluster: FakeKubeAPI, api_client) -> None:
    code = "import time; print('working', flush=True); time.sleep(120)"
    body = build_trainjob(_spec(command=_python(code)))
    name = body["metadata"]["name"]
    seen: list = []
    original = cluster.nodes_of

    def remember(ns: str, job: str):
        seen.append(original(ns, job))
        return seen[-1]

    threading.Timer(0.5, lambda: remember("team-a", name)).start()
    with pytest.raises(LaunchTimeout, match=r"TrainJob team-a/.* did not finish within 2 s"):
        _launcher(api_client, timeout_s=2).run(body)
    assert cluster.jobs == {}
    assert seen and seen[0].alive() == []  # deleting the job stopped its nodes


def test_missing_secret_leaves_the_node_waiting_and_the_timeout_says_why(fake_api,
                                                                         api_client) -> None:
    body = build_trainjob(_spec(nodes=1, command=_python("print('never')")))
    with pytest.raises(LaunchTimeout) as failure:
        _launcher(api_client, timeout_s=1).run(body)
    assert ("node-0 pod: container waiting: CreateContainerConfigError: secret "
            f'"{SECRET}" not found') in str(failure.value)


def test_deleted_from_outside_ends_the_step(cluster: FakeKubeAPI, api_client) -> None:
    code = "import time; print('step 0', flush=True); time.sleep(120)"
    body = build_trainjob(_spec(command=_python(code)))
    name = body["metadata"]["name"]
    custom = client.CustomObjectsApi(api_client)
    threading.Timer(1.0, lambda: custom.delete_namespaced_custom_object(
        "trainer.kubeflow.org", "v1alpha1", "team-a", "trainjobs", name)).start()
    with pytest.raises(TrainJobFailed) as failure:
        _launcher(api_client, timeout_s=60).run(body)
    assert failure.value.reason == "NotFound"
    assert "deleted while it ran" in str(failure.value)
    assert failure.value.log_tail == ["step 0"]


def test_unknown_runtime_is_refused_by_the_webhook(cluster, api_client) -> None:
    body = build_trainjob(_spec(training_runtime="torch-distributed-v9"))
    with pytest.raises(TrainJobRejected) as failure:
        _launcher(api_client).run(body)
    assert failure.value.status == 403
    assert 'ClusterTrainingRuntime.trainer.kubeflow.org "torch-distributed-v9" not found' \
        in str(failure.value)
    assert cluster.jobs == {}


def test_rbac_denial_names_the_trainjob_permissions(cluster, api_client) -> None:
    cluster.forbid = {"create"}
    with pytest.raises(TrainJobRejected) as failure:
        _launcher(api_client).run(build_trainjob(_spec()))
    text = str(failure.value)
    assert 'cannot create resource "trainjobs" in API group "trainer.kubeflow.org"' in text
    assert "create/get/list/watch/delete trainjobs, get trainjobs/status" in text


def test_launch_training_trainjob_mode(cluster: FakeKubeAPI, api_client, tmp_path) -> None:
    sink = io.StringIO()
    result = launch_training("trainjob", ["--flag"], _spec(
        nodes=1, command=_python("import sys; print('args', sys.argv[1:], flush=True)")),
        api_client=api_client, sink=sink, poll_interval_s=0.05, timeout_s=60)
    assert result.mode == "trainjob"
    assert result.target == f"team-a/rlsd-{RUN_ID}-r1"
    assert sink.getvalue().strip() == "args ['--flag']"


def test_a_stopped_step_deletes_its_trainjob(cluster: FakeKubeAPI, tmp_path) -> None:
    """Stopping a KFP run sends the step SIGTERM: the launcher deletes the job (and its
    nodes stop) instead of dying with the TrainJob still holding its GPUs."""
    import json
    import os
    import signal
    import subprocess
    import sys

    from tests.launch.test_launch_cluster import _kubeconfig

    config = _kubeconfig(tmp_path, cluster.url, "team-a")
    command = json.dumps(_python("import time; print('up', flush=True); time.sleep(120)"))
    step = subprocess.Popen(
        [sys.executable, "-m", "rlsd.launch", "--mode", "trainjob", "--kubeconfig", str(config),
         "--poll-interval", "0.05", "--image", "r.example/t:1", "--name", "stopped-step",
         "--nodes", "1", "--gpus-per-node", "0", "--cpu", "1", "--memory", "2Gi",
         "--shm-size", "256Mi", "--s3-secret", SECRET, "--forward-env", "[]",
         "--command", command],
        env={k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"},
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = cluster.jobs.get(("team-a", "stopped-step"))
        if job is not None and job.nodes is not None and job.nodes.lines[0]:
            break
        time.sleep(0.05)
    else:
        step.kill()
        raise AssertionError(f"the job never ran: {step.communicate()[0][-2000:]}")
    nodes = cluster.nodes_of("team-a", "stopped-step")
    step.send_signal(signal.SIGTERM)
    out, _ = step.communicate(timeout=60)
    assert step.returncode == 128 + signal.SIGTERM, out[-2000:]
    assert cluster.jobs == {}
    assert [(ns, name) for ns, name, _ in cluster.deletes] == [("team-a", "stopped-step")]
    assert nodes.alive() == []
