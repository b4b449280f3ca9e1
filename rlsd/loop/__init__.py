"""The fused RLSD loop (design.md, "Two ways to run the rounds"): many rounds in one resident
training job. ``python -m rlsd.loop`` under torchrun; :func:`rlsd.loop.run.run_loop` from
Python, with :class:`rlsd.loop.config.LoopSettings`. The folder layout it writes is in
:mod:`rlsd.loop.layout` (importable without torch). Nothing is imported here, so that the
layout stays light.
"""
