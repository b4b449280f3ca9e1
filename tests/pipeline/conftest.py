"""Compile the pipeline and read its IR (the compiled YAML) back for the pipeline tests.

``compiled(options)`` compiles :func:`pipeline.pipeline.build_pipeline` to a temporary YAML
and returns an :class:`IR`: the pipeline spec and the Kubernetes platform spec, with helpers
that find a task by its display name (``"round 1: rollout"``) and follow an input artifact to
the task that produced it, through ``ParallelFor`` sub-DAGs and ``dsl.Collected`` outputs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kfp import compiler

from pipeline.options import CompileOptions
from pipeline.pipeline import build_pipeline

ROOT = "root"


class IR:
    """A compiled pipeline: ``spec`` (PipelineSpec) and ``platform`` (kubernetes executors)."""

    def __init__(self, text: str) -> None:
        docs = list(yaml.safe_load_all(text))
        self.text = text
        self.spec: dict[str, Any] = docs[0]
        self.platform: dict[str, Any] = docs[1] if len(docs) > 1 else {}

    def dag(self, component: str) -> dict[str, Any]:
        if component == ROOT:
            return self.spec["root"]["dag"]
        return self.spec["components"][component]["dag"]

    def all_tasks(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """``(dag component, task id, task)`` of every task in every DAG."""
        yield from ((ROOT, name, t) for name, t in self.dag(ROOT)["tasks"].items())
        for comp, body in self.spec["components"].items():
            for name, t in body.get("dag", {}).get("tasks", {}).items():
                yield comp, name, t

    def display(self, task: dict[str, Any]) -> str:
        return task["taskInfo"]["name"]

    def find(self, display: str) -> tuple[str, str, dict[str, Any]]:
        found = [(c, n, t) for c, n, t in self.all_tasks() if self.display(t) == display]
        assert len(found) == 1, f"{len(found)} tasks named {display!r}"
        return found[0]

    def displays(self) -> list[str]:
        return sorted(self.display(t) for _, _, t in self.all_tasks())

    def executor_tasks(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """``(display name, task)`` of every task that runs a container (not a loop)."""
        for _, _, task in self.all_tasks():
            ref = task["componentRef"]["name"]
            if "executorLabel" in self.spec["components"][ref]:
                yield self.display(task), task

    def component_kind(self, task: dict[str, Any]) -> str:
        """``comp-rollout-2`` -> ``rollout``; ``comp-base-model`` -> ``base_model``."""
        name = re.sub(r"-\d+$", "", task["componentRef"]["name"].removeprefix("comp-"))
        return name.replace("-", "_")

    def executor_of(self, display: str) -> dict[str, Any]:
        """The kubernetes platform settings of the task named ``display``."""
        _, _, task = self.find(display)
        label = self.spec["components"][task["componentRef"]["name"]]["executorLabel"]
        return self.platform["platforms"]["kubernetes"]["deploymentSpec"]["executors"][label]

    def _parent(self, component: str) -> tuple[str, str, dict[str, Any]]:
        found = [(c, n, t) for c, n, t in self.all_tasks()
                 if t["componentRef"]["name"] == component]
        assert len(found) == 1, f"{component} is used by {len(found)} tasks"
        return found[0]

    def source(self, display: str, input_name: str) -> tuple[str, str]:
        """``(display name of the producing task, output key)`` of an input artifact."""
        dag, _, task = self.find(display)
        return self._resolve(dag, task["inputs"]["artifacts"][input_name])

    def _resolve(self, dag: str, ref: dict[str, Any]) -> tuple[str, str]:
        if "componentInputArtifact" in ref:  # handed in by the loop task: look outside
            parent_dag, _, parent = self._parent(dag)
            return self._resolve(parent_dag,
                                 parent["inputs"]["artifacts"][ref["componentInputArtifact"]])
        out = ref["taskOutputArtifact"]
        producer = self.dag(dag)["tasks"][out["producerTask"]]
        inner = producer["componentRef"]["name"]
        if "dag" in self.spec["components"][inner]:  # a loop's collected output: look inside
            selector = self.dag(inner)["outputs"]["artifacts"][out["outputArtifactKey"]][
                "artifactSelectors"][0]
            return self._resolve(inner, {"taskOutputArtifact": {
                "producerTask": selector["producerSubtask"],
                "outputArtifactKey": selector["outputArtifactKey"]}})
        return self.display(producer), out["outputArtifactKey"]

    def is_collected(self, display: str, input_name: str) -> bool:
        """Whether the input comes from a ParallelFor's collected (list) output."""
        dag, _, task = self.find(display)
        out = task["inputs"]["artifacts"][input_name]["taskOutputArtifact"]
        producer = self.dag(dag)["tasks"][out["producerTask"]]
        return "parameterIterator" in producer


@pytest.fixture
def compiled(tmp_path: Path) -> Callable[..., IR]:
    """``compiled(**CompileOptions fields)`` -> :class:`IR` of the compiled YAML."""
    def run(**fields: Any) -> IR:
        target = tmp_path / f"pipeline-{len(list(tmp_path.iterdir()))}.yaml"
        compiler.Compiler().compile(build_pipeline(CompileOptions(**fields)), str(target))
        return IR(target.read_text())
    return run
