"""The data prep component under kfp.local on the synthetic task."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.data_prep.component import component as data_prep
from rlsd.data import PROMPT_SCHEMA, read_prompts


def test_splits_synthetic_data_into_train_and_eval_artifacts(kfp_local):
    task = data_prep(synthetic_n=20, seed=3, settings={"n_eval": 5})
    train = read_prompts(task.outputs["train"].path)
    held_out = read_prompts(task.outputs["eval_prompts"].path)
    assert (train.num_rows, held_out.num_rows) == (15, 5)
    assert train.schema.equals(PROMPT_SCHEMA)
    assert not set(train["id"].to_pylist()) & set(held_out["id"].to_pylist())
    assert set(train["verifier"].to_pylist()) == {"numeric"}
    summary = task.outputs["summary"].metadata
    assert (summary["rows_read"], summary["train_rows"], summary["eval_rows"],
            summary["rows_rejected"]) == (20, 15, 5, 0)
    assert Path(task.outputs["rejects"].path).read_text() == ""
    assert task.outputs["train"].metadata["rows"] == 15


def test_bad_setting_fails_the_task_naming_the_setting(kfp_local, capsys):
    with pytest.raises(RuntimeError):
        data_prep(synthetic_difficulty=9)
    assert "synthetic_difficulty' must be in 1..6, got 9" in capsys.readouterr().out
