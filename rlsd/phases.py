"""Where a stage process spends its time: named phases (resolve, load, compute, write), each
with its wall time and the process's peak memory when it ended.

    with phase("load"):
        model = load_policy(...)

The stages print nothing extra; when ``RLSD_PHASE_TIMES`` names a file, the process writes its
phases there as JSON when it exits (only rank 0 of a distributed job). The benchmarks in
``bench/`` read these files to split a stage's wall time into orchestration (process start,
imports, model load, artifact I/O) and the stage's own compute.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PHASE_TIMES_ENV = "RLSD_PHASE_TIMES"
#: Kinds of phase: ``compute`` is the stage's own work; everything else is overhead.
COMPUTE = "compute"

_phases: dict[str, dict[str, float]] = {}
_registered = False


def peak_rss_bytes() -> int:
    """This process's peak resident memory since it started its program.

    Linux: ``VmHWM`` of /proc/self/status. Not ``getrusage``'s ``ru_maxrss``: that one keeps
    the high-water mark of the process before ``exec``, i.e. of the parent it was forked
    from, so a stage started by a large process would report the parent's memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(usage) * (1 if sys.platform == "darwin" else 1024)


def _write() -> None:
    target = os.environ.get(PHASE_TIMES_ENV)
    if not target or not _phases:
        return
    record = {"pid": os.getpid(), "argv": sys.argv[:3], "phases": _phases,
              "peak_rss_bytes": peak_rss_bytes()}
    try:
        Path(target).write_text(json.dumps(record, indent=1))
    except OSError as exc:  # a benchmark aid must never fail the stage
        print(f"rlsd.phases: cannot write {target}: {exc}", file=sys.stderr)


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time the block as phase ``name`` (repeated phases add up)."""
    global _registered
    if not _registered and os.environ.get(PHASE_TIMES_ENV) \
            and os.environ.get("RANK", "0") == "0":
        atexit.register(_write)
        _registered = True
    started = time.perf_counter()
    try:
        yield
    finally:
        entry = _phases.setdefault(name, {"seconds": 0.0, "peak_rss_bytes": 0})
        entry["seconds"] += time.perf_counter() - started
        entry["peak_rss_bytes"] = peak_rss_bytes()

