"""Job conditions -> JobState, pod status -> one-line problem, and the line relay."""

from __future__ import annotations

import io

import pytest

from rlsd.launch import job_state, pod_problem
from rlsd.launch.output import LineRelay


def _job(*conditions: tuple[str, str]) -> dict:
    return {"status": {"conditions": [
        {"type": t, "status": s, "reason": f"PyTorchJob{t}", "message": f"{t} {s}"}
        for t, s in conditions]}}


@pytest.mark.parametrize("conditions, phase", [
    ((), "Pending"),
    ((("Created", "True"),), "Created"),
    ((("Created", "True"), ("Running", "True")), "Running"),
    ((("Created", "True"), ("Running", "False"), ("Restarting", "True")), "Restarting"),
    ((("Created", "True"), ("Running", "False"), ("Succeeded", "True")), "Succeeded"),
    ((("Created", "True"), ("Running", "True"), ("Failed", "True")), "Failed"),
    ((("Created", "True"), ("Failed", "False"), ("Running", "True")), "Running"),
])
def test_job_state_from_conditions(conditions, phase: str) -> None:
    state = job_state(_job(*conditions))
    assert state.phase == phase
    assert state.terminal == (phase in ("Succeeded", "Failed"))
    if conditions:
        assert state.reason == f"PyTorchJob{phase}"


def test_failed_wins_and_keeps_its_message() -> None:
    state = job_state(_job(("Succeeded", "True"), ("Failed", "True")))
    assert (state.phase, state.message) == ("Failed", "Failed True")
    assert job_state({}).phase == "Pending" and job_state({"status": None}).phase == "Pending"


def _pod(state: dict | None = None, last: dict | None = None, **status) -> dict:
    cs = {"name": "pytorch", "state": state or {}, "lastState": last or {}}
    return {"status": {"containerStatuses": [cs], **status}}


@pytest.mark.parametrize("pod, expected", [
    (_pod({"terminated": {"reason": "OOMKilled", "exitCode": 137}}),
     "container terminated: OOMKilled (exit code 137)"),
    (_pod({"terminated": {"reason": "Error", "exitCode": 2, "message": "bad flag\n"}}),
     "container terminated: Error (exit code 2): bad flag"),
    (_pod({"terminated": {"reason": "Completed", "exitCode": 0}}), ""),
    (_pod({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}},
          {"terminated": {"reason": "OOMKilled", "exitCode": 137}}),
     "container previously terminated: OOMKilled (exit code 137); "
     "container waiting: CrashLoopBackOff: back-off 5m0s"),
    (_pod({"waiting": {"reason": "ContainerCreating"}}), ""),
    (_pod(phase="Failed", reason="Evicted", message="The node was low on resource: memory."),
     "pod Evicted: The node was low on resource: memory."),
    ({"status": {"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/4 nodes are available: 4 Insufficient nvidia.com/gpu."}]}},
     "pod unschedulable: 0/4 nodes are available: 4 Insufficient nvidia.com/gpu."),
])
def test_pod_problem(pod: dict, expected: str) -> None:
    assert pod_problem(pod) == expected


def test_relay_reassembles_lines_split_anywhere() -> None:
    sink = io.StringIO()
    relay = LineRelay(sink, tail_lines=2)
    data = "première ligne\r\nzweite Zeile\nlast without newline".encode()
    cut = data.index("è".encode()) + 1  # split inside the two-byte 'è'
    relay.feed_all([data[:cut], data[cut:cut + 9], data[cut + 9:]])
    assert sink.getvalue() == "première ligne\nzweite Zeile\nlast without newline\n"
    assert relay.tail == ["zweite Zeile", "last without newline"]
