"""Relaying training output line by line, keeping the last lines for error messages."""

from __future__ import annotations

import codecs
import sys
import threading
from collections import deque
from collections.abc import Iterable
from typing import TextIO

DEFAULT_TAIL_LINES = 40


class LineRelay:
    """Writes complete lines to ``sink`` (default: the current ``sys.stdout``) and keeps a tail.

    :meth:`feed` takes raw bytes in arbitrary chunks (a chunk may end mid-line or mid-UTF-8
    character); :meth:`flush` emits a last unterminated line. Thread-safe.
    """

    def __init__(self, sink: TextIO | None = None, tail_lines: int = DEFAULT_TAIL_LINES) -> None:
        self._sink = sink
        self._tail: deque[str] = deque(maxlen=tail_lines)
        self._lock = threading.Lock()
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""

    def emit(self, line: str) -> None:
        """Relay one line (without its newline)."""
        with self._lock:
            self._tail.append(line)
            sink = self._sink or sys.stdout
            sink.write(line + "\n")
            sink.flush()

    def feed(self, chunk: bytes) -> None:
        """Relay every line completed by ``chunk``."""
        text = self._partial + self._decoder.decode(chunk)
        *lines, self._partial = text.split("\n")
        for line in lines:
            self.emit(line.rstrip("\r"))

    def feed_all(self, chunks: Iterable[bytes]) -> None:
        for chunk in chunks:
            self.feed(chunk)
        self.flush()

    def flush(self) -> None:
        """Relay the pending unterminated line, if any."""
        rest = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        if rest:
            self.emit(rest.rstrip("\r"))

    @property
    def tail(self) -> list[str]:
        """The last lines relayed, oldest first."""
        with self._lock:
            return list(self._tail)
