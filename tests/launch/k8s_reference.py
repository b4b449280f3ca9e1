"""Where the tests find the PyTorchJob CRD: ``../shared/k8s`` beside the repository.

The CRD (Training Operator release-1.9) is reference data that CI lays beside the repo; it is
not copied into the repo. Tests that need it call :func:`crd_validator_or_skip`, which skips
with the path it looked at when the file is absent.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from rlsd.launch.crd_schema import PyTorchJobValidator

REPO_ROOT = Path(__file__).resolve().parents[2]
CRD_PATH = REPO_ROOT.parent / "shared" / "k8s" / "pytorchjobs.kubeflow.org.crd.yaml"


@functools.lru_cache(maxsize=1)
def _validator() -> PyTorchJobValidator | None:
    return PyTorchJobValidator.from_crd_file(CRD_PATH) if CRD_PATH.is_file() else None


def crd_validator() -> PyTorchJobValidator | None:
    """The CRD validator (loaded once), or None when the CRD file is absent."""
    return _validator()


def crd_validator_or_skip() -> PyTorchJobValidator:
    """The CRD validator, or skip the calling test naming the missing file."""
    validator = _validator()
    if validator is None:
        pytest.skip(f"PyTorchJob CRD not found at {CRD_PATH} (shared/k8s beside the repo)")
    return validator
