"""Tiny models for the scoring tests, built once per session (offline, CPU)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsd.models import ensure_default_tokenizer
from rlsd.models.tiny import build_tiny_causal_lm, build_tiny_vlm


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory) -> Path:
    ensure_default_tokenizer()
    return build_tiny_causal_lm(tmp_path_factory.mktemp("score-models") / "tiny-lm", seed=0)


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory) -> Path:
    ensure_default_tokenizer()
    return build_tiny_vlm(tmp_path_factory.mktemp("score-models") / "tiny-vlm", seed=0)
