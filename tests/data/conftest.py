"""Shared helpers for the data-prep tests: small real images and row builders."""

from __future__ import annotations

import io

import pytest
from PIL import Image


def encode_image(fmt: str, size: tuple[int, int] = (4, 3), color=(200, 30, 30)) -> bytes:
    """A real image of ``size`` in ``fmt`` (PNG, JPEG, GIF, WEBP, ...)."""
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format=fmt)
    return buf.getvalue()


@pytest.fixture
def png() -> bytes:
    return encode_image("PNG")


@pytest.fixture
def jpeg() -> bytes:
    return encode_image("JPEG")


@pytest.fixture
def gif() -> bytes:
    return encode_image("GIF")


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    """Point the datasets cache at a temp folder so tests never touch ~/.cache."""
    import datasets

    cache = tmp_path / "hf-cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", cache)
    datasets.disable_progress_bars()
    yield cache
    datasets.enable_progress_bars()
