"""Comparing two evaluation folders: deltas by hand, item changes, the before/after check."""

import json
import re
import shutil
import subprocess
import sys

import pytest

from rlsd.evaluate.compare import (
    CompareError,
    before_after,
    compare_runs,
    load_eval_run,
    main,
)
from rlsd.evaluate.evaluation import write_evaluation


def _s(pid, i, correct, subject, bench="mmmu"):
    return {"prompt_id": pid, "sample_index": i, "answer": "A" if correct else "B", "gold": "A",
            "correct": correct, "format": 1.0, "response_length": 20, "truncated": False,
            "benchmark": bench, "subject": subject, "difficulty": None, "response_text": "..."}


# One sample per item. Base: art1 right, art2 wrong, bio1 wrong, bio2 wrong.
# Final: art1 right, art2 right, bio1 wrong, bio2 right... and art1 regresses in `worse`.
BASE = [_s("art1", 0, 1.0, "Art"), _s("art2", 0, 0.0, "Art"),
        _s("bio1", 0, 0.0, "Biology"), _s("bio2", 0, 0.0, "Biology")]
FINAL = [_s("art1", 0, 0.0, "Art"), _s("art2", 0, 1.0, "Art"),
         _s("bio1", 0, 1.0, "Biology"), _s("bio2", 0, 1.0, "Biology")]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    # Written once (each folder renders its report plots); tests that change one copy it.
    root = tmp_path_factory.mktemp("evals")
    base, final = root / "eval-base", root / "eval-final"
    write_evaluation(base, "base", BASE, [1])
    write_evaluation(final, "final", FINAL, [1])
    return base, final


def test_deltas_by_hand(runs):
    base, final = runs
    c = compare_runs(load_eval_run(base, "base"), load_eval_run(final, "final"))
    assert c.metric == "pass@1"
    h = c.headline()
    assert (h.a, h.b) == (pytest.approx(0.25), pytest.approx(0.75))
    assert h.delta == pytest.approx(0.5)
    art, bio = c.subjects["mmmu"]
    assert (art.label, art.a, art.b, art.delta) == ("Art", 0.5, 0.5, 0.0)
    assert (bio.label, bio.a, bio.b, bio.delta) == ("Biology", 0.0, 1.0, 1.0)
    assert (bio.n_a, bio.n_b) == (2, 2)
    assert c.items.improved == ["art2", "bio1", "bio2"]
    assert c.items.regressed == ["art1"] and c.items.unchanged == 0


def test_before_after_writes_html_and_markdown(runs, tmp_path):
    base, final = runs
    out_html, out_md = tmp_path / "ba.html", tmp_path / "ba.md"
    c = before_after(base, final, out_html, out_md)
    assert c.names == ("base", "final")
    html = out_html.read_text()
    assert "<td>pass@1</td>" in html
    # Δ cell of pass@1 is green ("up"); the Biology row shows +1.0000.
    assert re.search(r'<td>pass@1</td><td class="num">0\.2500</td><td class="num">0\.7500</td>'
                     r'<td class="num up">\+0\.5000</td>', html)
    assert re.search(r"<td>Biology</td>.*?\+1\.0000", html)
    assert html.count('<img src="data:image/png;base64,') == 1  # mmmu per-subject chart
    md = out_md.read_text()
    assert "| pass@1 | 0.2500 | 0.7500 | +0.5000 |" in md
    assert "items improved 3, regressed 1, unchanged 0" in md


def test_before_after_refuses_different_items(runs, tmp_path):
    base, _ = runs
    other = tmp_path / "other"
    write_evaluation(other, "other", BASE[:3] + [_s("chem1", 0, 1.0, "Chemistry")], [1])
    with pytest.raises(CompareError, match=r"did not evaluate the same items: 1 only in base "
                                           r"\(first: \['bio2'\]\), 1 only in final"):
        before_after(base, other)
    # A plain comparison still works and says so.
    c = compare_runs(load_eval_run(base), load_eval_run(other))
    assert c.items.only_a == ["bio2"] and c.items.only_b == ["chem1"]


def test_old_folder_without_breakdown_is_derived_from_results(runs, tmp_path):
    base = tmp_path / "old"
    shutil.copytree(runs[0], base)
    (base / "breakdown.json").unlink()
    (base / "items.json").unlink()
    run = load_eval_run(base)
    assert run.breakdown["subjects"]["mmmu"]["Biology"]["pass@1"] == 0.0
    assert [i["prompt_id"] for i in run.items] == ["art1", "art2", "bio1", "bio2"]


def test_missing_folder_is_one_error(tmp_path):
    with pytest.raises(CompareError, match="metrics.json does not exist"):
        load_eval_run(tmp_path / "nope")


def test_cli(runs, tmp_path, capsys):
    base, final = runs
    out = tmp_path / "cmp.html"
    assert main([str(base), str(final), "--names", "grpo,rlsd", "--output", str(out)]) == 0
    assert "pass@1: grpo 0.2500 → rlsd 0.7500 (+0.5000)" in capsys.readouterr().out
    assert "Δ (rlsd − grpo)" in out.read_text()
    assert main([str(base), str(tmp_path / "missing"), "--output", str(out)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_cli_as_module(runs, tmp_path):
    base, final = runs
    out = tmp_path / "cmp.md"
    result = subprocess.run([sys.executable, "-m", "rlsd.evaluate.compare", str(base), str(final),
                             "--markdown", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert json.loads((base / "metrics.json").read_text())["pass@1"] == 0.25
    assert "| Biology | 0.0000 | 1.0000 | +1.0000 | 2 | 2 |" in out.read_text()
