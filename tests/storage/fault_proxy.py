"""A fault-injecting TCP proxy for storage tests, written for them.

It sits between the code and the S3-protocol test server and forwards bytes both ways; each
new client connection takes the next fault from a queue (then passes through once the queue
is empty, unless a ``sticky`` fault is set):

* ``"reset"``: read the start of the request, then reset the connection (RST), before any
  byte reaches the server: a dropped request.
* ``"close"``: read the start of the request, then close cleanly without an answer.
* ``"stall:<s>"``: forward the request, hold the server's answer back for ``s`` seconds.
* ``"cut:<n>"``: forward the first ``n`` bytes of the request, then reset: an upload cut
  mid-way (the server sees a truncated body).

``faulted`` counts the connections that were sabotaged, so a test can check the fault
really happened.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import deque

_LINGER_RESET = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST


class FaultProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.faults: deque[str] = deque()
        self.sticky: str | None = None
        self.faulted = 0
        self.connections = 0
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def add(self, *faults: str) -> None:
        with self._lock:
            self.faults.extend(faults)

    def _next_fault(self) -> str | None:
        with self._lock:
            self.connections += 1
            fault = self.faults.popleft() if self.faults else self.sticky
            if fault:
                self.faulted += 1
            return fault

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._server.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    @staticmethod
    def _reset(sock: socket.socket) -> None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
            sock.close()

    def _handle(self, client: socket.socket) -> None:
        fault = self._next_fault()
        if fault in ("reset", "close"):
            with contextlib.suppress(OSError):
                client.recv(1024)
            if fault == "reset":
                self._reset(client)
            else:
                client.close()
            return
        try:
            upstream = socket.create_connection(self.target, timeout=30)
        except OSError:
            self._reset(client)
            return
        limit = int(fault.split(":", 1)[1]) if fault and fault.startswith("cut:") else None
        stall = float(fault.split(":", 1)[1]) if fault and fault.startswith("stall:") else 0.0
        up = threading.Thread(target=self._pipe, args=(client, upstream, limit), daemon=True)
        up.start()
        if stall:
            time.sleep(stall)
        self._pipe(upstream, client, None)
        up.join(timeout=5)

    def _pipe(self, src: socket.socket, dst: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if limit is not None and sent + len(data) > limit:
                    dst.sendall(data[: limit - sent])
                    self._reset(dst)
                    self._reset(src)
                    return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                with contextlib.suppress(OSError):
                    sock.close()
