"""The report component under kfp.local: a checkpoint pointer, one round's tables and two
evaluation folders in, one HTML page out."""

# No `from __future__ import annotations`: KFP reads the test pipelines' real types.
import json
import re
import shutil
from pathlib import Path

import pytest
from kfp import dsl
from kfp.dsl import HTML, Dataset, Model

from components._shared.model_pointer import (
    checkpoint_pointer,
    reference_pointer,
    write_pointer,
)
from components.report.component import component as report
from rlsd.evaluate.evaluation import write_evaluation
from rlsd.models import ensure_default_tokenizer
from rlsd.storage import write_manifest
from rlsd.train.metrics import HISTORY_FILE


def _checkpoint_pointer(tmp_path, rounds: int = 2):
    ckpt = tmp_path / "updated_policy-checkpoint"
    ckpt.mkdir()
    for f in ensure_default_tokenizer().iterdir():
        if f.is_file():
            shutil.copy(f, ckpt / f.name)
    (ckpt / HISTORY_FILE).write_text("".join(
        json.dumps({"step": s + 1, "round": s, "reward_mean": 0.1 * s, "accuracy_mean": 0.1 * s,
                    "rlsd_weight_mean": 1.0, "loss": 0.0, "learning_rate": 1e-6}) + "\n"
        for s in range(rounds)))
    manifest = write_manifest(str(ckpt), {"kind": "policy", "round": rounds - 1, "step": rounds})
    pointer_file = tmp_path / "updated_policy"
    write_pointer(checkpoint_pointer(str(ckpt), manifest), pointer_file)
    return pointer_file


def _evaluation(tmp_path, name, correct):
    write_evaluation(tmp_path / name, name, [{
        "prompt_id": "p0", "sample_index": 0, "answer": "5", "gold": "5", "correct": correct,
        "format": 1.0, "response_length": 4, "truncated": False, "benchmark": None,
        "subject": None, "difficulty": None, "response_text": "5"}], [1])
    return tmp_path / name


def _report_pipeline(policy_file, shard, before, after, **settings):
    @dsl.pipeline
    def report_only() -> HTML:
        def imported(path, cls=Dataset):
            return dsl.importer(artifact_uri=str(path), artifact_class=cls).output

        task = report(final_policy=imported(policy_file, Model),
                      rollouts=imported(shard["rollouts"]), rewards=imported(shard["rewards"]),
                      scores=imported(shard["scores"]), base_evaluation=imported(before),
                      final_evaluation=imported(after), responses=2, title="demo run",
                      **settings)
        return task.outputs["training_report"]

    return report_only


def test_report_component_writes_the_page(kfp_local, tmp_path, round_shard):
    shard = round_shard("a", {"p0": [1.0, 0.0]})
    out = _report_pipeline(_checkpoint_pointer(tmp_path), shard,
                           _evaluation(tmp_path, "base", 0.0),
                           _evaluation(tmp_path, "final", 1.0),
                           profile="smollm2-arithmetic", algorithm="rlsd", learning_rate=1e-6,
                           samples_per_prompt=8, top_p=0.9, prompt_template="{question} Sum?",
                           settings={"rounds": 2, "mode": "fused"})().output
    html = Path(out.path).read_text()
    assert "<h1>demo run</h1>" in html
    # The run's settings (the dict's sorted by name; KFP hands its 2 back as 2.0), unset ones
    # left out.
    settings = html.split("<h2>Run settings</h2>")[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]*)</td></tr>", settings)
    assert rows == [("profile", "smollm2-arithmetic"), ("algorithm", "rlsd"), ("mode", "fused"),
                    ("rounds", "2"), ("samples_per_prompt", "8"), ("top_p", "0.9"),
                    ("learning_rate", "1e-06"), ("eps_w", "0.2"),
                    ("prompt_template", "{question} Sum?")]
    # A learning rate of 1e-6 in the curves' summary reads as such, not 0.0000.
    assert '<td>learning_rate</td><td class="num">1e-06</td>' in html
    assert out.metadata["profile"] == "smollm2-arithmetic"
    assert "2 optimizer steps (1–2) over 2 round(s)" in html
    assert "<h3>round 1</h3>" in html and html.count('class="card"') == 2
    assert "Evaluation before and after training" in html
    assert out.metadata["steps"] == 2 and out.metadata["responses_shown"] == 2


def test_the_runs_settings_groups_are_listed_and_its_scale_by_std_used(kfp_local, tmp_path,
                                                                         round_shard, capsys):
    shard = round_shard("a", {"p0": [1.0, 0.0]})
    groups = {"data_settings": {"answer_after": "####", "prompt_field": "question"},
              "train_settings": {"scale_by_std": False, "zero_stage": 3}}
    out = _report_pipeline(_checkpoint_pointer(tmp_path), shard,
                           _evaluation(tmp_path, "base", 0.0), _evaluation(tmp_path, "final", 1.0),
                           algorithm="rlsd", stage_settings=groups)().output
    settings = Path(out.path).read_text().split("<h2>Run settings</h2>")[1].split("</table>")[0]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]*)</td></tr>", settings)
    assert rows == [("algorithm", "rlsd"), ("data_settings.answer_after", "####"),
                    ("data_settings.prompt_field", "question"),
                    ("train_settings.scale_by_std", "False"),
                    ("train_settings.zero_stage", "3"), ("eps_w", "0.2")]
    capsys.readouterr()
    (tmp_path / "again").mkdir()
    with pytest.raises(RuntimeError):  # the run's own normalisation, or the task fails
        _report_pipeline(_checkpoint_pointer(tmp_path / "again"), shard,
                         _evaluation(tmp_path, "base2", 0.0),
                         _evaluation(tmp_path, "final2", 1.0), scale_by_std=True,
                         stage_settings=groups)()
    assert "report: scale_by_std=True and the run's train_settings scale_by_std=False " \
           "disagree" in capsys.readouterr().out


def test_a_base_model_pointer_is_refused(kfp_local, tmp_path, round_shard, capsys):
    pointer_file = tmp_path / "policy"
    write_pointer(reference_pointer("default"), pointer_file)
    with pytest.raises(RuntimeError):
        _report_pipeline(pointer_file, round_shard("a", {"p0": [1.0, 0.0]}),
                         _evaluation(tmp_path, "base", 0.0),
                         _evaluation(tmp_path, "final", 1.0))()
    assert "final_policy is a reference (default), not a checkpoint" in capsys.readouterr().out


def test_small_values_read_as_such_and_no_settings_means_no_list(tmp_path):
    from rlsd.evaluate.html import fmt, fmt_delta
    from rlsd.report import build_training_report

    assert [fmt(v) for v in (1e-6, 2.5e-5, 0.00099, 0.0012, 0.0, 0.25, -3e-7)] \
        == ["1e-06", "2.5e-05", "0.00099", "0.0012", "0.0000", "0.2500", "-3e-07"]
    assert (fmt_delta(-1e-6), fmt_delta(0.05), fmt_delta(0.0)) == ("-1e-06", "+0.0500", "+0.0000")
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text(json.dumps({"step": 1, "round": 0, "learning_rate": 1e-6,
                                   "reward_mean": 0.5}) + "\n")
    build_training_report([metrics], None, None, tmp_path / "r.html")
    html = (tmp_path / "r.html").read_text()
    assert '<td>learning_rate</td><td class="num">1e-06</td>' in html
    assert "Run settings" not in html
