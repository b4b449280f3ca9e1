"""Running a training job to completion through the Kubernetes API (``CustomObjectsApi``).

:class:`ClusterJobLauncher` runs either kind of job (:class:`rlsd.launch.job_kind.JobKind`):
:class:`PyTorchJobLauncher` a Training Operator PyTorchJob, :class:`TrainJobLauncher` a
Kubeflow Trainer v2 TrainJob. :meth:`ClusterJobLauncher.run` creates the job, relays the lead
pod's log (master / node 0) to stdout while polling ``status.conditions``, and always cleans
up: the job is deleted when it succeeds, when it times out (a running job would hold its
GPUs), and when it fails unless ``keep_on_failure`` (its finished pods then stay for
``kubectl logs``). A failure raises one :class:`~rlsd.launch.errors.ClusterJobFailed`
carrying the Failed condition's reason and message, the lead container's fate (``OOMKilled,
exit code 137``), every other pod that failed (a killed node names itself) and the last log
lines.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from rlsd.launch.crd_schema import CRDValidator
from rlsd.launch.errors import (
    ClusterJobFailed,
    ClusterJobRejected,
    LaunchTimeout,
    TrainingJobSpecError,
)
from rlsd.launch.job_kind import JobKind
from rlsd.launch.job_status import FAILED, JobState, pod_problem
from rlsd.launch.output import LineRelay
from rlsd.launch.pod_logs import LeadLogFollower, find_lead_pod, list_job_pods
from rlsd.launch.pytorchjob import PYTORCHJOB
from rlsd.launch.trainjob import TRAINJOB

_TRANSIENT_STATUS = (429, 500, 502, 503, 504)


@dataclass
class JobOutcome:
    """A finished, successful job."""

    name: str
    namespace: str
    state: JobState
    duration_s: float
    log_tail: list[str] = field(default_factory=list)


def _api_message(exc: ApiException) -> tuple[str, str]:
    """(reason, message) of an API error, from its Status body when there is one."""
    try:
        status = json.loads(exc.body or "")
        return str(status.get("reason") or exc.reason), str(status.get("message") or exc.body)
    except (ValueError, TypeError, AttributeError):
        return str(exc.reason), str(exc.body or "")


def _hint(status: int, namespace: str, kind: JobKind) -> str:
    if status == 403:
        return ("hint: the service account needs the Role in manifests/ (create/get/list/"
                f"watch/delete {kind.plural}, get {kind.plural}/status, pods, pods/log) in "
                f"namespace {namespace}")
    if status == 404:
        return f"hint: is {kind.operator} installed, and does namespace {namespace} exist?"
    return ""


class ClusterJobLauncher:
    """Create, watch, relay and delete training jobs of one :class:`JobKind`.

    ``api_client``: a configured ``kubernetes.client.ApiClient`` (see
    :func:`rlsd.launch.kube_client.load_api_client`). ``validator``: when given, bodies are
    checked against the CRD schema before they are sent. ``sleep`` is injectable so tests
    need not wait real poll intervals.
    """

    kind: JobKind = PYTORCHJOB

    def __init__(self, api_client: client.ApiClient, *, poll_interval_s: float = 10.0,
                 timeout_s: float | None = None, keep_on_failure: bool = False,
                 stream_logs: bool = True, replace_existing: bool = True,
                 validator: CRDValidator | None = None, sink: TextIO | None = None,
                 log_retry_interval_s: float = 2.0, delete_wait_s: float = 120.0,
                 sleep: Callable[[float], None] = time.sleep,
                 kind: JobKind | None = None) -> None:
        if kind is not None:
            self.kind = kind
        if poll_interval_s <= 0:
            raise TrainingJobSpecError(f"poll_interval_s must be > 0, got {poll_interval_s}")
        if timeout_s is not None and timeout_s <= 0:
            raise TrainingJobSpecError(f"timeout_s must be > 0 or None, got {timeout_s}")
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.poll_interval_s, self.timeout_s = poll_interval_s, timeout_s
        self.keep_on_failure, self.stream_logs = keep_on_failure, stream_logs
        self.replace_existing, self.validator, self.sink = replace_existing, validator, sink
        self.log_retry_interval_s, self.delete_wait_s = log_retry_interval_s, delete_wait_s
        self._sleep = sleep

    # -- single API calls -------------------------------------------------------------------

    def create(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """POST the job (strict field validation: an unknown field is an error, not dropped).

        A job of the same name left by an earlier attempt (a KFP retry) is deleted first when
        ``replace_existing``; otherwise that is a :class:`ClusterJobRejected` (409).
        """
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        if self.validator is not None:
            self.validator.check(body)
        try:
            return self._post(body, namespace)
        except ApiException as exc:
            if exc.status != 409 or not self.replace_existing:
                raise self._rejected("create", name, namespace, exc) from exc
        self.delete(name, namespace)
        self.wait_deleted(name, namespace)
        try:
            return self._post(body, namespace)
        except ApiException as exc:
            raise self._rejected("create", name, namespace, exc) from exc

    def _post(self, body: Mapping[str, Any], namespace: str) -> dict[str, Any]:
        k = self.kind
        return self.custom.create_namespaced_custom_object(
            k.group, k.version, namespace, k.plural, body, field_validation="Strict")

    def get_status(self, name: str, namespace: str) -> dict[str, Any]:
        """The job object from its ``status`` subresource."""
        k = self.kind
        return self.custom.get_namespaced_custom_object_status(k.group, k.version, namespace,
                                                               k.plural, name)

    def delete(self, name: str, namespace: str) -> bool:
        """Delete the job and (foreground) its pods; False when it was already gone."""
        try:
            k = self.kind
            self.custom.delete_namespaced_custom_object(
                k.group, k.version, namespace, k.plural, name,
                body=client.V1DeleteOptions(propagation_policy="Foreground"))
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise self._rejected("delete", name, namespace, exc) from exc
        return True

    def wait_deleted(self, name: str, namespace: str) -> None:
        """Block until the job no longer exists (its pods' names are then free again)."""
        deadline = time.monotonic() + self.delete_wait_s
        while time.monotonic() < deadline:
            try:
                self.custom.get_namespaced_custom_object(self.kind.group, self.kind.version,
                                                         namespace, self.kind.plural, name)
            except ApiException as exc:
                if exc.status == 404:
                    return
                raise self._rejected("get", name, namespace, exc) from exc
            self._sleep(min(self.poll_interval_s, 1.0))
        raise LaunchTimeout(f"{self.kind.kind} {namespace}/{name} still exists {self.delete_wait_s:.0f}"
                            " s after it was deleted (finalizers?)")

    def _rejected(self, action: str, name: str, namespace: str,
                  exc: ApiException) -> ClusterJobRejected:
        reason, message = _api_message(exc)
        return self.kind.rejected(action, name, int(exc.status or 0), reason, message,
                                  _hint(int(exc.status or 0), namespace, self.kind))

    # -- waiting ----------------------------------------------------------------------------

    def wait(self, name: str, namespace: str, timeout_s: float | None = None,
             started: float | None = None) -> JobState:
        """Poll until the job is Succeeded or Failed; returns that state.

        Raises :class:`LaunchTimeout` after ``timeout_s`` (from ``started``), and
        :class:`ClusterJobFailed` when the job disappears. Up to 5 transient API errors in a
        row (5xx, 429, dropped connections) are retried; a long training outlives brief API
        server hiccups.
        """
        start = time.monotonic() if started is None else started
        timeout_s = self.timeout_s if timeout_s is None else timeout_s
        errors = 0
        state = JobState("Pending")
        while True:
            try:
                state = self.kind.state(self.get_status(name, namespace))
                errors = 0
            except ApiException as exc:
                if exc.status == 404:
                    raise self.kind.failed(name, namespace, "NotFound",
                                           "the job was deleted while it ran") from exc
                if exc.status not in _TRANSIENT_STATUS or errors >= 5:
                    raise self._rejected("read", name, namespace, exc) from exc
                errors += 1
            except (Urllib3Error, OSError):
                if errors >= 5:
                    raise
                errors += 1
            if state.terminal:
                return state
            elapsed = time.monotonic() - start
            if timeout_s is not None and elapsed >= timeout_s:
                raise LaunchTimeout(f"{self.kind.kind} {namespace}/{name} did not finish within "
                                    f"{timeout_s:g} s (last state: {state.phase}"
                                    f"{': ' + state.reason if state.reason else ''})")
            wait = self.poll_interval_s
            if timeout_s is not None:
                wait = min(wait, max(timeout_s - elapsed, 0.0))
            self._sleep(wait)

    def lead_problem(self, name: str, namespace: str) -> str:
        """What went wrong with the lead pod (``""`` if nothing or unreadable)."""
        try:
            pod = find_lead_pod(self.core, name, namespace, self.kind)
        except (ApiException, Urllib3Error, OSError):
            return ""
        return pod_problem(pod, self.kind.container) if pod else ""

    def other_problems(self, name: str, namespace: str) -> list[str]:
        """One line per other pod of the job that went wrong: ``node 1 (pod <name>): ...``."""
        try:
            pods = list_job_pods(self.core, name, namespace, self.kind)
            lead = find_lead_pod(self.core, name, namespace, self.kind)
        except (ApiException, Urllib3Error, OSError):
            return []
        lead_name = (lead or {}).get("metadata", {}).get("name")
        lines = []
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            if pod["metadata"]["name"] == lead_name:
                continue
            problem = pod_problem(pod, self.kind.container)
            if problem:
                lines.append(f"{self.kind.pod_role(pod)} (pod {pod['metadata']['name']}): "
                             f"{problem}")
        return lines

    # -- the whole run ----------------------------------------------------------------------

    def run(self, body: Mapping[str, Any]) -> JobOutcome:
        """Create the job, relay its lead pod's log, wait for the end, clean up; see module docs."""
        name, namespace = body["metadata"]["name"], body["metadata"]["namespace"]
        relay = LineRelay(self.sink)
        started = time.monotonic()
        self.create(body)
        follower = LeadLogFollower(self.core, name, namespace, relay,
                                   retry_interval_s=self.log_retry_interval_s, kind=self.kind)
        if self.stream_logs:
            follower.start()
        try:
            state = self.wait(name, namespace, started=started)
        except LaunchTimeout as exc:
            problem = self.lead_problem(name, namespace)
            follower.stop()
            self.delete(name, namespace)
            text = str(exc)
            if problem:
                text += f"\n{self.kind.failed.lead}: {problem}"
            raise LaunchTimeout(text + "\nthe job was deleted", relay.tail) from None
        except ClusterJobFailed as exc:
            # Deleted from outside while it ran: the reason, with the lead pod's last lines.
            follower.stop()
            raise self.kind.failed(name, namespace, exc.reason, exc.message, exc.pod_problem,
                                   relay.tail) from None
        except BaseException:
            # Interrupted or the API failed: do not leave a job holding GPUs behind.
            follower.stop()
            self._delete_quietly(name, namespace)
            raise
        follower.drain(timeout_s=max(self.log_retry_interval_s * 2, 10.0))
        if state.phase == FAILED:
            problem = self.lead_problem(name, namespace)
            others = self.other_problems(name, namespace)
            kept = self.keep_on_failure
            if not kept:
                self.delete(name, namespace)
            raise self.kind.failed(name, namespace, state.reason, state.message, problem,
                                   relay.tail, kept=kept, other_pods=others)
        self.delete(name, namespace)
        return JobOutcome(name, namespace, state, time.monotonic() - started, relay.tail)

    def _delete_quietly(self, name: str, namespace: str) -> None:
        # The original error matters more. Backstops: a PyTorchJob's TTL; a TrainJob has none
        # (only activeDeadlineSeconds when set), so this delete is what frees its GPUs.
        with contextlib.suppress(ClusterJobRejected, ApiException, Urllib3Error, OSError):
            self.delete(name, namespace)


class PyTorchJobLauncher(ClusterJobLauncher):
    """Runs Kubeflow Training Operator PyTorchJobs (``kubeflow.org/v1``)."""

    kind = PYTORCHJOB


class TrainJobLauncher(ClusterJobLauncher):
    """Runs Kubeflow Trainer v2 TrainJobs (``trainer.kubeflow.org/v1alpha1``)."""

    kind = TRAINJOB
