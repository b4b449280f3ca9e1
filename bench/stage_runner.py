"""Run one pipeline stage the way the pipeline does (its own process) and measure it: wall
time, the stage's own phase timings (:mod:`rlsd.phases`: read, resolve, load, compute,
write) and its peak resident memory (``VmHWM`` of the stage process; under ``torchrun``, of
rank 0's worker: the ranks do the same work). ``wait4``'s ``ru_maxrss`` is not used: Linux
carries the parent's high-water mark across ``fork``/``exec``, so every stage would report
at least this (large) benchmark process's memory."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rlsd.phases import COMPUTE, PHASE_TIMES_ENV


@dataclass
class StageCost:
    stage: str
    wall_s: float
    peak_rss_mb: float
    phases_s: dict[str, float] = field(default_factory=dict)

    @property
    def compute_s(self) -> float:
        return self.phases_s.get(COMPUTE, 0.0)

    @property
    def overhead_s(self) -> float:
        """Everything but the stage's own compute: process start, imports, model load, I/O."""
        return max(0.0, self.wall_s - self.compute_s)

    def as_dict(self) -> dict:
        return {**asdict(self), "compute_s": self.compute_s, "overhead_s": self.overhead_s}


def run_stage(stage: str, argv: list[str], env: dict[str, str], log_dir: Path) -> StageCost:
    """Run ``argv`` to completion; raise with its log tail if it fails."""
    log_dir.mkdir(parents=True, exist_ok=True)
    phases_file = log_dir / f"{stage}.phases.json"
    phases_file.unlink(missing_ok=True)
    log = log_dir / f"{stage}.log"
    print(f"  {stage}: {shlex.join(argv[:4])} ...", flush=True)
    started = time.perf_counter()
    with log.open("w") as out:
        proc = subprocess.Popen(argv, env={**env, PHASE_TIMES_ENV: str(phases_file)},
                                stdout=out, stderr=subprocess.STDOUT)
        proc.wait()
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        tail = log.read_text()[-3000:]
        sys.exit(f"stage {stage} failed ({proc.returncode}); log {log}:\n{tail}")
    if not phases_file.is_file():
        sys.exit(f"stage {stage} wrote no phase timings to {phases_file} (is it instrumented "
                 f"with rlsd.phases?)")
    record = json.loads(phases_file.read_text())
    phases = {k: v["seconds"] for k, v in record["phases"].items()}
    cost = StageCost(stage, wall, record["peak_rss_bytes"] / 2**20, phases)
    print(f"  {stage}: {wall:.1f} s (compute {cost.compute_s:.1f} s), peak {cost.peak_rss_mb:.0f} "
          f"MiB", flush=True)
    return cost
