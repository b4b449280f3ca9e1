"""The base model component: a reference pointer, no download."""

from __future__ import annotations

import pytest

from components._shared.model_pointer import KIND_REFERENCE, read_pointer
from components.base_model.component import component as base_model


def test_writes_a_reference_pointer(kfp_local):
    task = base_model(model=" HuggingFaceTB/SmolLM2-135M-Instruct ")
    pointer = read_pointer(task.outputs["policy"].path)
    assert (pointer.uri, pointer.kind, pointer.round, pointer.files) \
        == ("HuggingFaceTB/SmolLM2-135M-Instruct", KIND_REFERENCE, -1, ())
    assert task.outputs["policy"].metadata["uri"] == "HuggingFaceTB/SmolLM2-135M-Instruct"


def test_empty_reference_fails(kfp_local, capsys):
    with pytest.raises(RuntimeError):
        base_model(model="  ")
    assert "empty model reference" in capsys.readouterr().out
