"""Following the lead pod's log while the job runs (a background thread).

The lead pod (a PyTorchJob's master, a TrainJob's node 0: see :class:`JobKind`) appears
only after the operator reconciles the job, and its log can be read
only once the container has started (the API answers 400 "waiting to start" before). The
follower therefore polls for the pod, then streams ``GET .../pods/<pod>/log?follow=true``
(the API server sends it chunked, as the lines come) until the container exits. A container
restart (``restartPolicy: OnFailure``) shows up as a higher ``restartCount`` and is followed
again, so each run of the container is relayed once.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from rlsd.launch.job_kind import JobKind
from rlsd.launch.output import LineRelay
from rlsd.launch.pytorchjob import PYTORCHJOB


def find_lead_pod(core: client.CoreV1Api, name: str, namespace: str,
                  kind: JobKind = PYTORCHJOB) -> dict[str, Any] | None:
    """The job's lead pod (master / node 0) as a camelCase dict, or None while it does not
    exist; the newest one not being deleted when there are several (a restarted pod)."""
    for selector in kind.lead_selectors(name):
        pods = core.list_namespaced_pod(namespace, label_selector=selector)
        items = [p for p in pods.items if p.metadata.deletion_timestamp is None] or pods.items
        if items:
            newest = max(items, key=lambda p: str(p.metadata.creation_timestamp or ""))
            return core.api_client.sanitize_for_serialization(newest)
    return None


def list_job_pods(core: client.CoreV1Api, name: str, namespace: str,
                  kind: JobKind = PYTORCHJOB) -> list[dict[str, Any]]:
    """All of the job's pods as camelCase dicts (empty when there are none)."""
    pods = core.list_namespaced_pod(namespace, label_selector=kind.pods_selector(name))
    return [core.api_client.sanitize_for_serialization(p) for p in pods.items]


def _container_status(pod: Mapping[str, Any], container: str) -> Mapping[str, Any] | None:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        if cs.get("name") == container:
            return cs
    return None


def _started(pod: Mapping[str, Any], container: str) -> bool:
    cs = _container_status(pod, container)
    state = (cs or {}).get("state") or {}
    return bool(state.get("running") or state.get("terminated"))


class LeadLogFollower(threading.Thread):
    """Relays the lead pod's training container log into a :class:`LineRelay`.

    ``start()`` it after creating the job; when the job is terminal call :meth:`drain` (relay
    what is left, then stop), or :meth:`stop` to cut it off at once (timeout).
    """

    def __init__(self, core: client.CoreV1Api, name: str, namespace: str, relay: LineRelay,
                 retry_interval_s: float = 2.0, kind: JobKind = PYTORCHJOB) -> None:
        super().__init__(name=f"log-{name}", daemon=True)
        self._kind = kind
        self._core, self._job, self._namespace = core, name, namespace
        self._relay, self._retry = relay, retry_interval_s
        self._stopped = threading.Event()
        self._finishing = threading.Event()
        self._wake = threading.Event()
        self._response: Any = None
        self._lock = threading.Lock()
        self._followed: set[tuple[str, int]] = set()
        self.error: str = ""

    def run(self) -> None:
        while not self._stopped.is_set():
            final = self._finishing.is_set()
            streamed = self._pass()
            if final or self._stopped.is_set():
                break
            if not streamed:
                self._wake.wait(self._retry)
                self._wake.clear()
        self._relay.flush()

    def _pass(self) -> bool:
        """Find the lead pod and relay a container run not relayed yet; True if one was."""
        container = self._kind.container
        try:
            pod = find_lead_pod(self._core, self._job, self._namespace, self._kind)
            if pod is None or not _started(pod, container):
                return False
            run_id = (pod["metadata"].get("uid", ""),
                      int((_container_status(pod, container) or {}).get("restartCount", 0)))
            if run_id in self._followed:
                return False
            self._stream(pod["metadata"]["name"])
            self._followed.add(run_id)
            return True
        except ApiException as exc:
            if exc.status not in (400, 404):  # 400: not started yet, 404: gone
                self.error = f"reading the lead pod's log failed: HTTP {exc.status} {exc.reason}"
        except (Urllib3Error, OSError, ValueError) as exc:
            if not self._stopped.is_set():
                self.error = f"reading the lead pod's log failed: {exc}"
        return False

    def _stream(self, pod_name: str) -> None:
        response = self._core.read_namespaced_pod_log(
            pod_name, self._namespace, container=self._kind.container, follow=True,
            _preload_content=False)
        with self._lock:
            self._response = response
        try:
            for chunk in _chunks(response):
                self._relay.feed(chunk)
            self._relay.flush()
        finally:
            with self._lock:
                self._response = None
            response.release_conn()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop at once: close a stream in progress and wait for the thread."""
        self._stopped.set()
        self._wake.set()
        with self._lock:
            response = self._response
        if response is not None:
            # shutdown() wakes a read blocked in another thread (urllib3 >= 2.3); close() alone
            # may not.
            shutdown = getattr(response, "shutdown", None)
            if callable(shutdown):
                shutdown()
            response.close()
        if self.is_alive():
            self.join(timeout_s)

    def drain(self, timeout_s: float) -> None:
        """The job is over: relay what is left (one more look for the pod), then stop."""
        self._finishing.set()
        self._wake.set()
        if self.is_alive():
            self.join(timeout_s)
        self.stop(1.0)


def _chunks(response: Any) -> Iterator[bytes]:
    """The body as it arrives: per HTTP chunk when chunked, else whatever is available."""
    if getattr(response, "chunked", False):
        yield from response.stream(amt=None, decode_content=True)
        return
    read1 = getattr(response, "read1", None)
    while True:
        data = read1(65536) if callable(read1) else response.read(65536)
        if not data:
            return
        yield data
