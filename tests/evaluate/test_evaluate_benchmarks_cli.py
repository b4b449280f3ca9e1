"""``python -m rlsd.evaluate --benchmark ...``: argument checks, and one real run of a tiny
random policy on two benchmark fixtures (sampling, grading, breakdowns, reports)."""

import json

import pytest

from rlsd.config import ConfigError
from rlsd.evaluate.__main__ import main, parse_sources
from rlsd.models.tiny import build_tiny_causal_lm
from tests.evaluate import benchmark_fixtures as fx


def test_parse_sources():
    assert parse_sources(["s3://b/gsm8k.parquet"], ["gsm8k"]) == {"gsm8k": "s3://b/gsm8k.parquet"}
    assert parse_sources(["gsm8k=/d/g.parquet", "math500=hf:/mirror/MATH-500"],
                         ["gsm8k", "math500"]) == {"gsm8k": "/d/g.parquet",
                                                   "math500": "hf:/mirror/MATH-500"}
    assert parse_sources(["/data/a=b.parquet"], ["mmmu"]) == {"mmmu": "/data/a=b.parquet"}
    with pytest.raises(ConfigError, match="with several benchmarks write NAME=URI"):
        parse_sources(["/d/g.parquet"], ["gsm8k", "math500"])
    with pytest.raises(ConfigError, match="given twice for 'gsm8k'"):
        parse_sources(["gsm8k=a.parquet", "gsm8k=b.parquet"], ["gsm8k"])


def test_bad_benchmark_arguments_are_one_line_errors(tmp_path, capsys):
    out = str(tmp_path / "out")
    assert main(["--policy", "default", "--benchmark", "gsm8k,mmlu", "--output", out]) == 2
    assert "unknown benchmark 'mmlu'" in capsys.readouterr().err
    assert main(["--policy", "default", "--prompts", "p.parquet", "--benchmark-source", "x",
                 "--output", out]) == 2
    assert "--benchmark-source goes with --benchmark" in capsys.readouterr().err
    assert main(["--policy", "default", "--benchmark", "gsm8k", "--benchmark-source",
                 "math500=x.parquet", "--output", out]) == 2
    assert "benchmark source(s) given for ['math500']" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: --prompts and --benchmark exclude each other
        main(["--policy", "default", "--prompts", "p", "--benchmark", "gsm8k", "--output", out])


def test_tiny_policy_on_two_benchmarks(tmp_path, capsys):
    policy = build_tiny_causal_lm(tmp_path / "tiny", seed=0)
    gsm8k, math500 = fx.gsm8k(tmp_path), fx.math500(tmp_path)
    out = tmp_path / "eval"
    code = main(["--policy", str(policy), "--benchmark", "gsm8k,math500",
                 "--benchmark-source", f"gsm8k={gsm8k}", "--benchmark-source",
                 f"math500={math500}", "--output", str(out), "--samples-per-prompt", "2",
                 "--temperature", "1.0", "--k-values", "1,2", "--max-new-tokens", "6",
                 "--max-prompts", "2"])
    assert code == 0, capsys.readouterr().err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["prompts"] == 4 and metrics["samples"] == 8
    assert {"gsm8k/pass@1", "math500/pass@2", "macro/pass@1"} <= set(metrics)
    results = json.loads((out / "results.json").read_text())
    assert {r["benchmark"] for r in results} == {"gsm8k", "math500"}
    assert {r["subject"] for r in results if r["benchmark"] == "math500"} == {"Algebra",
                                                                              "Geometry"}
    items = json.loads((out / "items.json").read_text())
    assert [i["prompt_id"] for i in items] == ["gsm8k/00000", "gsm8k/00001",
                                               "math500/test/algebra/1.json",
                                               "math500/test/geometry/7.json"]
    assert all(i["samples"] == 2 and "Think step by step" in i["prompt"] for i in items)
    breakdown = json.loads((out / "breakdown.json").read_text())
    assert set(breakdown["subjects"]["math500"]) == {"Algebra", "Geometry"}
    assert "<h2>math500: per subject</h2>" in (out / "report.html").read_text()
    assert "## Per benchmark" in (out / "report.md").read_text()
