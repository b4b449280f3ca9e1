"""manifests/: kinds, RBAC exactly, the kfp-launcher format, the example Secret, the sample job.

Core kinds are checked against the Kubernetes 1.30 OpenAPI schemas with kubernetes-validate
when it is installed (offline: it ships the schemas), and always by the structural checks
below. The sample PyTorchJob is checked against the Training Operator's CRD (../shared/k8s)
and must equal what rlsd.launch renders from its spec file. kustomize (``kubectl kustomize``)
builds the kustomization when kubectl is on PATH.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from rlsd.launch.__main__ import main as launch_main
from rlsd.launch.crd_schema import admission_problems
from tests.launch.k8s_reference import crd_validator_or_skip, trainjob_validator_or_skip

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
EXAMPLES = MANIFESTS / "examples"
SAMPLE = EXAMPLES / "pytorchjob-sample.yaml"
SAMPLE_SPEC = EXAMPLES / "pytorchjob-sample.spec.yaml"
#: The same launch as a Kubeflow Trainer v2 TrainJob, rendered from the same settings.
TRAINJOB_SAMPLE = EXAMPLES / "trainjob-sample.yaml"
K8S_VERSION = "1.30.0"  # the kubernetes client 30.x matches API 1.30

# Looks like a real credential: AWS key ids, 40-char secret keys, private keys, JWTs.
CREDENTIAL = re.compile(r"AKIA[0-9A-Z]{16}|ASIA[0-9A-Z]{16}|(?<![A-Za-z0-9/+])[A-Za-z0-9/+]{40}"
                        r"(?![A-Za-z0-9/+])|-----BEGIN [A-Z ]*PRIVATE KEY-----|eyJ[\w-]{10,}\.")


def _docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _all_docs() -> dict[str, list[dict]]:
    return {str(p.relative_to(MANIFESTS)): _docs(p) for p in sorted(MANIFESTS.rglob("*.yaml"))}


def _kustomization() -> dict:
    return _docs(MANIFESTS / "kustomization.yaml")[0]


def _resources() -> list[dict]:
    return [d for name in _kustomization()["resources"] for d in _docs(MANIFESTS / name)]


def _by_kind(kind: str, name: str | None = None) -> dict:
    (doc,) = [d for d in _resources()
              if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    return doc


def test_every_yaml_parses_with_expected_kinds() -> None:
    kinds = {name: [(d.get("apiVersion"), d.get("kind")) for d in docs]
             for name, docs in _all_docs().items()}
    assert kinds == {
        "kustomization.yaml": [("kustomize.config.k8s.io/v1beta1", "Kustomization")],
        "params.yaml": [("v1", "ConfigMap")],
        "rbac.yaml": [("rbac.authorization.k8s.io/v1", "Role"),
                      ("rbac.authorization.k8s.io/v1", "RoleBinding")],
        "kfp-launcher.yaml": [("v1", "ConfigMap")],
        "examples/s3-credentials-secret.example.yaml": [("v1", "Secret")],
        "examples/pytorchjob-sample.yaml": [("kubeflow.org/v1", "PyTorchJob")],
        "examples/trainjob-sample.yaml": [("trainer.kubeflow.org/v1alpha1", "TrainJob")],
        "examples/pytorchjob-sample.spec.yaml": [(None, None)],  # launch settings, not a kind
    }


def test_kustomization_applies_no_example_and_sets_a_namespace() -> None:
    kust = _kustomization()
    assert kust["resources"] == ["params.yaml", "rbac.yaml", "kfp-launcher.yaml"]
    assert kust["namespace"] == "kubeflow-user-example-com"
    params = _docs(MANIFESTS / "params.yaml")[0]
    assert params["metadata"]["annotations"] == {"config.kubernetes.io/local-config": "true"}
    assert params["data"] == {"serviceAccount": "pipeline-runner"}


def test_role_grants_exactly_what_the_launcher_uses() -> None:
    role = _by_kind("Role")
    assert role["kind"] == "Role"  # namespaced; no ClusterRole anywhere
    assert not [d for d in _resources() if d["kind"].startswith("Cluster")]
    rules = {(tuple(r["apiGroups"]), tuple(r["resources"])): r["verbs"] for r in role["rules"]}
    assert rules == {
        (("kubeflow.org",), ("pytorchjobs",)): ["create", "get", "list", "watch", "delete"],
        (("kubeflow.org",), ("pytorchjobs/status",)): ["get"],
        (("trainer.kubeflow.org",), ("trainjobs",)): ["create", "get", "list", "watch", "delete"],
        (("trainer.kubeflow.org",), ("trainjobs/status",)): ["get"],
        (("",), ("pods",)): ["get", "list", "watch"],
        (("",), ("pods/log",)): ["get"],
    }
    assert all(set(r) == {"apiGroups", "resources", "verbs"} for r in role["rules"])


def test_rolebinding_binds_the_pipeline_service_account() -> None:
    binding, role = _by_kind("RoleBinding"), _by_kind("Role")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner",
                                    "namespace": "kubeflow-user-example-com"}]


def test_kfp_launcher_configmap_has_the_kfp2_provider_format() -> None:
    cm = _by_kind("ConfigMap", "kfp-launcher")
    assert set(cm["data"]) == {"defaultPipelineRoot", "providers"}
    assert re.fullmatch(r"s3://[a-z0-9.-]{3,63}(/.*)?", cm["data"]["defaultPipelineRoot"])
    assert isinstance(cm["data"]["providers"], str)  # a YAML document inside a string
    providers = yaml.safe_load(cm["data"]["providers"])
    default = providers["s3"]["default"]
    assert set(default) == {"endpoint", "region", "disableSSL", "forcePathStyle", "credentials"}
    assert "://" not in default["endpoint"]  # host[:port]; disableSSL chooses the scheme
    assert isinstance(default["disableSSL"], bool) and isinstance(default["forcePathStyle"], bool)
    secret = _docs(EXAMPLES / "s3-credentials-secret.example.yaml")[0]
    assert default["credentials"] == {"fromEnv": False, "secretRef": {
        "secretName": secret["metadata"]["name"], "accessKeyKey": "AWS_ACCESS_KEY_ID",
        "secretKeyKey": "AWS_SECRET_ACCESS_KEY"}}
    assert set(secret["stringData"]) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def test_example_secret_holds_only_placeholders() -> None:
    path = EXAMPLES / "s3-credentials-secret.example.yaml"
    secret = _docs(path)[0]
    assert "data" not in secret  # base64 would hide what is in it
    assert set(secret["stringData"].values()) == {"REPLACE_ME"}
    assert path.read_text().startswith("# EXAMPLE ONLY")


@pytest.mark.parametrize("path", sorted(p.relative_to(ROOT) for p in MANIFESTS.rglob("*")
                                        if p.is_file()), ids=str)
def test_no_real_looking_credentials_in_manifests(path: Path) -> None:
    assert not CREDENTIAL.findall((ROOT / path).read_text())


def test_credential_pattern_would_catch_real_keys() -> None:
    assert CREDENTIAL.search("key: AKIAIOSFODNN7EXAMPLE")
    assert CREDENTIAL.search("secret: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")
    assert not CREDENTIAL.search("secret: REPLACE_ME, s3://rlsd-pipelines/v2/artifacts")


def test_core_kinds_pass_the_kubernetes_schemas() -> None:
    kubernetes_validate = pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate not installed (pip install "
        "kubernetes-validate): core kinds are then checked by the structural tests only")
    docs = [d for name, docs in _all_docs().items() for d in docs
            if d.get("kind") in ("Role", "RoleBinding", "ConfigMap", "Secret")]
    assert len(docs) == 5
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)  # raises on any problem
    broken = {**_by_kind("Role"), "rules": [{"apiGroups": ["kubeflow.org"],
                                             "resources": "pytorchjobs", "verbs": ["get"]}]}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, K8S_VERSION, strict=True)


@pytest.mark.parametrize(("mode", "sample"), [("pytorchjob", SAMPLE),
                                               ("trainjob", TRAINJOB_SAMPLE)])
def test_sample_is_what_the_launcher_renders(mode: str, sample: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert launch_main(["--mode", mode, "--render", "--config", str(SAMPLE_SPEC)]) == 0
    rendered = capsys.readouterr().out
    text = sample.read_text()
    body = "".join(line for line in text.splitlines(keepends=True) if not line.startswith("#"))
    assert body == rendered  # byte for byte, below the header comment
    assert text.startswith("# SAMPLE")


def test_sample_trainjob_passes_the_v2_3_crd_and_trainer_rules() -> None:
    validator = trainjob_validator_or_skip()
    assert validator.problems(_docs(TRAINJOB_SAMPLE)[0]) == []


def test_sample_pytorchjob_passes_the_crd_and_the_webhook_rules() -> None:
    validator = crd_validator_or_skip()
    sample = _docs(SAMPLE)[0]
    assert validator.problems(sample) == []
    assert admission_problems(sample) == []


def test_sample_trainer_flags_exist_in_the_trainer_cli() -> None:
    from rlsd.train.__main__ import main as train_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        train_main(["--help"])
    flags = [a for a in yaml.safe_load(SAMPLE_SPEC.read_text())["args"] if a.startswith("--")]
    assert flags and [f for f in flags if f not in out.getvalue()] == []


def _kustomize(path: Path) -> list[dict]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (with built-in kustomize) is not on PATH")
    out = subprocess.run([kubectl, "kustomize", str(path)], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def test_kustomize_build_is_namespaced_and_drops_the_params() -> None:
    docs = _kustomize(MANIFESTS)
    assert sorted((d["kind"], d["metadata"]["name"]) for d in docs) == [
        ("ConfigMap", "kfp-launcher"), ("Role", "rlsd-training-launcher"),
        ("RoleBinding", "rlsd-training-launcher")]
    assert {d["metadata"]["namespace"] for d in docs} == {"kubeflow-user-example-com"}
    assert {d["metadata"]["labels"]["app.kubernetes.io/part-of"] for d in docs} == {"rlsd"}


def test_kustomize_settings_reach_the_binding(tmp_path: Path) -> None:
    copy = tmp_path / "manifests"
    shutil.copytree(MANIFESTS, copy)
    kust = copy / "kustomization.yaml"
    kust.write_text(kust.read_text().replace("namespace: kubeflow-user-example-com",
                                             "namespace: team-x"))
    params = copy / "params.yaml"
    params.write_text(params.read_text().replace("pipeline-runner", "runner-x"))
    docs = _kustomize(copy)
    (binding,) = [d for d in docs if d["kind"] == "RoleBinding"]
    assert binding["metadata"]["namespace"] == "team-x"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "runner-x",
                                    "namespace": "team-x"}]
