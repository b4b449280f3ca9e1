"""Render the training and evaluation reports in headless Chromium and check the screenshots
are real pages: large, many colours, and the token view's green and red shades on screen.

Needs Debian's ``chromium`` (``apt-get install chromium``); CI must install it too, or these
tests skip.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from transformers import AutoTokenizer

from rlsd.evaluate.evaluation import write_evaluation
from rlsd.models import ensure_default_tokenizer
from rlsd.report import RoundTables, build_training_report
from tests.report import chromium
from tests.report.round_fixtures import metrics_records, round_tables

pytestmark = pytest.mark.skipif(
    not chromium.available(),
    reason=f"{chromium.CHROMIUM} is not installed (apt-get install chromium) — the report "
           "screenshot check needs a headless browser")


def _pixels(png: Path) -> np.ndarray:
    with Image.open(png) as img:
        return np.asarray(img.convert("RGB"))


def _check_not_blank(png: Path) -> np.ndarray:
    assert png.stat().st_size > 20_000
    pixels = _pixels(png)
    packed = pixels.astype(np.int32) @ np.array([1 << 16, 1 << 8, 1], dtype=np.int32)
    colours = np.unique(packed)
    assert len(colours) > 100, f"{png} is nearly one colour ({len(colours)} colours)"
    white = (pixels.min(axis=2) > 245).mean()
    assert white < 0.97, f"{png} is {white:.0%} white"
    return pixels


def _near(pixels: np.ndarray, rgb: tuple[int, int, int], tol: int = 12) -> int:
    return int((np.abs(pixels.astype(int) - np.array(rgb)).max(axis=2) <= tol).sum())


def test_training_report_screenshot(tmp_path):
    tok = AutoTokenizer.from_pretrained(str(ensure_default_tokenizer()))
    ids = [tok.encode("The answer is 42", add_special_tokens=False)[:3],
           tok.encode("It is 7", add_special_tokens=False)[:2]]
    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps(r) + "\n" for r in metrics_records(0, [1, 2, 3])))
    html = tmp_path / "training_report.html"
    build_training_report([metrics], [RoundTables(*round_tables(ids), label="round 0")], tok, html)
    # Tall enough for the curves, the summary table and the token view below them.
    png = chromium.screenshot(html, tmp_path / "training.png", 1280, 4500)
    pixels = _check_not_blank(png)
    assert pixels.shape == (4500, 1280, 3)
    # The clipped tokens (w = 1.2 and w = 0.8) are shaded at alpha 0.85 over white:
    # green (34, 197, 94) -> (67, 206, 118), red (239, 68, 68) -> (242, 96, 96).
    assert _near(pixels, (67, 206, 118)) > 50
    assert _near(pixels, (242, 96, 96)) > 50


def test_eval_report_screenshot(tmp_path):
    samples = [{"prompt_id": f"p{i}", "sample_index": 0, "answer": "1", "gold": "1",
                "correct": float(i % 3 == 0), "format": 1.0, "response_length": 20 + 7 * i,
                "truncated": False, "benchmark": "mmmu",
                "subject": ["Art", "Biology", "Math"][i % 3], "difficulty": None,
                "response_text": "<answer>1</answer>"} for i in range(12)]
    write_evaluation(tmp_path, "Evaluation of `base`", samples, [1])
    png = chromium.screenshot(tmp_path / "report.html", tmp_path / "eval.png", 1280, 2000)
    pixels = _check_not_blank(png)
    assert _near(pixels, (9, 105, 218), tol=6) > 500  # the blue subject bars are drawn
