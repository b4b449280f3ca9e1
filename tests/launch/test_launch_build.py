"""TrainingJobSpec -> build_pytorchjob: names, topology, resources, env and refusals."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rlsd.config import from_dict
from rlsd.launch import (
    MAX_JOB_NAME_LEN,
    TrainingJobSpec,
    TrainingJobSpecError,
    build_pytorchjob,
    job_name,
    pod_name,
)
from rlsd.launch.naming import is_dns1035_label, label_value
from rlsd.launch.pod import SCRATCH_ENV
from rlsd.launch.quantity import parse_quantity
from tests.launch.k8s_reference import crd_validator_or_skip

RUN_ID = "8f6c0a1e-2b3c-4d5e-8f90-123456789abc"


def _spec(**overrides) -> TrainingJobSpec:
    values = {"image": "registry.example/rlsd-trainer:1.0", "kfp_run_id": RUN_ID,
              "round_index": 3, "forward_env": []}
    values.update(overrides)
    return TrainingJobSpec(**values)


def _container(body: dict, rtype: str = "Master") -> dict:
    return body["spec"]["pytorchReplicaSpecs"][rtype]["template"]["spec"]["containers"][0]


# -- names ---------------------------------------------------------------------------------

def test_job_name_of_a_kfp_uuid_keeps_it_whole() -> None:
    assert job_name(RUN_ID, 3) == f"rlsd-{RUN_ID}-r3"
    assert len(job_name(RUN_ID, 999)) == 5 + 36 + 5 <= MAX_JOB_NAME_LEN


def test_job_name_sanitises_characters() -> None:
    assert job_name("My_Run.ID//7", 0) == "rlsd-my-run-id-7-r0"
    assert job_name("", 2) == "rlsd-r2"


def test_long_job_name_is_hash_truncated_and_stays_distinct() -> None:
    a = job_name("x" * 80 + "a", 12)
    b = job_name("x" * 80 + "b", 12)
    assert len(a) == len(b) == MAX_JOB_NAME_LEN == 51
    assert a.endswith("-r12") and b.endswith("-r12")
    assert a != b and a[:38] == b[:38]  # same head, different hash
    assert a == job_name("x" * 80 + "a", 12)  # deterministic: a retry gets the same name
    assert len(pod_name(a, "Worker", 9999)) == 63


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120), st.integers(min_value=0, max_value=10**6))
def test_any_run_id_gives_a_valid_short_name(run_id: str, round_index: int) -> None:
    name = job_name(run_id, round_index)
    assert is_dns1035_label(name) and len(name) <= MAX_JOB_NAME_LEN
    assert name.endswith(f"-r{round_index}")


def test_job_name_refuses_bad_prefix_and_round() -> None:
    with pytest.raises(TrainingJobSpecError, match="start with a letter"):
        job_name("x", 0, prefix="9lives")
    with pytest.raises(TrainingJobSpecError, match="round must be >= 0"):
        job_name("x", -1)


def test_label_value_is_valid() -> None:
    assert label_value("run/ID with spaces!") == "run-ID-with-spaces"
    assert len(label_value("a" * 100)) == 63


# -- topology and resources ----------------------------------------------------------------

def _own_env(body) -> list[dict]:
    """The container's env without the scratch locations every pod gets."""
    return [e for e in _container(body).get("env", []) if e["name"] not in SCRATCH_ENV]


def test_root_user_and_writable_image_only_when_asked() -> None:
    pod = build_pytorchjob(_spec(run_as_user=None, read_only_root_filesystem=False,
                                 scratch_size="200Gi"))["spec"]["pytorchReplicaSpecs"]["Master"]
    assert pod["template"]["spec"]["securityContext"] == {
        "seccompProfile": {"type": "RuntimeDefault"}}
    container = pod["template"]["spec"]["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is False
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert pod["template"]["spec"]["volumes"][1] == {"name": "scratch",
                                                     "emptyDir": {"sizeLimit": "200Gi"}}
    with pytest.raises(TrainingJobSpecError, match="run_as_user must be a non-root UID"):
        build_pytorchjob(_spec(run_as_user=0))


def test_three_nodes_of_eight_gpus() -> None:
    body = build_pytorchjob(_spec(nodes=3, gpus_per_node=8, namespace="team-a"))
    assert body["apiVersion"] == "kubeflow.org/v1" and body["kind"] == "PyTorchJob"
    assert body["metadata"]["name"] == f"rlsd-{RUN_ID}-r3"
    assert body["metadata"]["namespace"] == "team-a"
    spec = body["spec"]
    assert spec["nprocPerNode"] == "8"
    replicas = spec["pytorchReplicaSpecs"]
    assert {k: v["replicas"] for k, v in replicas.items()} == {"Master": 1, "Worker": 2}
    assert {v["restartPolicy"] for v in replicas.values()} == {"Never"}
    assert spec["runPolicy"] == {"cleanPodPolicy": "Running", "backoffLimit": 0,
                                 "ttlSecondsAfterFinished": 86400}
    for rtype in ("Master", "Worker"):
        container = _container(body, rtype)
        assert container["name"] == "pytorch"
        assert container["command"] == ["torchrun"]
        assert container["args"] == ["--nnodes=3", "--nproc-per-node=8", "-m", "rlsd.train"]
        assert container["resources"] == {"requests": {"cpu": "8", "memory": "64Gi"},
                                          "limits": {"memory": "64Gi", "nvidia.com/gpu": "8"}}
        assert container["ports"] == [{"name": "pytorchjob-port", "containerPort": 23456,
                                       "protocol": "TCP"}]
        assert container["volumeMounts"] == [{"name": "dshm", "mountPath": "/dev/shm"},
                                             {"name": "scratch", "mountPath": "/tmp"}]
        pod = replicas[rtype]["template"]
        assert pod["spec"]["volumes"] == [
            {"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": "16Gi"}},
            {"name": "scratch", "emptyDir": {}}]
        # Non-root, no privilege escalation, no capabilities, a read-only image.
        assert pod["spec"]["securityContext"] == {
            "seccompProfile": {"type": "RuntimeDefault"}, "runAsNonRoot": True,
            "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000}
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]}}
        writable = {e["name"]: e["value"] for e in container["env"] if e["name"] in SCRATCH_ENV}
        assert writable == SCRATCH_ENV and all(v.startswith("/tmp/") for v in writable.values())
        assert pod["metadata"]["labels"]["rlsd/kfp-run-id"] == RUN_ID
        assert pod["metadata"]["labels"]["rlsd/round"] == "3"
        assert pod["metadata"]["annotations"] == {"sidecar.istio.io/inject": "false"}
    assert body["metadata"]["labels"] == {
        "app.kubernetes.io/name": "rlsd", "app.kubernetes.io/component": "trainer",
        "rlsd/kfp-run-id": RUN_ID, "rlsd/round": "3"}


def test_single_node_has_no_worker_and_cpu_job_no_gpu() -> None:
    body = build_pytorchjob(_spec(nodes=1, gpus_per_node=0, memory="4Gi", shm_size="1Gi"))
    assert list(body["spec"]["pytorchReplicaSpecs"]) == ["Master"]
    assert body["spec"]["nprocPerNode"] == "1"
    assert "nvidia.com/gpu" not in _container(body)["resources"]["limits"]
    assert "namespace" not in body["metadata"]  # left to kubectl -n / kustomize


def test_scheduling_and_policy_settings_reach_the_pods() -> None:
    tol = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    body = build_pytorchjob(_spec(
        nodes=2, gpus_per_node=4, nproc_per_node=2, node_selector={"gpu": "h100"},
        tolerations=tol, service_account="trainer", image_pull_secrets=["regcred"],
        restart_policy="OnFailure", backoff_limit=2, active_deadline_seconds=7200,
        ttl_seconds_after_finished=0, cpu_limit="16", memory_limit="80Gi",
        command=["python", "-m", "my.entry"], args=["--flag"], labels={"team": "ml"}))
    pod = body["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]
    assert pod["nodeSelector"] == {"gpu": "h100"} and pod["tolerations"] == tol
    assert pod["serviceAccountName"] == "trainer"
    assert pod["imagePullSecrets"] == [{"name": "regcred"}]
    assert body["spec"]["nprocPerNode"] == "2"
    assert body["spec"]["pytorchReplicaSpecs"]["Worker"]["restartPolicy"] == "OnFailure"
    assert body["spec"]["runPolicy"] == {"cleanPodPolicy": "Running", "backoffLimit": 2,
                                         "activeDeadlineSeconds": 7200}
    container = pod["containers"][0]
    assert (container["command"], container["args"]) == (["python", "-m", "my.entry"],
                                                          ["--flag"])
    assert container["resources"]["limits"] == {"memory": "80Gi", "cpu": "16",
                                                "nvidia.com/gpu": "4"}
    assert body["metadata"]["labels"]["team"] == "ml"


# -- environment and credentials -----------------------------------------------------------

def test_env_forwarding_and_secret_references() -> None:
    environ = {"AWS_ENDPOINT_URL": "http://minio:9000", "AWS_SECRET_ACCESS_KEY": "fake-secret"}
    body = build_pytorchjob(_spec(env={"NCCL_DEBUG": "WARN", "OMP_NUM_THREADS": 4},
                                  forward_env=["AWS_ENDPOINT_URL", "AWS_REGION"],
                                  s3_secret="rlsd-s3-credentials"), environ=environ)
    assert _own_env(body) == [
        {"name": "NCCL_DEBUG", "value": "WARN"},
        {"name": "OMP_NUM_THREADS", "value": "4"},
        {"name": "AWS_ENDPOINT_URL", "value": "http://minio:9000"},  # AWS_REGION unset: skipped
        {"name": "AWS_ACCESS_KEY_ID", "valueFrom": {"secretKeyRef": {
            "name": "rlsd-s3-credentials", "key": "AWS_ACCESS_KEY_ID"}}},
        {"name": "AWS_SECRET_ACCESS_KEY", "valueFrom": {"secretKeyRef": {
            "name": "rlsd-s3-credentials", "key": "AWS_SECRET_ACCESS_KEY"}}},
    ]
    assert "fake-secret" not in repr(body)


def test_credential_names_are_whole_words() -> None:
    body = build_pytorchjob(_spec(env={"TOKENIZERS_PARALLELISM": "false", "KEY_FIELD": "id"}))
    assert [e["name"] for e in _own_env(body)] == ["TOKENIZERS_PARALLELISM", "KEY_FIELD"]
    for name in ("AWS_ACCESS_KEY_ID", "DB_PASSWORD", "MY_API_KEY", "GCP_CREDENTIALS",
                 "SECRET"):
        with pytest.raises(TrainingJobSpecError, match=f"{name} looks like a credential"):
            build_pytorchjob(_spec(env={name: "x"}))


def test_whole_secret_as_envfrom() -> None:
    body = build_pytorchjob(_spec(s3_secret="s3-creds", s3_secret_keys={}))
    container = _container(body)
    assert container["envFrom"] == [{"secretRef": {"name": "s3-creds"}}]
    assert _own_env(body) == []


@pytest.mark.parametrize("overrides, message", [
    ({"env": {"AWS_SECRET_ACCESS_KEY": "x"}}, "AWS_SECRET_ACCESS_KEY looks like a credential"),
    ({"env": {"HF_TOKEN": "x"}}, "HF_TOKEN looks like a credential"),
    ({"forward_env": ["AWS_SESSION_TOKEN"]}, "AWS_SESSION_TOKEN looks like a credential"),
    ({"env": {"FLAG": True}}, "env FLAG must be a string or a number"),
    ({"secret_env": {"HF_TOKEN": "no-key"}}, "must be '<secret name>:<key>'"),
    ({"s3_secret_keys": {"KEY": "k"}}, "s3_secret_keys is set but s3_secret"),
    ({"env": {"AWS_REGION": "x"}, "secret_env": {"AWS_REGION": "s:k"}}, "both in env and from"),
    ({"shm_size": "64Gi"}, "shm_size 64Gi must be below the memory limit 64Gi"),
    ({"memory": "lots"}, "memory 'lots' is not a Kubernetes quantity"),
    ({"memory_limit": "1Gi"}, "memory_limit 1Gi is below the memory request"),
    ({"nodes": 0}, "nodes must be >= 1"),
    ({"gpus_per_node": -1}, "gpus_per_node must be >= 0"),
    ({"name": "Bad_Name"}, "is not a DNS-1035 label"),
    ({"namespace": "Team A"}, "is not a DNS-1123 label"),
    ({"module": "rlsd train"}, "is not a Python module path"),
    ({"tolerations": [{"key": "a", "operatr": "Exists"}]}, "is not a Toleration"),
    ({"node_selector": {"gpu": "a b"}}, "is not a valid Kubernetes label"),
    ({"image": ""}, "image is required"),
    ({"kfp_run_id": ""}, "set name, or kfp_run_id"),
    ({"name": "a" * 60, "nodes": 3}, "is too long"),
])
def test_bad_settings_fail_early_naming_the_setting(overrides: dict, message: str) -> None:
    with pytest.raises(TrainingJobSpecError, match=None) as info:
        build_pytorchjob(_spec(**overrides))
    assert message in str(info.value)


def test_spec_loads_from_yaml_style_mapping() -> None:
    spec = from_dict(TrainingJobSpec, {
        "image": "r/t:1", "nodes": "4", "tolerations": "[{key: gpu, operator: Exists}]",
        "env": "{NCCL_DEBUG: INFO}", "restart_policy": "OnFailure"})
    assert spec.nodes == 4
    assert spec.tolerations == [{"key": "gpu", "operator": "Exists"}]
    assert spec.env == {"NCCL_DEBUG": "INFO"}
    with pytest.raises(TrainingJobSpecError, match="shm_size"):
        from_dict(TrainingJobSpec, {"memory": "8Gi"})  # default shm 16Gi no longer fits


def test_quantities_are_exact() -> None:
    assert parse_quantity("16Gi") == 16 * 2**30
    assert parse_quantity("500m") == parse_quantity("0.5")
    assert parse_quantity("1e3") == 1000 and parse_quantity("1.5G") == 1_500_000_000
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity("16GB")


# -- the CRD accepts what we build ----------------------------------------------------------

@pytest.mark.parametrize("overrides", [
    {},
    {"nodes": 1, "gpus_per_node": 0, "memory": "4Gi", "shm_size": "1Gi"},
    {"nodes": 8, "gpus_per_node": 8, "s3_secret": "s3", "secret_env": {"HF_TOKEN": "hf:token"},
     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule",
                      "tolerationSeconds": 60}],
     "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
     "image_pull_secrets": ["regcred"], "active_deadline_seconds": 86400,
     "service_account": "trainer", "cpu_limit": "32", "memory_limit": "900Gi",
     "memory": "800Gi", "shm_size": "64Gi", "env": {"NCCL_DEBUG": "WARN"}},
    {"s3_secret": "s3", "s3_secret_keys": {}, "restart_policy": "ExitCode"},
])
def test_built_bodies_pass_the_crd_schema(overrides: dict) -> None:
    validator = crd_validator_or_skip()
    body = build_pytorchjob(_spec(namespace="team-a", **overrides))
    assert validator.problems(body) == []


def test_spec_fields_are_all_documented() -> None:
    undocumented = [f.name for f in dataclasses.fields(TrainingJobSpec) if not f.metadata.get("help")]
    assert undocumented == []
