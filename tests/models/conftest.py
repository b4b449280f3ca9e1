"""Shared, session-cached models for the rlsd.models tests.

The default model's tokenizer and converted weights live in the real cache
(``$RLSD_CACHE``, else ``~/.cache/rlsd``), so CI can keep them between runs and a developer
converts only once; the tiny random models are built once per session in a temp folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rlsd.models import ensure_default_model, ensure_default_tokenizer
from rlsd.models.tiny import build_tiny_causal_lm, build_tiny_vlm


@pytest.fixture(scope="session")
def default_tokenizer_dir() -> Path:
    return ensure_default_tokenizer()


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    return ensure_default_model()


@pytest.fixture(scope="session")
def tiny_lm_dir(tmp_path_factory, default_tokenizer_dir) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("models") / "tiny-lm", seed=0)


@pytest.fixture(scope="session")
def tiny_vlm_dir(tmp_path_factory, default_tokenizer_dir) -> Path:
    return build_tiny_vlm(tmp_path_factory.mktemp("models") / "tiny-vlm", seed=0)
