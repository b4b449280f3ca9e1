"""A team's own data through the compiled pipeline (issue 14): raw GSM8K-style rows
(``question``, ``answer`` ending in ``#### N``) in a local jsonl file, mapped by the run's
``data_settings`` as ``python -m rlsd.data --prompt-field question --answer-field answer
--answer-after '####'`` maps them, with kfp.local.

The whole compiled staged pipeline runs; the model is a folder that does not exist, so the run
stops at its first model load (round 0's rollout), after check settings, base model and data
prep: everything up to data prep is real, and nothing loads or trains a model. kfp.local honours
the compiled retry policy (with its backoff), so these packages are compiled without retries,
but one, which shows that a failed task is run again.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import kfp
import pytest
from kfp import compiler, local

from pipeline.options import CompileOptions
from pipeline.pipeline import build_pipeline
from rlsd.data import read_prompts

GSM8K_MAPPING = {"prompt_field": "question", "answer_field": "answer", "answer_after": "####"}


def _gsm8k_rows(path: Path, n: int = 10) -> Path:
    with path.open("w") as f:
        for i in range(1, n + 1):
            f.write(json.dumps({
                "question": f"Natalia sold clips to {i} friends, 2 each. How many clips?",
                "answer": f"She sold {i} * 2 = <<{i}*2={2 * i}>>{2 * i} clips.\n#### {2 * i}",
            }) + "\n")
    return path


def _compile(path: Path, **options) -> Path:
    compiler.Compiler().compile(build_pipeline(CompileOptions(rounds=1, **options)), str(path))
    return path


@pytest.fixture
def package(tmp_path) -> Path:
    return _compile(tmp_path / "rlsd.yaml", retries=0)


@pytest.fixture
def run_local(tmp_path):
    warnings.filterwarnings("ignore", message=r".*have no effect in the current local runner")
    warnings.filterwarnings("ignore", message=r".*non-Python base image")
    root = tmp_path / "kfp"
    local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root))
    return root


def _outputs(root: Path, task: str, name: str) -> list[Path]:
    return sorted(root.glob(f"*/{task}/{name}"))


def test_gsm8k_rows_go_through_data_settings(package, run_local, tmp_path, capsys):
    data = _gsm8k_rows(tmp_path / "gsm8k-test.jsonl")
    pipeline = kfp.components.load_component_from_file(str(package))
    with pytest.raises(RuntimeError):  # stopped at round 0's rollout: no such model
        pipeline(model=str(tmp_path / "no-model-here"), data_source=str(data),
                 data_settings=GSM8K_MAPPING, eval_split_size=2, launcher="local")
    out = capsys.readouterr().out
    assert out.count("Executing task \x1b[96m'rollout'") == 1  # no retries compiled in
    assert "check settings: 35 parameters OK (data_settings ['answer_after', 'answer_field', " \
           "'prompt_field'])" in out
    assert "10 rows -> 8 train, 2 eval, 0 rejected (0.0%)" in out
    assert "model path does not exist" in out  # the rollout, after data prep
    (train,) = _outputs(run_local, "data-prep", "train")
    (held_out,) = _outputs(run_local, "data-prep", "eval_prompts")
    rows = read_prompts(str(train)).to_pylist() + read_prompts(str(held_out)).to_pylist()
    assert sorted(int(r["answer"]) for r in rows) == [2 * i for i in range(1, 11)]
    assert all(r["prompt"].startswith("Natalia sold clips") for r in rows)
    assert {r["verifier"] for r in rows} == {"math"}


def test_a_bad_data_setting_stops_the_run_before_data_prep(package, run_local, tmp_path,
                                                           capsys):
    data = _gsm8k_rows(tmp_path / "gsm8k-test.jsonl")
    pipeline = kfp.components.load_component_from_file(str(package))
    with pytest.raises(RuntimeError):
        pipeline(data_source=str(data), data_settings={**GSM8K_MAPPING, "answer_afer": "####"})
    out = capsys.readouterr().out
    assert "check settings: error: parameter data_settings: unknown setting(s) " \
           "['answer_afer'] (fields of DataConfig); valid: [" in out
    assert not _outputs(run_local, "data-prep", "train")
    assert not _outputs(run_local, "base-model", "policy")


def test_a_failed_task_is_retried_as_compiled(run_local, tmp_path, capsys):
    """kfp.local runs the compiled retry policy: the rollout that cannot find its model runs
    1 + retries times, each after the backoff; check settings, which only fails on a bad value,
    runs once."""
    package = _compile(tmp_path / "retried.yaml", retries=1, retry_backoff="1s")
    pipeline = kfp.components.load_component_from_file(str(package))
    with pytest.raises(RuntimeError):
        pipeline(model=str(tmp_path / "no-model-here"), launcher="local", synthetic_size=10)
    out = capsys.readouterr().out
    assert out.count("Executing task \x1b[96m'rollout'") == 2
    assert out.count("Executing task \x1b[96m'check-settings'") == 1
