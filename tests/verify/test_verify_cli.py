"""``python -m rlsd.verify``: rollouts + prompts parquet in, rewards parquet out."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlsd.schemas import REWARD_SCHEMA
from rlsd.verify.cli import main

REPO = Path(__file__).resolve().parents[2]


def write_prompts(path: Path, rows: list[tuple[str, str, str]]) -> Path:
    ids, answers, verifiers = (list(col) for col in zip(*rows, strict=True))
    table = pa.table(
        {"id": ids, "prompt": ["q"] * len(ids), "answer": answers, "verifier": verifiers}
    )
    pq.write_table(table, path)
    return path


def write_rollouts(path: Path, rows: list[tuple[str, int, str]], **extra: list) -> Path:
    pids, indices, texts = (list(col) for col in zip(*rows, strict=True))
    table = pa.table(
        {
            "prompt_id": pa.array(pids, pa.string()),
            "sample_index": pa.array(indices, pa.int32()),
            "response_text": pa.array(texts, pa.string()),
            **extra,
        }
    )
    pq.write_table(table, path)
    return path


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    return write_prompts(
        tmp_path / "prompts.parquet",
        [
            ("gsm-1", "72", "gsm8k"),
            ("math-1", r"\frac{14}{3}", "math"),
            ("mc-1", "(C)", "choice"),
        ],
    )


def test_grades_rollouts_and_writes_the_rewards_schema(
    tmp_path: Path, prompts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rollouts = write_rollouts(
        tmp_path / "rollouts.parquet",
        [
            ("gsm-1", 0, "<thought>48+24</thought><answer>72</answer>"),
            ("gsm-1", 1, "so 71\n#### 71"),
            ("math-1", 0, r"The result is \boxed{\dfrac{14}{3}}."),
            ("mc-1", 0, "<thought>A bar chart.</thought><answer>The answer is (C)</answer>"),
        ],
    )
    out = tmp_path / "out" / "rewards.parquet"
    code = main(["--prompts", str(prompts), "--rollouts", str(rollouts), "--output", str(out)])
    assert code == 0
    table = pq.read_table(out)
    assert table.schema == REWARD_SCHEMA
    rows = table.to_pylist()
    assert [(r["prompt_id"], r["sample_index"]) for r in rows] == [
        ("gsm-1", 0),
        ("gsm-1", 1),
        ("math-1", 0),
        ("mc-1", 0),
    ]
    assert [r["reward"] for r in rows] == pytest.approx([1.0, 0.0, 0.9, 1.0])
    assert [r["accuracy"] for r in rows] == [1.0, 0.0, 1.0, 1.0]
    assert [r["format"] for r in rows] == [1.0, 0.0, 0.0, 1.0]
    assert rows[1]["reason"] == "wrong answer: got 71, expected 72"
    captured = capsys.readouterr()
    assert captured.out.splitlines()[-1] == (
        "verified 4 items: mean reward 0.7250, accuracy 0.7500, format 0.5000, "
        "timeouts 0, errors 0, no answer 0, too long 0"
    )
    assert "4/4" in captured.err  # the progress bar


def test_self_check_reports_unreadable_gold_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = write_prompts(
        tmp_path / "prompts.parquet",
        [
            ("ok-math", r"(3, \frac{\pi}{2})", "math"),
            ("ok-gsm", "1,234", "gsm8k"),
            ("bad-math", r"\frac{", "math"),
            ("bad-mc", "forty-two", "choice"),
        ],
    )
    out = tmp_path / "self.parquet"
    assert main(["--self-check", "--prompts", str(prompts), "--output", str(out)]) == 0
    rows = pq.read_table(out).to_pylist()
    assert [(r["prompt_id"], r["sample_index"], r["accuracy"]) for r in rows] == [
        ("ok-math", 0, 1.0),
        ("ok-gsm", 0, 1.0),
        ("bad-math", 0, 0.0),
        ("bad-mc", 0, 0.0),
    ]
    assert all(r["format"] == 1.0 for r in rows)
    captured = capsys.readouterr()
    assert "self-check: 2 of 4 gold answers fail their verifier" in captured.out
    assert "bad-math: verifier error: math-verify cannot parse gold answer" in captured.err
    assert "bad-mc: verifier error: gold answer 'forty-two' is not an option letter" in captured.err


def test_missing_column_fails_before_grading(
    tmp_path: Path, prompts: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rollouts = tmp_path / "rollouts.parquet"
    pq.write_table(
        pa.table({"prompt_id": ["gsm-1"], "sample_index": pa.array([0], pa.int32())}), rollouts
    )
    out = tmp_path / "rewards.parquet"
    assert main(["--prompts", str(prompts), "--rollouts", str(rollouts), "--output", str(out)]) == 2
    err = capsys.readouterr().err
    assert "rollouts table lacks column(s) ['response_text']" in err
    assert not out.exists()


def test_unknown_verifier_and_unjoinable_rows_fail_before_grading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = write_prompts(
        tmp_path / "prompts.parquet", [("p1", "1", "math"), ("p2", "2", "os:system")]
    )
    rollouts = write_rollouts(tmp_path / "r.parquet", [("p1", 0, "1"), ("p2", 0, "2")])
    out = tmp_path / "rewards.parquet"
    assert main(["--prompts", str(prompts), "--rollouts", str(rollouts), "--output", str(out)]) == 2
    assert "unknown verifier(s) ['os:system']" in capsys.readouterr().err

    orphans = write_rollouts(tmp_path / "o.parquet", [("p1", 0, "1"), ("nowhere", 0, "2")])
    assert main(["--prompts", str(prompts), "--rollouts", str(orphans), "--output", str(out)]) == 2
    assert "not in the prompts table, e.g. ['nowhere']" in capsys.readouterr().err
    assert not out.exists()


def test_plugin_flag_and_length_column(
    tmp_path: Path, make_plugin: Callable[[str], str], capsys: pytest.CaptureFixture[str]
) -> None:
    module = make_plugin(
        """
        def shout(answer, gold):
            return float(answer == gold.upper())
        """
    )
    prompts = write_prompts(tmp_path / "prompts.parquet", [("p1", "yes", "shout")])
    rollouts = write_rollouts(
        tmp_path / "r.parquet",
        [("p1", 0, "<answer>YES</answer>"), ("p1", 1, "<answer>YES</answer>")],
        tokens=pa.array([10, 90], pa.int64()),
    )
    out = tmp_path / "rewards.parquet"
    args = [
        "--prompts",
        str(prompts),
        "--rollouts",
        str(rollouts),
        "--output",
        str(out),
        "--plugin",
        f"shout={module}:shout",
        "--length-column",
        "tokens",
        "--set",
        "max_response_length=100",
        "--set",
        "overlong_buffer=20",
    ]
    assert main(args) == 0
    rows = pq.read_table(out).to_pylist()
    # accuracy 1, format 0: 0.9; the second is 10 tokens into the 20-token buffer: -0.5
    assert [r["reward"] for r in rows] == pytest.approx([0.9, 0.4])
    bad_column = [*args[:-6], "--length-column", "n_tokens"]
    assert main(bad_column) == 2
    assert "lacks column(s) ['n_tokens']" in capsys.readouterr().err


def test_module_entry_point_runs(tmp_path: Path, prompts: Path) -> None:
    out = tmp_path / "rewards.parquet"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlsd.verify",
            "--self-check",
            "--prompts",
            str(prompts),
            "--output",
            str(out),
            "--workers",
            "1",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "self-check: 0 of 3 gold answers fail their verifier" in done.stdout
    assert pq.read_table(out).num_rows == 3
