"""Reading a job's state and its pods' trouble from API objects (plain dicts).

PyTorchJob (:func:`job_state`):

The Training Operator keeps ``status.conditions``: a list of ``{type, status, reason,
message}`` with types ``Created``, ``Running``, ``Restarting``, ``Succeeded``, ``Failed``
(and ``Suspended`` in newer releases). Earlier conditions stay in the list with
``status: "False"`` once superseded, so the state is: Failed or Succeeded when either is
``True`` (terminal), else the last condition that is ``True``, else ``Pending`` (the operator
has not reconciled the job yet).

TrainJob (Kubeflow Trainer v2, :func:`trainjob_state`): the controller sets only ``Complete``,
``Failed`` and ``Suspended`` conditions (the first two copied from the JobSet that runs the
nodes); while it runs, ``status.jobsStatus`` counts the child Jobs that are active. The phases
are mapped onto the PyTorchJob's so that one launcher waits on both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SUCCEEDED = "Succeeded"
FAILED = "Failed"
PENDING = "Pending"
RUNNING = "Running"


@dataclass(frozen=True)
class JobState:
    """The job's current phase, with the reason/message of the condition that set it."""

    phase: str
    reason: str = ""
    message: str = ""

    @property
    def terminal(self) -> bool:
        return self.phase in (SUCCEEDED, FAILED)


def job_state(job: Mapping[str, Any]) -> JobState:
    """The :class:`JobState` of a PyTorchJob object (as returned by the API)."""
    conditions = [c for c in (job.get("status") or {}).get("conditions") or []
                  if isinstance(c, Mapping)]
    active = [c for c in conditions if str(c.get("status", "")).lower() == "true"]
    for terminal in (FAILED, SUCCEEDED):
        for cond in active:
            if cond.get("type") == terminal:
                return JobState(terminal, cond.get("reason", "") or "", cond.get("message", "") or "")
    if active:
        last = active[-1]
        return JobState(str(last.get("type")), last.get("reason", "") or "",
                        last.get("message", "") or "")
    return JobState(PENDING)


def trainjob_state(job: Mapping[str, Any]) -> JobState:
    """The :class:`JobState` of a TrainJob object: ``Failed``/``Succeeded`` (from ``Complete``)
    when that condition is ``True``, ``Suspended``, ``Running`` while a child Job is active,
    ``Created`` once the controller reported child Jobs, else ``Pending``."""
    status = job.get("status") or {}
    conditions = [c for c in status.get("conditions") or [] if isinstance(c, Mapping)]
    active = {c.get("type"): c for c in conditions
              if str(c.get("status", "")).lower() == "true"}
    for kind, phase in (("Failed", FAILED), ("Complete", SUCCEEDED), ("Suspended", "Suspended")):
        if kind in active:
            cond = active[kind]
            return JobState(phase, cond.get("reason", "") or "", cond.get("message", "") or "")
    jobs = [j for j in status.get("jobsStatus") or [] if isinstance(j, Mapping)]
    if any(int(j.get("active") or 0) > 0 for j in jobs):
        return JobState(RUNNING)
    return JobState("Created") if jobs else JobState(PENDING)


def _describe_terminated(term: Mapping[str, Any], when: str) -> str:
    text = f"container {when}: {term.get('reason') or 'terminated'}"
    if term.get("exitCode") is not None:
        text += f" (exit code {term['exitCode']})"
    if term.get("message"):
        text += f": {str(term['message']).strip()}"
    return text


def pod_problem(pod: Mapping[str, Any], container: str = "pytorch") -> str:
    """One line on what went wrong with a pod (camelCase dict), or ``""`` when nothing did.

    Looks at the ``container``'s terminated state (``OOMKilled (exit code 137)``), then its
    previous run (after a restart), then a waiting reason (``ImagePullBackOff: ...``), then
    the pod's own reason (``Evicted: The node was low on resource: memory``).
    """
    status = pod.get("status") or {}
    found: list[str] = []
    for cs in status.get("containerStatuses") or []:
        if cs.get("name") != container:
            continue
        state, last = cs.get("state") or {}, cs.get("lastState") or {}
        term = state.get("terminated")
        if term and (term.get("exitCode") not in (0, None) or term.get("reason") not in
                     (None, "Completed")):
            found.append(_describe_terminated(term, "terminated"))
        elif last.get("terminated"):
            found.append(_describe_terminated(last["terminated"], "previously terminated"))
        waiting = state.get("waiting")
        if waiting and waiting.get("reason") not in (None, "ContainerCreating"):
            text = f"container waiting: {waiting['reason']}"
            found.append(text + (f": {waiting['message']}" if waiting.get("message") else ""))
    if status.get("reason"):
        text = f"pod {status['reason']}"
        found.append(text + (f": {status['message']}" if status.get("message") else ""))
    if not found and status.get("phase") == "Pending":
        for cond in status.get("conditions") or []:
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                found.append(f"pod unschedulable: {cond.get('message') or cond.get('reason')}")
    return "; ".join(found)
