"""The RLSD pipeline (design.md): the DAG, compile, local run, submit.

- :mod:`pipeline.pipeline`: :func:`build_pipeline` (the DAG for given compile options: staged,
  a task per stage per round, or fused, chained resident training jobs);
- :mod:`pipeline.options`: :class:`CompileOptions` (what the YAML fixes);
- ``python -m pipeline.compile``: write the pipeline YAML (or every ``component.yaml``);
- ``python -m pipeline.run_local``: run the whole pipeline with kfp.local on the default model;
- ``python -m pipeline.submit``: upload a new version and start a run or a recurring run.
"""
