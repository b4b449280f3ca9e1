"""The training report: curves from per-round metrics files, the token-credit view, the
before/after table, and ``python -m rlsd.report --run DIR``."""

import json
import re

import pytest
from transformers import AutoTokenizer

from rlsd.evaluate.evaluation import write_evaluation
from rlsd.models import ensure_default_tokenizer
from rlsd.report import (
    ReportConfig,
    ReportError,
    RoundTables,
    build_training_report,
    discover_run,
    read_metrics,
)
from rlsd.report.__main__ import main
from rlsd.report.curves import PANELS, round_starts
from tests.report.round_fixtures import metrics_records, round_tables, write_run


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(str(ensure_default_tokenizer()))


@pytest.fixture(scope="module")
def response_ids(tokenizer):
    return [tokenizer.encode("x = 42", add_special_tokens=False)[:3],
            tokenizer.encode("so 7", add_special_tokens=False)[:2]]


def _write_metrics(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_read_metrics_orders_steps_and_keeps_the_last_repeat(tmp_path):
    a = _write_metrics(tmp_path / "a.jsonl", metrics_records(1, [3, 4]))
    b = _write_metrics(tmp_path / "b.jsonl", metrics_records(0, [1, 2]))
    again = metrics_records(1, [4])
    again[0]["loss"] = 123.0
    c = _write_metrics(tmp_path / "c.jsonl", again)
    records = read_metrics([a, b, c])
    assert [r["step"] for r in records] == [1, 2, 3, 4]
    assert records[-1]["loss"] == 123.0
    assert round_starts(records) == [(1, 0), (3, 1)]
    folder = tmp_path / "policy"
    folder.mkdir()
    _write_metrics(folder / "metrics.jsonl", metrics_records(0, [9]))
    assert read_metrics([folder])[0]["step"] == 9  # a checkpoint folder holding metrics.jsonl


def test_bad_metrics_lines_are_named(tmp_path):
    bad = tmp_path / "m.jsonl"
    bad.write_text('{"step": 1}\nnot json\n')
    with pytest.raises(ReportError, match=r"m.jsonl line 2 is not JSON"):
        read_metrics([bad])
    bad.write_text('{"loss": 1}\n')
    with pytest.raises(ReportError, match=r"line 1: expected an object with a numeric 'step'"):
        read_metrics([bad])
    with pytest.raises(ReportError, match="no metrics file at"):
        read_metrics([tmp_path / "none.jsonl"])


def test_report_has_curves_tokens_and_eval_table(tmp_path, tokenizer, response_ids):
    m0 = _write_metrics(tmp_path / "r0.jsonl", metrics_records(0, [1, 2]))
    m1 = _write_metrics(tmp_path / "r1.jsonl", metrics_records(1, [3, 4, 5]))
    samples = [{"prompt_id": "p", "sample_index": 0, "answer": "1", "gold": "1", "correct": c,
                "format": 1.0, "response_length": 5, "truncated": False, "benchmark": "gsm8k",
                "subject": None, "difficulty": None, "response_text": ""} for c in (0.0,)]
    write_evaluation(tmp_path / "eval-base", "base", samples, [1])
    write_evaluation(tmp_path / "eval-final", "final", [{**samples[0], "correct": 1.0}], [1])
    out = tmp_path / "training_report.html"
    counts = build_training_report(
        [m1, m0], [RoundTables(*round_tables(response_ids), label="round 1")], tokenizer, out,
        eval_before=tmp_path / "eval-base", eval_after=tmp_path / "eval-final",
        config=ReportConfig(title="My <run>"))
    assert counts == {"steps": 5, "responses": 2}
    html = out.read_text()
    assert "<h1>My &lt;run&gt;</h1>" in html
    logged = [p for p in PANELS if p.title != "Response length"]  # the fixture logs no length
    images = re.findall(r'<figure><img src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}" '
                        r'alt="([^"]+)"', html)
    assert images == [p.title for p in logged]
    assert "Not logged in this run: Response length." in html
    assert "5 optimizer steps (1–5) over 2 round(s)" in html
    # Token view: the Δ = +1 token of the rewarded response is full green with w = 1.200.
    assert re.search(r'data-w="1\.2000" data-delta="1\.0000" title="[^"]*" '
                     r'style="background:rgba\(34, 197, 94, 0\.850\)"', html)
    assert html.count('class="card"') == 2
    assert "Evaluation before and after training" in html
    assert re.search(r'<td>pass@1</td><td class="num">0\.0000</td><td class="num">1\.0000</td>'
                     r'<td class="num up">\+1\.0000</td>', html)
    assert "<script" not in html and "http://" not in html and "https://" not in html


def test_grpo_round_gets_a_note_not_a_failure(tmp_path, tokenizer, response_ids):
    import pyarrow as pa

    from rlsd.schemas import SCORE_SCHEMA

    rollouts, rewards, scores = round_tables(response_ids)
    scores = pa.Table.from_pylist([{**r, "teacher_logprobs": None} for r in scores.to_pylist()],
                                  schema=SCORE_SCHEMA)
    out = tmp_path / "r.html"
    counts = build_training_report([], [RoundTables(rollouts, rewards, scores, "round 0")],
                                   tokenizer, out)
    assert counts["responses"] == 0
    assert "round 0: no token credit to show" in out.read_text()


def test_token_view_needs_a_tokenizer(tmp_path, response_ids):
    with pytest.raises(ReportError, match="needs a tokenizer"):
        build_training_report([], [RoundTables(*round_tables(response_ids))], None,
                              tmp_path / "x.html")


def test_cli_on_a_run_folder(tmp_path, response_ids, capsys):
    run = write_run(tmp_path / "run", response_ids)
    layout = discover_run(run)
    assert [r.index for r in layout.rounds] == [0, 1]
    assert all(r.has_tables for r in layout.rounds) and len(layout.metrics_files) == 2
    assert main(["--run", str(run), "--tokenizer", "default", "--responses", "1",
                 "--token-credit-rounds", "0,1"]) == 0
    assert "report: 5 steps, 2 responses" in capsys.readouterr().out
    html = (run / "training_report.html").read_text()
    assert "<h3>round 0</h3>" in html and "<h3>round 1</h3>" in html
    assert main(["--run", str(run), "--token-credit-rounds", "7"]) == 2
    assert "round(s) [7] have no rollouts/rewards/scores tables" in capsys.readouterr().err
    assert main(["--run", str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err
