"""Byte progress for folder transfers: a tqdm bar plus an optional caller callback.

The bar shows only on an interactive terminal (stderr is a TTY) and never when
``RLSD_NO_PROGRESS`` is set to a non-empty value other than ``0``; an explicit
``progress=True/False`` argument wins over both. (tqdm also honours ``TQDM_DISABLE=1``.)
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from types import TracebackType

from tqdm import tqdm

NO_PROGRESS_ENV = "RLSD_NO_PROGRESS"

ProgressCallback = Callable[[int], None]


def progress_enabled(flag: bool | None = None) -> bool:
    """Whether to draw a progress bar: ``flag`` if given, else TTY and not disabled by env."""
    if flag is not None:
        return flag
    if os.environ.get(NO_PROGRESS_ENV, "") not in ("", "0"):
        return False
    return sys.stderr.isatty()


class TransferAborted(Exception):
    """Raised inside a transfer thread when ``on_progress`` raised; carries no message."""


class ByteProgress:
    """Thread-safe byte counter feeding a tqdm bar and ``on_progress(delta_bytes)``.

    Transfer threads call it concurrently. An exception raised by ``on_progress`` aborts the
    transfer, and :meth:`reraise` hands that same exception to the caller's thread.
    """

    def __init__(self, total: int, desc: str, enabled: bool | None = None,
                 on_progress: ProgressCallback | None = None) -> None:
        self._bar = tqdm(total=total, desc=desc, unit="B", unit_scale=True, unit_divisor=1024,
                         disable=not progress_enabled(enabled), leave=False)
        self._on_progress = on_progress
        self._lock = threading.Lock()
        self.done = 0
        self.error: BaseException | None = None

    def __call__(self, delta: int) -> None:
        # Retried requests report negative deltas; the bar follows them back.
        with self._lock:
            self.done += delta
            self._bar.update(delta)
        if self._on_progress is None:
            return
        try:
            self._on_progress(delta)
        except BaseException as exc:
            # s3transfer's tasks catch only Exception: a KeyboardInterrupt raised in a worker
            # thread would end the task silently and the transfer would report success.
            # Keep the original for the caller and fail the transfer with an Exception.
            with self._lock:
                self.error = self.error or exc
            raise TransferAborted() from exc

    def reraise(self) -> None:
        """Raise the exception ``on_progress`` raised, if it did."""
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> ByteProgress:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
        if exc is not None:
            self.reraise()  # the caller's own exception rather than TransferAborted
