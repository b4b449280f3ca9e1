"""A small Kubernetes API server for the launcher tests: real HTTP, real REST paths.

It serves what :class:`rlsd.launch.PyTorchJobLauncher` and :class:`rlsd.launch.TrainJobLauncher`
call through the real ``kubernetes`` client, on 127.0.0.1 in a thread:

- ``POST/GET/DELETE /apis/kubeflow.org/v1/namespaces/{ns}/pytorchjobs[/{name}]`` and
  ``GET .../pytorchjobs/{name}/status``; the same for
  ``/apis/trainer.kubeflow.org/v1alpha1/namespaces/{ns}/trainjobs``;
- ``GET /api/v1/namespaces/{ns}/pods?labelSelector=...`` (equality selectors);
- ``GET /api/v1/namespaces/{ns}/pods/{pod}/log[?follow=true]``, streamed with chunked
  transfer encoding while the container runs, as the API server does.

Like the real server it refuses bad bodies: an unknown field under ``fieldValidation=Strict``
is 400 ``BadRequest``, a CRD-schema violation 422 ``Invalid`` (when a CRD validator is given),
a Training Operator webhook rule 403 from the admission webhook, a duplicate name 409
``AlreadyExists``. Verbs listed in ``forbid`` answer 403 like RBAC does.

A PyTorchJob's life is scripted by a :class:`Scenario` in seconds since its creation:
``Created``, then ``Running`` (pods appear, the master writes its log lines), then
``Succeeded`` or ``Failed`` (the master container terminates with the scripted reason), or it
stays running (``end_after=None``) for the timeout path, or its master pod stays ``Pending``
with a waiting reason (``ImagePullBackOff``).

A TrainJob is not scripted: its nodes really run, as local processes
(:class:`tests.launch.fake_nodes.NodeProcesses`), with the pods, labels, container name,
conditions and Secret resolution of Kubeflow Trainer v2.3's ``torch-distributed`` runtime on
JobSet. It is checked like the real server checks it: the v1alpha1 CRD schema, the CRD's CEL
rules and Trainer's webhook (:class:`rlsd.launch.TrainJobValidator`, given the runtime
object), and the named training runtime must exist (``runtimes``).
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from rlsd.launch.crd_schema import PyTorchJobValidator, TrainJobValidator, admission_problems
from tests.launch.fake_nodes import NodeProcesses

_JOBS = re.compile(r"^/apis/(kubeflow\.org/v1|trainer\.kubeflow\.org/v1alpha1)/namespaces/"
                   r"([^/]+)/(pytorchjobs|trainjobs)(?:/([^/]+))?(/status)?$")
_KINDS = {"pytorchjobs": ("kubeflow.org/v1", "PyTorchJob", "pytorchjobs.kubeflow.org"),
          "trainjobs": ("trainer.kubeflow.org/v1alpha1", "TrainJob",
                        "trainjobs.trainer.kubeflow.org")}
LogSource = Callable[[], tuple[list[str], bool]]
_PODS = re.compile(r"^/api/v1/namespaces/([^/]+)/pods(?:/([^/]+))?(/log)?$")
_TIMESTAMP = "2026-01-01T00:00:00Z"


@dataclass
class Scenario:
    """How a created job behaves (times in seconds after creation)."""

    running_after: float = 0.05
    end_after: float | None = 0.3
    outcome: str = "Succeeded"
    reason: str = ""
    message: str = ""
    master_exit: dict[str, Any] = field(
        default_factory=lambda: {"reason": "Completed", "exitCode": 0})
    log_lines: list[str] = field(default_factory=list)
    log_interval: float = 0.01
    pending_waiting: dict[str, str] | None = None


@dataclass
class _Job:
    obj: dict[str, Any]
    created: float
    scenario: Scenario
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    plural: str = "pytorchjobs"
    nodes: NodeProcesses | None = None


class FakeKubeAPI:
    """The server; ``start()`` returns its URL. Inspect ``posted``, ``deletes``, ``calls``."""

    def __init__(self, validator: PyTorchJobValidator | None = None,
                 legacy_labels: bool = False,
                 trainjob_validator: TrainJobValidator | None = None,
                 runtimes: dict[tuple[str, str], dict[str, Any]] | None = None) -> None:
        self.validator = validator
        self.trainjob_validator = trainjob_validator
        #: (kind, name) -> training runtime object; a TrainJob must name one of these.
        self.runtimes = dict(runtimes or {})
        #: (namespace, name) -> {key: value}: the Secrets TrainJob nodes may reference.
        self.secrets: dict[tuple[str, str], dict[str, str]] = {}
        self.workdir = Path(tempfile.mkdtemp(prefix="fake-kube-"))
        self.legacy_labels = legacy_labels
        self.scenario = Scenario()
        self.forbid: set[str] = set()
        self.fail_status_polls = 0  # answer this many status GETs with 503 first
        self.jobs: dict[tuple[str, str], _Job] = {}
        self.posted: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.deletes: list[tuple[str, str, dict[str, Any]]] = []
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> str:
        api = self

        class Handler(_Handler):
            server_api = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02},
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        return self.url

    def stop(self) -> None:
        self.stopping.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for job in list(self.jobs.values()):
            if job.nodes is not None:
                job.nodes.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def nodes_of(self, ns: str, name: str) -> NodeProcesses:
        """The running nodes of TrainJob ``ns/name`` (to kill one from outside, say)."""
        job = self.jobs[(ns, name)]
        assert job.nodes is not None, f"{ns}/{name} is not a TrainJob"
        return job.nodes

    def add_job(self, body: dict[str, Any], scenario: Scenario | None = None) -> None:
        """Put a job in place directly (e.g. one left behind by an earlier attempt)."""
        ns = body["metadata"]["namespace"]
        self.jobs[(ns, body["metadata"]["name"])] = _Job(copy.deepcopy(body), time.monotonic(),
                                                         scenario or Scenario(end_after=None))

    # -- state as seen at request time ------------------------------------------------------

    def job_status(self, job: _Job) -> dict[str, Any]:
        if job.nodes is not None:
            return self.trainjob_status(job)
        sc, age = job.scenario, time.monotonic() - job.created
        conds = [{"type": "Created", "status": "True", "reason": "PyTorchJobCreated",
                  "message": "PyTorchJob is created."}]
        if sc.pending_waiting is None and age >= sc.running_after:
            conds.append({"type": "Running", "status": "True", "reason": "PyTorchJobRunning",
                          "message": "PyTorchJob is running."})
            if sc.end_after is not None and age >= sc.end_after:
                conds[-1]["status"] = "False"
                conds.append({"type": sc.outcome, "status": "True",
                              "reason": sc.reason or f"PyTorchJob{sc.outcome}",
                              "message": sc.message or f"PyTorchJob is {sc.outcome.lower()}."})
        return {"conditions": conds, "startTime": _TIMESTAMP}

    def trainjob_status(self, job: _Job) -> dict[str, Any]:
        """Trainer v2.3 on JobSet: ``Complete``/``Failed`` copied from the JobSet, child Job
        counts in ``jobsStatus`` while it runs (one replicated job ``node``)."""
        nodes = job.nodes
        assert nodes is not None
        outcome = nodes.outcome()
        counts = {"name": "node", "active": int(outcome in ("Pending", "Running")), "ready":
                  int(outcome == "Running"), "succeeded": int(outcome == "Complete"),
                  "failed": int(outcome == "Failed"), "suspended": 0}
        status: dict[str, Any] = {"jobsStatus": [counts]}
        if outcome == "Complete":
            status["conditions"] = [{"type": "Complete", "status": "True",
                                     "reason": "JobsCompleted",
                                     "message": "jobset completed successfully"}]
        elif outcome == "Failed":
            failed = nodes.failed_node()
            status["conditions"] = [{"type": "Failed", "status": "True", "reason": "FailedJobs",
                                     "message": f"jobset failed: job "
                                                f"{job.obj['metadata']['name']}-node-0 failed "
                                                f"(index {failed})"}]
        return status

    def container_state(self, job: _Job) -> tuple[str, dict[str, Any]]:
        """(pod phase, container state) of the master now."""
        sc, age = job.scenario, time.monotonic() - job.created
        if sc.pending_waiting is not None:
            return "Pending", {"waiting": dict(sc.pending_waiting)}
        if age < sc.running_after:
            return "Pending", {"waiting": {"reason": "ContainerCreating"}}
        if sc.end_after is not None and age >= sc.end_after:
            phase = "Succeeded" if sc.outcome == "Succeeded" else "Failed"
            return phase, {"terminated": {**sc.master_exit, "startedAt": _TIMESTAMP,
                                          "finishedAt": _TIMESTAMP}}
        return "Running", {"running": {"startedAt": _TIMESTAMP}}

    def visible_log_lines(self, job: _Job) -> tuple[list[str], bool]:
        """(lines written so far, container finished)."""
        sc, age = job.scenario, time.monotonic() - job.created
        done = sc.end_after is not None and age >= sc.end_after
        if done:
            return list(sc.log_lines), True
        n = int((age - sc.running_after) / sc.log_interval) + 1 if age >= sc.running_after else 0
        return sc.log_lines[:max(0, min(n, len(sc.log_lines)))], False

    def pods(self, ns: str) -> list[tuple[dict[str, Any], LogSource | None]]:
        out: list[tuple[dict[str, Any], LogSource | None]] = []
        for (job_ns, name), job in self.jobs.items():
            if job_ns != ns:
                continue
            if job.nodes is not None:
                out += self._node_pods(name, ns, job)
                continue
            phase, state = self.container_state(job)
            if phase == "Pending" and job.scenario.pending_waiting is None:
                continue  # not scheduled yet: the operator has not created the pods
            replicas = job.obj["spec"]["pytorchReplicaSpecs"]
            for rtype, rspec in replicas.items():
                for index in range(rspec.get("replicas", 1)):
                    source = (lambda job=job: self.visible_log_lines(job)) \
                        if rtype == "Master" else None
                    out.append((self._pod(name, ns, rtype.lower(), index, phase, state, job),
                                source))
        return out

    def _node_pods(self, name: str, ns: str,
                   job: _Job) -> list[tuple[dict[str, Any], LogSource | None]]:
        """The JobSet's pods: ``<job>-node-0-<rank>-<suffix>``, container ``node``."""
        nodes = job.nodes
        assert nodes is not None
        image = job.obj["spec"]["trainer"].get("image", "")
        out: list[tuple[dict[str, Any], LogSource | None]] = []
        for rank in range(nodes.nodes):
            code = nodes.exit_code(rank)
            if nodes.config_error:
                phase, state = "Pending", {"waiting": {"reason": "CreateContainerConfigError",
                                                       "message": nodes.config_error}}
            elif code is None:
                phase, state = "Running", {"running": {"startedAt": _TIMESTAMP}}
            else:
                phase = "Succeeded" if code == 0 else "Failed"
                state = {"terminated": {"reason": "Completed" if code == 0 else "Error",
                                        "exitCode": code, "startedAt": _TIMESTAMP,
                                        "finishedAt": _TIMESTAMP}}
            labels = {"jobset.sigs.k8s.io/jobset-name": name,
                      "jobset.sigs.k8s.io/replicatedjob-name": "node",
                      "jobset.sigs.k8s.io/job-index": "0",
                      "batch.kubernetes.io/job-completion-index": str(rank),
                      "trainer.kubeflow.org/trainjob-ancestor-step": "trainer"}
            pod = {
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{name}-node-0-{rank}-{job.uid[:5]}", "namespace": ns,
                             "labels": labels, "uid": f"{job.uid}-node-{rank}",
                             "creationTimestamp": _TIMESTAMP},
                "spec": {"containers": [{"name": "node", "image": image}]},
                "status": {"phase": phase, "containerStatuses": [{
                    "name": "node", "image": image, "imageID": "", "ready": phase == "Running",
                    "restartCount": 0, "state": state}]},
            }

            def source(rank: int = rank) -> tuple[list[str], bool]:
                return list(nodes.lines[rank]), nodes.exit_code(rank) is not None

            out.append((pod, source))
        return out

    def _pod(self, job: str, ns: str, rtype: str, index: int, phase: str,
             state: dict[str, Any], rec: _Job) -> dict[str, Any]:
        if self.legacy_labels:
            labels = {"job-name": job, "replica-type": rtype, "replica-index": str(index),
                      "group-name": "kubeflow.org"}
        else:
            labels = {"training.kubeflow.org/job-name": job,
                      "training.kubeflow.org/replica-type": rtype,
                      "training.kubeflow.org/replica-index": str(index),
                      "training.kubeflow.org/operator-name": "pytorchjob-controller"}
            if rtype == "master":
                labels["training.kubeflow.org/job-role"] = "master"
        container = rec.obj["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"][
            "containers"][0]
        return {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"{job}-{rtype}-{index}", "namespace": ns, "labels": labels,
                         "uid": f"{rec.uid}-{rtype}-{index}", "creationTimestamp": _TIMESTAMP},
            "spec": {"containers": [{"name": "pytorch", "image": container["image"]}]},
            "status": {"phase": phase, "containerStatuses": [{
                "name": "pytorch", "image": container["image"], "imageID": "", "ready":
                    phase == "Running", "restartCount": 0, "state": state}]},
        }


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_api: FakeKubeAPI

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    # -- plumbing ---------------------------------------------------------------------------

    def _send_json(self, code: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, reason: str, message: str) -> None:
        self._send_json(code, _status(code, reason, message))

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else {}

    def _route(self, method: str) -> None:
        url = urlparse(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        api = self.server_api
        api.calls.append((method, url.path))
        if match := _JOBS.match(url.path):
            group_version, ns, plural, name, status = match.groups()
            if group_version != _KINDS[plural][0]:
                return self._error(404, "NotFound", f"the server could not find {url.path}")
            verb = {"POST": "create", "GET": "get" if name else "list", "DELETE": "delete"}[method]
            if verb in api.forbid:
                group = _KINDS[plural][0].split("/")[0]
                return self._error(403, "Forbidden", (
                    f'{_KINDS[plural][2]} "{name or ""}" is forbidden: User '
                    f'"system:serviceaccount:{ns}:pipeline-runner" cannot {verb} resource '
                    f'"{plural}" in API group "{group}" in the namespace "{ns}"'))
            return self._jobs(method, plural, ns, name, bool(status), query)
        if (match := _PODS.match(url.path)) and method == "GET":
            ns, pod, log = match.groups()
            if log:
                return self._log(ns, pod, query)
            return self._pods(ns, query)
        return self._error(404, "NotFound", f"the server could not find {url.path}")

    do_GET = lambda self: self._route("GET")  # noqa: E731
    do_POST = lambda self: self._route("POST")  # noqa: E731
    do_DELETE = lambda self: self._route("DELETE")  # noqa: E731

    # -- jobs -------------------------------------------------------------------------------

    def _jobs(self, method: str, plural: str, ns: str, name: str | None, status: bool,
              query: dict[str, str]) -> None:
        api = self.server_api
        api_version, kind, resource = _KINDS[plural]
        if method == "POST":
            return self._create(plural, ns, self._body(), query)
        if method == "DELETE":
            options = self._body()
            with api.lock:
                job = api.jobs.get((ns, name))
                if job is not None and job.plural == plural:
                    del api.jobs[(ns, name)]
                else:
                    job = None
            if job is None:
                return self._error(404, "NotFound", f'{resource} "{name}" not found')
            if job.nodes is not None:
                job.nodes.stop()  # foreground deletion: the pods go with the job
            api.deletes.append((ns, name, options))
            return self._send_json(200, job.obj)
        if name is None:
            items = [j.obj for (n, _), j in api.jobs.items() if n == ns and j.plural == plural]
            return self._send_json(200, {"apiVersion": api_version, "kind": f"{kind}List",
                                         "items": items, "metadata": {}})
        if status and api.fail_status_polls > 0:
            api.fail_status_polls -= 1
            return self._error(503, "ServiceUnavailable", "etcdserver: leader changed")
        job = api.jobs.get((ns, name))
        if job is None or job.plural != plural:
            return self._error(404, "NotFound", f'{resource} "{name}" not found')
        return self._send_json(200, {**job.obj, "status": api.job_status(job)})

    def _create(self, plural: str, ns: str, body: Any, query: dict[str, str]) -> None:
        api = self.server_api
        api_version, kind, resource = _KINDS[plural]
        name = body.get("metadata", {}).get("name", "")
        if body.get("apiVersion") != api_version or body.get("kind") != kind:
            return self._error(400, "BadRequest", "the API version/kind in the data "
                               f"({body.get('apiVersion')}/{body.get('kind')}) does not match "
                               f"the expected API version ({api_version}, Kind={kind})")
        if body.get("metadata", {}).get("namespace", ns) != ns:
            return self._error(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
        validator = api.validator if plural == "pytorchjobs" else api.trainjob_validator
        if validator is not None:
            issues = validator.schema_issues(body)
            unknown = [i for i in issues if i.unknown_field]
            if unknown and query.get("fieldValidation") == "Strict":
                return self._error(400, "BadRequest", "strict decoding error: " + ", ".join(
                    f'unknown field "{i.path}"' for i in unknown))
            invalid = [i for i in issues if not i.unknown_field]
            if invalid:
                return self._error(422, "Invalid", f'{kind}.{api_version.split("/")[0]} '
                                   f'"{name}" is invalid: ' + "; ".join(str(i) for i in invalid))
        if plural == "pytorchjobs":
            problems, webhook = admission_problems(body), \
                "validator.pytorchjob.training-operator.kubeflow.org"
        else:
            problems, webhook = self._trainjob_problems(body), \
                "validator.trainjob.trainer.kubeflow.org"
        if problems:
            return self._error(403, "Forbidden", f'admission webhook "{webhook}" denied the '
                               "request: " + "; ".join(problems))
        with api.lock:
            if (ns, name) in api.jobs:
                return self._error(409, "AlreadyExists", f'{resource} "{name}" already exists')
            api.posted.append((query, copy.deepcopy(body)))
            obj = copy.deepcopy(body)
            obj["metadata"].update(namespace=ns, uid=str(uuid.uuid4()),
                                   creationTimestamp=_TIMESTAMP, resourceVersion="1")
            job = _Job(obj, time.monotonic(), copy.deepcopy(api.scenario), plural=plural)
            if plural == "trainjobs":
                job.nodes = NodeProcesses(obj, ns, api.secrets, api.workdir / job.uid / "tmp")
            api.jobs[(ns, name)] = job
        return self._send_json(201, obj)

    def _trainjob_problems(self, body: dict[str, Any]) -> list[str]:
        """Trainer's webhook: the runtime must exist; patches must fit it."""
        api = self.server_api
        ref = body.get("spec", {}).get("runtimeRef", {})
        key = (ref.get("kind", "ClusterTrainingRuntime"), ref.get("name", ""))
        runtime = api.runtimes.get(key)
        if runtime is None:
            return [f'{key[0]}.trainer.kubeflow.org "{key[1]}" not found']
        validator = api.trainjob_validator
        if validator is None:
            return []
        return TrainJobValidator(validator.openapi_schema, runtime=runtime).admission(body)

    # -- pods and logs ----------------------------------------------------------------------

    def _matching(self, ns: str, selector: str) -> list[tuple[dict[str, Any], LogSource | None]]:
        wanted = dict(part.replace("==", "=").split("=", 1)
                      for part in selector.split(",") if part)
        return [(pod, source) for pod, source in self.server_api.pods(ns)
                if all(pod["metadata"]["labels"].get(k) == v for k, v in wanted.items())]

    def _pods(self, ns: str, query: dict[str, str]) -> None:
        with self.server_api.lock:
            pods = [p for p, _ in self._matching(ns, query.get("labelSelector", ""))]
        self._send_json(200, {"apiVersion": "v1", "kind": "PodList", "metadata": {},
                              "items": pods})

    def _log(self, ns: str, pod_name: str, query: dict[str, str]) -> None:
        api = self.server_api
        with api.lock:
            found = [(p, src) for p, src in api.pods(ns) if p["metadata"]["name"] == pod_name]
        if not found:
            return self._error(404, "NotFound", f'pods "{pod_name}" not found')
        pod, source = found[0]
        status = pod["status"]["containerStatuses"][0]
        if "waiting" in status["state"]:
            return self._error(400, "BadRequest", f'container "{status["name"]}" in pod '
                               f'"{pod_name}" is waiting to start: '
                               f'{status["state"]["waiting"].get("reason")}')
        # The API server parses booleans like Go's ParseBool; the Python client sends "True".
        follow = query.get("follow", "").lower() in ("true", "1", "t")
        if not follow or source is None:  # PyTorchJob workers log nothing
            lines = source()[0] if source is not None else []
            data = "".join(line + "\n" for line in lines).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return None
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        uid = pod["metadata"]["uid"]
        try:
            while not api.stopping.is_set():
                lines, done = source()
                for line in lines[sent:]:
                    data = (line + "\n").encode()
                    self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                    self.wfile.flush()
                sent = len(lines)
                if done or not any(p["metadata"]["uid"] == uid for p, _ in api.pods(ns)):
                    break
                time.sleep(0.005)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass  # the client went away (the launcher stopped following)
        self.close_connection = True
        return None
