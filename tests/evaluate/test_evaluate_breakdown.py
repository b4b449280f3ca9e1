"""Per-benchmark / per-subject breakdowns and per-item records, checked against hand counts;
the evaluation folder and its HTML / Markdown reports."""

import json
import re

import pytest

from rlsd.evaluate import aggregate, breakdown, item_results, per_benchmark_metrics
from rlsd.evaluate.breakdown import NONE_LABEL
from rlsd.evaluate.evaluation import write_evaluation


def _s(pid, i, answer, correct, bench="math500", subject="Algebra", difficulty="level 1",
       length=10, truncated=False):
    return {"prompt_id": pid, "sample_index": i, "answer": answer, "gold": "5",
            "correct": correct, "format": 1.0, "response_length": length,
            "truncated": truncated, "benchmark": bench, "subject": subject,
            "difficulty": difficulty, "response_text": f"<answer>{answer}</answer>"}


# Two samples per prompt. math500: p1 (Algebra) 2/2 right, p2 (Algebra) 0/2, p3 (Geometry) 1/2.
# gsm8k: g1 1/2 right, no subject.
SAMPLES = [
    _s("p1", 0, "5", 1.0), _s("p1", 1, "5", 1.0, length=30),
    _s("p2", 0, "4", 0.0), _s("p2", 1, "3", 0.0, truncated=True),
    _s("p3", 0, "9", 0.0, subject="Geometry", difficulty="level 3"),
    _s("p3", 1, "5", 1.0, subject="Geometry", difficulty="level 3"),
    _s("g1", 0, "7", 1.0, bench="gsm8k", subject=None, difficulty=None),
    _s("g1", 1, "8", 0.0, bench="gsm8k", subject=None, difficulty=None),
]


def test_breakdown_by_hand():
    parts = breakdown(SAMPLES, [1, 2], aggregate)
    math = parts["benchmarks"]["math500"]
    assert math["prompts"] == 3 and math["samples"] == 6
    assert math["pass@1"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert math["pass@2"] == pytest.approx((1 + 0 + 1) / 3)
    algebra = parts["subjects"]["math500"]["Algebra"]
    assert algebra["pass@1"] == pytest.approx(0.5) and algebra["prompts"] == 2
    assert algebra["truncation_rate"] == pytest.approx(1 / 4)
    assert algebra["response_length"] == pytest.approx((10 + 30 + 10 + 10) / 4)
    geometry = parts["subjects"]["math500"]["Geometry"]
    assert geometry["pass@1"] == pytest.approx(0.5)
    # maj@2: the tie "9" vs "5" goes to the first seen ("9"), which is wrong.
    assert geometry["maj@2"] == pytest.approx(0.0)
    assert parts["difficulties"]["math500"]["level 3"]["pass@2"] == pytest.approx(1.0)
    assert list(parts["subjects"]["gsm8k"]) == [NONE_LABEL]
    assert parts["benchmarks"]["gsm8k"]["pass@1"] == pytest.approx(0.5)


def test_per_benchmark_and_macro_metrics():
    parts = breakdown(SAMPLES, [1], aggregate)
    flat = per_benchmark_metrics(parts["benchmarks"])
    assert flat["math500/pass@1"] == pytest.approx(0.5)
    assert flat["gsm8k/pass@1"] == pytest.approx(0.5)
    assert flat["macro/pass@1"] == pytest.approx(0.5)
    assert flat["macro/mean@2"] == pytest.approx((0.5 + 0.5) / 2)
    assert "math500/response_length" not in flat
    assert per_benchmark_metrics({"only": parts["benchmarks"]["gsm8k"]}) == {}


def test_macro_differs_from_pooled_when_sizes_differ():
    samples = [s for s in SAMPLES if s["prompt_id"] != "g1"] + [
        _s("g1", 0, "7", 1.0, bench="gsm8k"), _s("g1", 1, "7", 1.0, bench="gsm8k")]
    parts = breakdown(samples, [1], aggregate)
    pooled = aggregate(samples, [1])["pass@1"]
    macro = per_benchmark_metrics(parts["benchmarks"])["macro/pass@1"]
    assert pooled == pytest.approx((1 + 0 + 0.5 + 1) / 4)
    assert macro == pytest.approx((0.5 + 1.0) / 2)


def test_item_results_by_hand():
    items = item_results(SAMPLES, [1, 2], prompts={"p3": "What is 2+3?"})
    assert [i["prompt_id"] for i in items] == ["p1", "p2", "p3", "g1"]
    p3 = items[2]
    assert (p3["samples"], p3["correct"], p3["accuracy"]) == (2, 1, 0.5)
    assert p3["pass@1"] == pytest.approx(0.5) and p3["pass@2"] == pytest.approx(1.0)
    assert p3["answers"] == ["9", "5"] and p3["verdicts"] == [0.0, 1.0]
    assert p3["majority_answer"] == "9" and p3["majority_correct"] == 0.0
    assert p3["prompt"] == "What is 2+3?" and "prompt" not in items[0]
    assert items[1]["truncated"] == 1
    assert items[3]["subject"] == NONE_LABEL


def test_write_evaluation_folder_and_reports(tmp_path):
    rows = [{"id": pid, "prompt": f"question {pid}", "messages": None}
            for pid in ("p1", "p2", "p3", "g1")]
    metrics = write_evaluation(tmp_path, "Eval <test>", SAMPLES, [1, 2], {"seconds": 1.5}, rows)
    assert metrics["prompts"] == 4 and metrics["seconds"] == 1.5
    assert metrics["macro/pass@1"] == pytest.approx(0.5)
    on_disk = json.loads((tmp_path / "metrics.json").read_text())
    assert on_disk == pytest.approx(metrics)
    assert len(json.loads((tmp_path / "results.json").read_text())) == len(SAMPLES)
    items = json.loads((tmp_path / "items.json").read_text())
    assert [i["prompt"] for i in items] == ["question p1", "question p2", "question p3",
                                            "question g1"]
    parts = json.loads((tmp_path / "breakdown.json").read_text())
    assert set(parts["subjects"]["math500"]) == {"Algebra", "Geometry"}

    html = (tmp_path / "report.html").read_text()
    assert "<h1>Eval &lt;test&gt;</h1>" in html  # the title is escaped
    images = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 3  # per benchmark, math500 per subject, response lengths
    assert all(len(b) > 1000 for b in images)
    assert "<h2>Per benchmark</h2>" in html and "<h2>math500: per subject</h2>" in html
    assert "<td>Geometry</td>" in html and "gsm8k: per subject" not in html
    assert re.search(r"<td>pass@1</td><td class=\"num\">0\.5000</td>", html)
    md = (tmp_path / "report.md").read_text()
    assert "| pass@1 | 0.5000 |" in md
    assert "## math500: per subject" in md and "| Geometry | 0.5000 |" in md
    assert md.count("](data:image/png;base64,") == 3
