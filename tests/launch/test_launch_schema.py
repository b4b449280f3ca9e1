"""OpenAPI -> JSON Schema conversion (Kubernetes extensions) and the admission rules."""

from __future__ import annotations

import copy

import pytest

from rlsd.launch import PyTorchJobInvalid, TrainingJobSpec, build_pytorchjob, to_json_schema
from rlsd.launch.crd_schema import PyTorchJobValidator, admission_problems
from tests.launch.k8s_reference import crd_validator_or_skip

# A tiny structural schema with one of each extension, standing in for a CRD.
TOY = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"}, "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "properties": {
                "size": {"x-kubernetes-int-or-string": True, "anyOf": [
                    {"type": "integer"}, {"type": "string"}], "pattern": "^[0-9]+Gi$"},
                "bare": {"x-kubernetes-int-or-string": True},
                "count": {"type": "integer", "format": "int32"},
                "note": {"type": "string", "nullable": True},
                "tags": {"type": "array", "items": {"type": "string"},
                         "x-kubernetes-list-type": "set"},
                "ports": {"type": "array", "x-kubernetes-list-type": "map",
                          "x-kubernetes-list-map-keys": ["port", "protocol"],
                          "items": {"type": "object", "required": ["port"], "properties": {
                              "port": {"type": "integer"},
                              "protocol": {"type": "string", "default": "TCP"}}}},
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "queue": {"type": "string", "x-kubernetes-validations": [
                    {"rule": "self == oldSelf", "message": "immutable"}]},
            },
        },
    },
}


def _issues(spec: dict) -> list[str]:
    validator = PyTorchJobValidator(TOY)
    return [str(i) for i in validator.schema_issues({"apiVersion": "v", "kind": "K",
                                                     "metadata": {"name": "x"}, "spec": spec})]


def test_valid_toy_object_has_no_issues() -> None:
    assert _issues({"size": "16Gi", "bare": 3, "count": 5, "note": None, "tags": ["a", "b"],
                    "ports": [{"port": 80}, {"port": 80, "protocol": "UDP"}],
                    "free": {"anything": {"goes": 1}}, "queue": "q"}) == []


@pytest.mark.parametrize("spec, expected", [
    ({"size": "16GB"}, "spec.size: '16GB' does not match '^[0-9]+Gi$'"),
    ({"size": 2.5}, "spec.size: 2.5 is not valid under any of the given schemas"),
    ({"bare": True}, "spec.bare: True is not valid under any of the given schemas"),
    ({"count": 2**31}, "spec.count: 2147483648 is greater than the maximum of 2147483647"),
    ({"count": "3"}, "spec.count: '3' is not of type 'integer'"),
    ({"tags": ["a", "a"]}, "spec.tags: ['a', 'a'] has non-unique elements"),
    ({"ports": [{"port": 80}, {"port": 80, "protocol": "TCP"}]},
     "spec.ports[1]: Duplicate value: port=80, protocol='TCP' (items 0 and 1)"),
    ({"sizee": "1Gi"}, "spec.sizee: unknown field"),
])
def test_each_extension_means_what_the_api_server_means(spec: dict, expected: str) -> None:
    assert _issues(spec) == [expected]


def test_int_or_string_pattern_applies_to_strings_only() -> None:
    assert _issues({"size": 16}) == []  # the pattern is for the string form


def test_root_metadata_gets_an_objectmeta_schema() -> None:
    validator = PyTorchJobValidator(TOY)
    issues = validator.schema_issues({"metadata": {"name": "x", "labels": {"a": 1},
                                                   "lables": {}}})
    assert [str(i) for i in issues] == ["metadata.labels.a: 1 is not of type 'string'",
                                        "metadata.lables: unknown field"]


def test_non_strict_conversion_leaves_unknown_fields_alone() -> None:
    schema = to_json_schema(TOY, strict=False)
    assert "additionalProperties" not in schema["properties"]["spec"]
    assert "x-kubernetes-validations" not in str(schema)


def _body() -> dict:
    return build_pytorchjob(TrainingJobSpec(image="r/t:1", name="rlsd-a-r0", nodes=2,
                                           forward_env=[]))


@pytest.mark.parametrize("mutate, expected", [
    (lambda b: b["metadata"].update(name="Rlsd-A"), "metadata.name: 'Rlsd-A' is not a DNS-1035"),
    (lambda b: b["spec"]["pytorchReplicaSpecs"]["Master"].update(replicas=2),
     "spec.pytorchReplicaSpecs.Master.replicas: must be 1"),
    (lambda b: b["spec"]["pytorchReplicaSpecs"]["Worker"].update(replicas=0),
     "spec.pytorchReplicaSpecs.Worker.replicas: must be at least 1"),
    (lambda b: b["spec"]["pytorchReplicaSpecs"].update(
        Chief=b["spec"]["pytorchReplicaSpecs"].pop("Worker")),
     "spec.pytorchReplicaSpecs.Chief: replica type must be one of ['Master', 'Worker']"),
    (lambda b: b["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
     .update(name="main"), "containers: no container named 'pytorch'"),
    (lambda b: b["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]
     .update(image=""), "containers[0].image: required"),
    (lambda b: (b["metadata"].update(name="a" * 54),  # -master-0 fits, -worker-11 does not
                b["spec"]["pytorchReplicaSpecs"]["Worker"].update(replicas=12)),
     f"pod/Service name '{'a' * 54}-worker-11' would be 64 > 63 characters"),
    (lambda b: b.update(kind="TFJob"), "apiVersion/kind must be kubeflow.org/v1 PyTorchJob"),
])
def test_admission_rules(mutate, expected: str) -> None:
    body = _body()
    assert admission_problems(body) == []
    mutate(body)
    problems = admission_problems(body)
    assert len(problems) == 1 and expected in problems[0], problems


def test_crd_schema_catches_real_mistakes() -> None:
    validator = crd_validator_or_skip()
    body = _body()
    assert validator.problems(body) == []
    bad = copy.deepcopy(body)
    container = bad["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    container["resources"]["limits"]["nvidia.com/gpu"] = True
    bad["spec"]["pytorchReplicaSpecs"]["Worker"]["template"]["spec"]["volumes"][0]["emptyDir"][
        "sizeLimit"] = "16 GiB"
    bad["spec"]["runPolicy"]["cleanPodPolicyy"] = "All"
    where = "spec.pytorchReplicaSpecs.Worker.template.spec"
    assert validator.problems(bad) == [
        f"{where}.containers[0].env[1]: Duplicate value: name='A' (items 0 and 1)",
        f"{where}.containers[0].resources.limits.nvidia.com/gpu: True is not valid under any "
        "of the given schemas",
        f"{where}.volumes[0].emptyDir.sizeLimit: '16 GiB' does not match "
        "'^(\\\\+|-)?(([0-9]+(\\\\.[0-9]*)?)|(\\\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\\\+|-)?"
        "(([0-9]+(\\\\.[0-9]*)?)|(\\\\.[0-9]+))))?$'",
        "spec.runPolicy.cleanPodPolicyy: unknown field",
    ]
    with pytest.raises(PyTorchJobInvalid, match="cleanPodPolicyy: unknown field"):
        validator.check(bad)
