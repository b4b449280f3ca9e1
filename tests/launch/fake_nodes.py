"""The nodes of a TrainJob as local processes: what the fake API server runs for a TrainJob.

Kubeflow Trainer's ``torch-distributed`` runtime turns a TrainJob into a JobSet whose
replicated job ``node`` has one pod per node; each pod runs ``spec.trainer``'s command with
``spec.trainer.env`` and the torch plugin's ``PET_NNODES``, ``PET_NPROC_PER_NODE``,
``PET_NODE_RANK``, ``PET_MASTER_ADDR`` and ``PET_MASTER_PORT``. :class:`NodeProcesses` does
the same with one process group per node on this machine, so a TrainJob built by
:mod:`rlsd.launch.trainjob` really trains:

- the environment is the body's, with ``secretKeyRef`` values resolved from the fake
  cluster's Secrets (a missing Secret or key leaves the node waiting in
  ``CreateContainerConfigError``, as the kubelet does); S3 credentials of the test process
  are removed first, so they reach the trainer only through the Secret reference;
- ``/tmp`` (the pod's scratch emptyDir) is a folder of its own per job;
- ``torchrun`` is this interpreter's ``torch.distributed.run`` (the image's torchrun);
- a node that fails fails the job and the other nodes are stopped (the stock runtime's JobSet
  has no restarts); Job-level pod retries are not emulated.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Removed from the inherited environment: only the Secret reference may supply them.
_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NodeProcesses:
    """Starts ``numNodes`` processes for a TrainJob body; see the module docs.

    ``secrets``: ``{(namespace, secret name): {key: value}}``. ``workdir``: the job's ``/tmp``.
    """

    def __init__(self, body: Mapping[str, Any], namespace: str,
                 secrets: Mapping[tuple[str, str], Mapping[str, str]], workdir: Path) -> None:
        trainer = body["spec"].get("trainer") or {}
        self.nodes = int(trainer.get("numNodes") or 1)
        self.config_error = ""
        env = {k: v for k, v in os.environ.items() if k not in _CREDENTIALS}
        workdir.mkdir(parents=True, exist_ok=True)
        for item in trainer.get("env") or []:
            value = item.get("value")
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref is not None:
                secret = secrets.get((namespace, ref["name"]))
                if secret is None or ref["key"] not in secret:
                    self.config_error = (f'secret "{ref["name"]}" not found' if secret is None
                                         else f'couldn\'t find key {ref["key"]} in Secret '
                                              f'{namespace}/{ref["name"]}')
                    break
                value = secret[ref["key"]]
            if isinstance(value, str) and (value == "/tmp" or value.startswith("/tmp/")):
                value = str(workdir) + value[len("/tmp"):]
            env[item["name"]] = value or ""
        env.update(PET_NNODES=str(self.nodes),
                   PET_NPROC_PER_NODE=str(trainer.get("numProcPerNode") or 1),
                   PET_MASTER_ADDR="127.0.0.1", PET_MASTER_PORT=str(_free_port()))
        command = list(trainer.get("command") or []) + list(trainer.get("args") or [])
        if command and command[0] == "torchrun":
            command = [sys.executable, "-m", "torch.distributed.run", *command[1:]]
        self.lines: list[list[str]] = [[] for _ in range(self.nodes)]
        self.procs: list[subprocess.Popen[str]] = []
        self.stopped: set[int] = set()
        self._lock = threading.Lock()
        if self.config_error:
            return
        for rank in range(self.nodes):
            proc = subprocess.Popen(command, env={**env, "PET_NODE_RANK": str(rank)},
                                    cwd=REPO_ROOT, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1,
                                    start_new_session=True)
            self.procs.append(proc)
            threading.Thread(target=self._read, args=(rank, proc), daemon=True).start()

    def _read(self, rank: int, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            self.lines[rank].append(line.rstrip("\n"))

    def exit_code(self, rank: int) -> int | None:
        """The node's exit code as a container reports it (128 + signal when killed)."""
        if not self.procs:
            return None
        code = self.procs[rank].poll()
        if code is not None and code < 0:
            return 128 - code
        return code

    def outcome(self) -> str:
        """``Pending`` (container config error), ``Running``, ``Complete`` or ``Failed``; a
        failed node stops the others, as the JobSet's failure policy does."""
        if self.config_error:
            return "Pending"
        codes = [self.exit_code(rank) for rank in range(self.nodes)]
        if any(code not in (None, 0) for code in codes):
            self.stop()
            return "Failed"
        return "Complete" if all(code == 0 for code in codes) else "Running"

    def failed_node(self) -> int | None:
        """The first node that failed on its own (not one stopped after it)."""
        for rank in range(self.nodes):
            if rank not in self.stopped and self.exit_code(rank) not in (None, 0):
                return rank
        return None

    def kill(self, rank: int, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to node ``rank``'s process group (a node lost from outside)."""
        os.killpg(self.procs[rank].pid, sig)

    def stop(self) -> None:
        """Stop every node still running (SIGTERM, then SIGKILL after 5 s)."""
        with self._lock:
            running = [r for r, p in enumerate(self.procs) if p.poll() is None]
            self.stopped.update(running)
            for rank in running:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.procs[rank].pid, signal.SIGTERM)
            for rank in running:
                try:
                    self.procs[rank].wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(self.procs[rank].pid, signal.SIGKILL)
                    self.procs[rank].wait()

    def alive(self) -> list[int]:
        """Ranks whose process is still running."""
        return [r for r, p in enumerate(self.procs) if p.poll() is None]
