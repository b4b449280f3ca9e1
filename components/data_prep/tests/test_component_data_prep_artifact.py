"""The data prep component's `data` input: a Dataset artifact from an upstream KFP step (issue
14), in a small kfp.local pipeline, as a platform team's own pipeline would wire it."""

# No `from __future__ import annotations`: KFP reads the upstream component's real types.
import pytest
from kfp import dsl
from kfp.dsl import Dataset, Output

from components._shared.image import COMPONENT_IMAGE
from components.data_prep.component import component as data_prep
from rlsd.data import read_prompts

#: Raw GSM8K rows: the answer is the text after '####'.
ROWS = [{"question": f"Tom has {i} apples and buys {i + 1} more. How many now?",
         "answer": f"{i} + {i + 1} = <<{i}+{i + 1}={2 * i + 1}>>{2 * i + 1}\n#### {2 * i + 1}"}
        for i in range(1, 9)]
GSM8K_MAPPING = {"prompt_field": "question", "answer_field": "answer", "answer_after": "####"}


@dsl.component(base_image=COMPONENT_IMAGE, install_kfp_package=False)
def export_rows(rows: Output[Dataset], records: list, fmt: str = "jsonl", suffix: str = "",
                folder: bool = False):
    """A team's own upstream step: writes its records as one file (no suffix unless given)."""
    import json
    import os

    import pyarrow as pa
    import pyarrow.parquet as pq

    path = rows.path + suffix
    if folder:
        os.makedirs(rows.path, exist_ok=True)
        path = os.path.join(rows.path, "part-0.jsonl")
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(records), path)
    else:
        with open(path, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in records)
    if suffix:
        rows.uri += suffix


def _pipeline(fmt: str = "jsonl", suffix: str = "", folder: bool = False, **data_args):
    @dsl.pipeline(name="team-data")
    def team_data() -> Dataset:
        upstream = export_rows(records=ROWS, fmt=fmt, suffix=suffix, folder=folder)
        prep = data_prep(data=upstream.outputs["rows"], n_eval=2, seed=1, **data_args)
        return prep.outputs["train"]

    return team_data


@pytest.mark.parametrize(("fmt", "suffix"), [("jsonl", ""), ("parquet", ""),
                                             ("jsonl", ".jsonl")])
def test_an_upstream_dataset_artifact_is_the_source(kfp_local, capsys, fmt, suffix):
    train = _pipeline(fmt, suffix, settings=GSM8K_MAPPING)().output
    table = read_prompts(train.path)
    assert table.num_rows == 6  # 8 rows, 2 held out, none rejected
    answers = {r["answer"] for r in table.to_pylist()}
    assert answers <= {str(2 * i + 1) for i in range(1, 9)}
    assert all(r["prompt"].startswith("Tom has ") for r in table.to_pylist())
    assert train.metadata["source"].startswith("artifact:")
    assert "8 rows -> 6 train, 2 eval, 0 rejected" in capsys.readouterr().out


def test_the_artifact_and_a_source_string_together_are_refused(kfp_local, capsys):
    with pytest.raises(RuntimeError):
        _pipeline(source="gsm8k", settings=GSM8K_MAPPING)()
    assert "data_prep: give the data once: the data artifact (" in capsys.readouterr().out


def test_a_folder_artifact_is_refused(kfp_local, capsys):
    with pytest.raises(RuntimeError):
        _pipeline(folder=True, settings=GSM8K_MAPPING)()
    assert "is a folder; data prep reads one .jsonl or .parquet file" in capsys.readouterr().out

