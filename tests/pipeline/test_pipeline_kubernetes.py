"""Kubernetes settings in the compiled YAML: S3 Secret by name only, /dev/shm, resources."""

from __future__ import annotations

import re

from pipeline.options import DEFAULT_S3_SECRET

# Values that must never reach the YAML, even when they are in the compiling environment.
FAKE_KEY_ID = "AKIAFAKEFAKEFAKE1234"
FAKE_SECRET = "fake-secret-do-not-leak-0123456789"
SECRET_LIKE = [
    re.compile(r"AKIA[0-9A-Z]{16}"),  # AWS access key ids
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----"),
    re.compile(r"(?i)(aws_secret_access_key|password|token)\s*[:=]\s*['\"]?[A-Za-z0-9/+]{16,}"),
]


def test_no_credential_values_and_the_secret_is_referenced_by_name(compiled, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", FAKE_KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", FAKE_SECRET)
    monkeypatch.setenv("KFP_TOKEN", FAKE_SECRET)
    ir = compiled(rounds=2, rollout_shards=2)
    assert FAKE_KEY_ID not in ir.text and FAKE_SECRET not in ir.text
    for pattern in SECRET_LIKE:
        assert not pattern.search(ir.text), pattern.pattern
    executors = ir.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    containers = ir.spec["deploymentSpec"]["executors"]
    assert set(executors) == set(containers)  # every task gets the credentials
    for label, settings in executors.items():
        (secret,) = settings["secretAsEnv"]
        assert secret["secretName"] == DEFAULT_S3_SECRET, label
        assert {(k["secretKey"], k["envVar"]) for k in secret["keyToEnv"]} == {
            ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY")}
    # No container sets a credential variable by value.
    for label, executor in containers.items():
        names = {e["name"] for e in executor["container"].get("env", [])}
        assert not names & {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}, label


def test_without_a_secret_name_no_secret_is_attached(compiled):
    ir = compiled(rounds=1, s3_secret="")
    executors = ir.platform.get("platforms", {}).get("kubernetes", {}) \
        .get("deploymentSpec", {}).get("executors", {})
    assert all("secretAsEnv" not in settings for settings in executors.values())
    _, _, update = ir.find("round 0: update")
    assert update["inputs"]["parameters"]["s3_secret"]["runtimeValue"]["constant"] == ""


def test_model_tasks_get_shm_resources_and_gpus(compiled):
    ir = compiled(rounds=1, shm_size="8Gi", model_task_gpus=1, gpu_type="NVIDIA-A100",
                  model_task_memory="32Gi", s3_endpoint="http://minio-service.kubeflow:9000")
    for display in ("round 0: rollout", "round 0: score", "evaluate final policy"):
        (mount,) = ir.executor_of(display)["emptyDirMounts"]
        assert (mount["mountPath"], mount["medium"], mount["sizeLimit"]) \
            == ("/dev/shm", "Memory", "8Gi")
        assert ir.executor_of(display)["nodeSelector"]["labels"] \
            == {"nvidia.com/gpu.product": "NVIDIA-A100"}
        _, _, task = ir.find(display)
        container = ir.spec["deploymentSpec"]["executors"][
            ir.spec["components"][task["componentRef"]["name"]]["executorLabel"]]["container"]
        resources = container["resources"]
        assert resources["memoryRequest"] == 34.359738368  # 32Gi in GB, as KFP writes it
        assert resources["accelerator"]["resourceCount"] == "1"
        assert {"name": "AWS_ENDPOINT_URL",
                "value": "http://minio-service.kubeflow:9000"} in container["env"]
    # The update pod is a light driver: no GPU, no /dev/shm.
    update = ir.executor_of("round 0: update")
    assert "emptyDirMounts" not in update and "nodeSelector" not in update


def test_task_node_selector_and_tolerations_reach_every_task(compiled):
    ir = compiled(rounds=1, task_node_selector={"pool": "cpu"},
                  task_tolerations=[{"key": "dedicated", "operator": "Equal",
                                     "value": "kfp", "effect": "NoSchedule"}])
    executors = ir.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for label, settings in executors.items():
        assert settings["nodeSelector"]["labels"] == {"pool": "cpu"}, label
        assert settings["tolerations"] == [{"key": "dedicated", "operator": "Equal",
                                            "value": "kfp", "effect": "NoSchedule"}], label
