"""The fused RLSD loop (design.md, "Two ways to run the rounds"): many rounds in one resident
training job. ``python -m rlsd.loop`` under torchrun; :func:`run_loop` from Python.
"""

from rlsd.loop.config import LoopConfig, LoopSettings
from rlsd.loop.run import LoopError, run_loop

__all__ = ["LoopConfig", "LoopError", "LoopSettings", "run_loop"]
