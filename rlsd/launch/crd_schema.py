"""Validate a job body the way the API server and the operator would (PyTorchJob, TrainJob).

Two layers, checked before anything reaches a cluster (and by the tests' fake API server):

1. The CRD's OpenAPI v3 schema (``spec.versions[].schema.openAPIV3Schema``), turned into a
   JSON Schema (draft 4, the dialect OpenAPI 3.0 is based on) by :func:`to_json_schema`, which
   gives the Kubernetes extensions their API-server meaning:

   - ``x-kubernetes-int-or-string: true`` -> ``anyOf: [integer, string]`` (a ``pattern`` beside
     it then applies to strings only, as in Kubernetes);
   - ``nullable: true`` -> ``null`` is allowed;
   - ``format: int32``/``int64`` -> the integer range of that width;
   - ``x-kubernetes-list-type: set`` -> ``uniqueItems``; ``map`` with
     ``x-kubernetes-list-map-keys`` -> no two items share the key fields (a missing key field
     counts as its schema default, e.g. a port's ``protocol: TCP``), checked by a custom
     keyword;
   - ``x-kubernetes-preserve-unknown-fields: true`` -> unknown fields allowed there; everywhere
     else an unknown field is an error (``strict``, what ``fieldValidation=Strict`` does; the
     server's default would silently drop it, which hides typos such as ``nprocPerNodes``);
   - ``x-kubernetes-validations`` (CEL) are not evaluated by the schema; the PyTorchJob CRD's
     only rule (``schedulingPolicy.queue`` immutable) applies to updates, and the TrainJob
     CRD's rules that apply at creation (name format and length, ``managedBy`` values) are
     checked by :func:`trainjob_admission_problems`;
   - the root ``metadata`` (``type: object`` in the CRD; the server validates ObjectMeta
     itself) gets a small ObjectMeta schema.

2. What the Training Operator v1.9 admission webhook enforces (``validatePyTorchJob``): the job
   name is a DNS-1035 label; replica types are ``Master``/``Worker``; ``Master`` has exactly 1
   replica; every replica has a container named ``pytorch`` with an image. Plus one runtime
   rule the webhook does not check: every pod/Service name ``<job>-worker-<i>`` fits in 63
   characters, or the operator fails to create the Service and the job never starts.
   For a TrainJob (:func:`trainjob_admission_problems`): the CRD's CEL rules at creation and
   what Kubeflow Trainer v2.3's webhook and torch plugin refuse: the runtime reference's kind,
   reserved ``PET_*`` variables in ``trainer.env``, and (given the runtime object) patches of
   replicated jobs or containers the runtime does not have.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from rlsd.launch import trainjob
from rlsd.launch.errors import (
    ClusterJobInvalid,
    PyTorchJobInvalid,
    TrainingJobSpecError,
    TrainJobInvalid,
)
from rlsd.launch.naming import DNS1035_MAX, is_dns1035_label, pod_name
from rlsd.launch.pytorchjob import API_VERSION, CONTAINER_NAME, KIND

REPLICA_TYPES = ("Master", "Worker")

_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_OBJECT_META = {
    "type": "object",
    "properties": {
        "name": {"type": "string"}, "generateName": {"type": "string"},
        "namespace": {"type": "string"}, "labels": _STRING_MAP, "annotations": _STRING_MAP,
        "finalizers": {"type": "array", "items": {"type": "string"}},
        "ownerReferences": {"type": "array", "items": {"type": "object"}},
        "uid": {"type": "string"}, "resourceVersion": {"type": "string"},
        "generation": {"type": "integer"}, "creationTimestamp": {"type": ["string", "null"]},
        "deletionTimestamp": {"type": "string"}, "deletionGracePeriodSeconds": {"type": "integer"},
        "managedFields": {"type": "array"}, "selfLink": {"type": "string"},
    },
}


def load_crd_schema(path: str | Path, version: str = "v1") -> dict[str, Any]:
    """The ``openAPIV3Schema`` of ``version`` in a CRD YAML file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"CRD file not found: {path}")
    # The CRD is ~650 kB of YAML: the C loader reads it ~5x faster when libyaml is present.
    crd = yaml.load(path.read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(crd, Mapping) or crd.get("kind") != "CustomResourceDefinition":
        raise TrainingJobSpecError(f"{path} is not a CustomResourceDefinition")
    for entry in crd.get("spec", {}).get("versions", []):
        if entry.get("name") == version:
            return entry["schema"]["openAPIV3Schema"]
    names = [v.get("name") for v in crd.get("spec", {}).get("versions", [])]
    raise TrainingJobSpecError(f"{path} has no version {version!r} (has {names})")


def to_json_schema(openapi: Mapping[str, Any], strict: bool = True) -> dict[str, Any]:
    """A JSON Schema (draft 4 plus the list-map keyword) equivalent to a structural CRD schema."""
    out = _convert(openapi, strict)
    if "metadata" in out.get("properties", {}):
        meta = copy.deepcopy(_OBJECT_META)
        if strict:
            meta["additionalProperties"] = False
        out["properties"]["metadata"] = meta
    return out


def _convert(node: Any, strict: bool) -> Any:
    if isinstance(node, list):
        return [_convert(item, strict) for item in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in ("description", "x-kubernetes-validations", "example", "externalDocs"):
            continue
        if key == "properties":
            out[key] = {name: _convert(sub, strict) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "anyOf", "allOf", "oneOf", "not"):
            out[key] = _convert(value, strict)
        else:
            out[key] = copy.deepcopy(value)
    if node.get("x-kubernetes-int-or-string") and "anyOf" not in out:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"] if isinstance(out["type"], str) else \
            [*out["type"], "null"]
        if "enum" in out:
            out["enum"] = [*out["enum"], None]
    fmt = node.get("format")
    if node.get("type") == "integer" and fmt in _INT_RANGES:
        low, high = _INT_RANGES[fmt]
        out.setdefault("minimum", low)
        out.setdefault("maximum", high)
    if node.get("x-kubernetes-list-type") == "set":
        out["uniqueItems"] = True
    preserve = node.get("x-kubernetes-preserve-unknown-fields", False)
    if strict and node.get("type") == "object" and not preserve \
            and "additionalProperties" not in node:
        # A structural schema prunes every field it does not name; strict makes that an error.
        out["additionalProperties"] = False
    return out


def _list_map_keys(validator: Any, keys: list[str], instance: Any,
                   schema: Mapping[str, Any]) -> Iterator[jsonschema.ValidationError]:
    """``x-kubernetes-list-type: map``: items are unique by their key fields."""
    if not isinstance(instance, list) or schema.get("x-kubernetes-list-type") != "map":
        return
    item_props = schema.get("items", {}).get("properties", {})
    defaults = {k: item_props.get(k, {}).get("default") for k in keys}
    seen: dict[tuple, int] = {}
    for index, item in enumerate(instance):
        if not isinstance(item, Mapping):
            continue
        ident = tuple(item.get(k, defaults[k]) for k in keys)
        if ident in seen:
            shown = ", ".join(f"{k}={v!r}" for k, v in zip(keys, ident, strict=True))
            yield jsonschema.ValidationError(
                f"Duplicate value: {shown} (items {seen[ident]} and {index})", path=[index])
        else:
            seen[ident] = index


_K8sValidator = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"x-kubernetes-list-map-keys": _list_map_keys})


@dataclass(frozen=True)
class SchemaIssue:
    """One schema violation: ``path`` like ``spec.pytorchReplicaSpecs.Master.replicas``."""

    path: str
    message: str
    unknown_field: bool = False

    def __str__(self) -> str:
        return f"{self.path or '<root>'}: {self.message}"


def _format_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class CRDValidator:
    """Checks job bodies against a CRD schema and the operator's admission rules.

    Subclasses name the CRD version they read and the admission rules (:meth:`admission`).
    """

    version = "v1"
    invalid: type[ClusterJobInvalid] = ClusterJobInvalid

    def __init__(self, openapi_schema: Mapping[str, Any]) -> None:
        self.openapi_schema = openapi_schema
        self._validator = _K8sValidator(to_json_schema(openapi_schema, strict=True))

    @classmethod
    def from_crd_file(cls, path: str | Path, version: str | None = None) -> CRDValidator:
        """Build from a CRD YAML such as ``pytorchjobs.kubeflow.org.crd.yaml``."""
        return cls(load_crd_schema(path, version or cls.version))

    def admission(self, body: Mapping[str, Any]) -> list[str]:
        """What the operator's admission webhook would refuse (none by default)."""
        return []

    def schema_issues(self, body: Mapping[str, Any]) -> list[SchemaIssue]:
        """Every violation of the CRD schema (unknown fields flagged as such)."""
        issues: list[SchemaIssue] = []
        for err in self._validator.iter_errors(body):
            path = _format_path(err.absolute_path)
            if err.validator == "additionalProperties" and err.validator_value is False \
                    and isinstance(err.instance, Mapping):
                known = set(err.schema.get("properties", {}))
                for extra in sorted(set(err.instance) - known):
                    sub = f"{path}.{extra}" if path else extra
                    issues.append(SchemaIssue(sub, "unknown field", unknown_field=True))
            else:
                issues.append(SchemaIssue(path, err.message))
        return sorted(issues, key=lambda issue: (issue.path, issue.message))

    def problems(self, body: Mapping[str, Any]) -> list[str]:
        """Schema violations then admission-rule violations, as readable lines."""
        return [str(issue) for issue in self.schema_issues(body)] + self.admission(body)

    def check(self, body: Mapping[str, Any]) -> None:
        """Raise the kind's :class:`ClusterJobInvalid` listing every problem of ``body``."""
        problems = self.problems(body)
        if problems:
            name = body.get("metadata", {}).get("name", "") if isinstance(body, Mapping) else ""
            raise self.invalid(str(name), problems)


class PyTorchJobValidator(CRDValidator):
    """PyTorchJob bodies: the CRD schema and the Training Operator v1.9 webhook's rules."""

    version = "v1"
    invalid = PyTorchJobInvalid

    def admission(self, body: Mapping[str, Any]) -> list[str]:
        """:func:`admission_problems`."""
        return admission_problems(body)


class TrainJobValidator(CRDValidator):
    """TrainJob bodies: the v1alpha1 CRD schema and Trainer's creation rules.

    ``runtime``: the ClusterTrainingRuntime/TrainingRuntime object the jobs name, when known;
    patches are then checked against its replicated jobs and containers.
    """

    version = "v1alpha1"
    invalid = TrainJobInvalid

    def __init__(self, openapi_schema: Mapping[str, Any],
                 runtime: Mapping[str, Any] | None = None) -> None:
        super().__init__(openapi_schema)
        self.runtime = runtime

    def admission(self, body: Mapping[str, Any]) -> list[str]:
        """:func:`trainjob_admission_problems`."""
        return trainjob_admission_problems(body, self.runtime)


def admission_problems(body: Mapping[str, Any]) -> list[str]:
    """What the Training Operator v1.9 webhook (and its pod naming) would refuse."""
    problems: list[str] = []
    if body.get("apiVersion") != API_VERSION or body.get("kind") != KIND:
        problems.append(f"apiVersion/kind must be kubeflow.org/v1 PyTorchJob, got "
                        f"{body.get('apiVersion')!r}/{body.get('kind')!r}")
    name = body.get("metadata", {}).get("name", "")
    if not isinstance(name, str) or not is_dns1035_label(name):
        problems.append(f"metadata.name: {name!r} is not a DNS-1035 label")
    specs = body.get("spec", {}).get("pytorchReplicaSpecs")
    if not isinstance(specs, Mapping) or not specs:
        return [*problems, "spec.pytorchReplicaSpecs: required"]
    for rtype, rspec in specs.items():
        where = f"spec.pytorchReplicaSpecs.{rtype}"
        if rtype not in REPLICA_TYPES:
            problems.append(f"{where}: replica type must be one of {list(REPLICA_TYPES)}")
            continue
        if not isinstance(rspec, Mapping):
            problems.append(f"{where}: must be an object")
            continue
        replicas = rspec.get("replicas")
        if rtype == "Master" and replicas != 1:
            problems.append(f"{where}.replicas: must be 1")
        if rtype == "Worker" and replicas is not None and (
                not isinstance(replicas, int) or replicas < 1):
            problems.append(f"{where}.replicas: must be at least 1")
        containers = rspec.get("template", {}).get("spec", {}).get("containers") or []
        named = [c for c in containers if isinstance(c, Mapping) and c.get("name") == CONTAINER_NAME]
        if not named:
            problems.append(f"{where}.template.spec.containers: no container named "
                            f"{CONTAINER_NAME!r}")
        for i, container in enumerate(containers):
            if isinstance(container, Mapping) and not container.get("image"):
                problems.append(f"{where}.template.spec.containers[{i}].image: required")
        if isinstance(name, str) and name and isinstance(replicas, int) and replicas >= 1:
            longest = pod_name(name, rtype, replicas - 1)
            if len(longest) > DNS1035_MAX:
                problems.append(
                    f"metadata.name: pod/Service name {longest!r} would be {len(longest)} > "
                    f"{DNS1035_MAX} characters; shorten the job name")
    return problems


def _runtime_containers(runtime: Mapping[str, Any]) -> dict[str, set[str]]:
    """Replicated job name -> its pod template's container names, in a runtime object."""
    jobs = (((runtime.get("spec") or {}).get("template") or {}).get("spec") or {}).get(
        "replicatedJobs") or []
    out: dict[str, set[str]] = {}
    for job in jobs:
        pod = ((((job.get("template") or {}).get("spec") or {}).get("template") or {})
               .get("spec") or {})
        out[str(job.get("name"))] = {str(c.get("name")) for c in pod.get("containers") or []}
    return out


def trainjob_admission_problems(body: Mapping[str, Any],
                                runtime: Mapping[str, Any] | None = None) -> list[str]:
    """What the TrainJob CRD's CEL rules and Kubeflow Trainer v2.3's webhook would refuse at
    creation; with ``runtime``, also patches that name a replicated job or container the
    runtime lacks (the controller would fail to apply them)."""
    problems: list[str] = []
    if body.get("apiVersion") != trainjob.API_VERSION or body.get("kind") != trainjob.KIND:
        problems.append(f"apiVersion/kind must be {trainjob.API_VERSION} {trainjob.KIND}, got "
                        f"{body.get('apiVersion')!r}/{body.get('kind')!r}")
    name = body.get("metadata", {}).get("name", "")
    if not isinstance(name, str) or not is_dns1035_label(name):
        problems.append(f"metadata.name: {name!r} must match RFC 1035 DNS label format and be "
                        "no more than 63 characters")
    spec = body.get("spec") or {}
    managed = spec.get("managedBy")
    if managed is not None and managed not in ("trainer.kubeflow.org/trainjob-controller",
                                               "kueue.x-k8s.io/multikueue"):
        problems.append(f"spec.managedBy: {managed!r} is not a TrainJob manager")
    ref = spec.get("runtimeRef") or {}
    if ref.get("apiGroup", trainjob.GROUP) != trainjob.GROUP or ref.get(
            "kind", "ClusterTrainingRuntime") not in ("ClusterTrainingRuntime", "TrainingRuntime"):
        problems.append(f"spec.runtimeRef: {ref.get('apiGroup')}/{ref.get('kind')} is not a "
                        "trainer.kubeflow.org training runtime kind")
    env = [e.get("name") for e in (spec.get("trainer") or {}).get("env") or []
           if isinstance(e, Mapping)]
    reserved = sorted(set(env) & set(trainjob.RESERVED_ENV))
    if reserved:
        problems.append(f"spec.trainer.env: {reserved} are reserved for the torch runtime")
    if runtime is not None:
        containers = _runtime_containers(runtime)
        runtime_name = (runtime.get("metadata") or {}).get("name")
        for i, patch in enumerate(spec.get("runtimePatches") or []):
            jobs = (((patch.get("trainingRuntimeSpec") or {}).get("template") or {})
                    .get("spec") or {}).get("replicatedJobs") or []
            for job in jobs:
                where = f"spec.runtimePatches[{i}].replicatedJobs[{job.get('name')}]"
                if job.get("name") not in containers:
                    problems.append(f"{where}: runtime {runtime_name} has no replicated job "
                                    f"{job.get('name')!r} (it has {sorted(containers)})")
                    continue
                pod = ((((job.get("template") or {}).get("spec") or {}).get("template") or {})
                       .get("spec") or {})
                for c in pod.get("containers") or []:
                    if c.get("name") not in containers[job["name"]]:
                        problems.append(f"{where}: runtime {runtime_name} has no container "
                                        f"{c.get('name')!r} in that job")
    return problems
