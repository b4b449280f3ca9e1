"""Where the tests find the CRDs: ``../shared/k8s`` beside the repository.

The PyTorchJob CRD (Training Operator release-1.9), the TrainJob CRD and the stock
``torch-distributed`` ClusterTrainingRuntime (Kubeflow Trainer v2.3.0) are reference data
that CI lays beside the repo; they are not copied into the repo. Tests that need them call
:func:`crd_validator_or_skip` / :func:`trainjob_validator_or_skip`, which skip with the path
they looked at when a file is absent.
"""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import yaml

from rlsd.launch.crd_schema import PyTorchJobValidator, TrainJobValidator

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT.parent / "shared" / "k8s"
CRD_PATH = K8S / "pytorchjobs.kubeflow.org.crd.yaml"
TRAINJOB_CRD_PATH = K8S / "trainjobs.trainer.kubeflow.org.crd.yaml"
TORCH_RUNTIME_PATH = K8S / "torch-distributed.clustertrainingruntime.yaml"


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


@functools.lru_cache(maxsize=1)
def torch_runtime() -> dict | None:
    """The stock ``torch-distributed`` ClusterTrainingRuntime object, or None when absent."""
    return yaml.safe_load(TORCH_RUNTIME_PATH.read_text()) if TORCH_RUNTIME_PATH.is_file() else None


@functools.lru_cache(maxsize=1)
def trainjob_validator() -> TrainJobValidator | None:
    """The TrainJob CRD validator with the stock runtime (loaded once), or None when absent."""
    if not TRAINJOB_CRD_PATH.is_file():
        return None
    validator = TrainJobValidator.from_crd_file(TRAINJOB_CRD_PATH)
    assert isinstance(validator, TrainJobValidator)
    validator.runtime = torch_runtime()
    return validator


def trainjob_validator_or_skip() -> TrainJobValidator:
    """The TrainJob validator, or skip the calling test naming the missing file."""
    validator = trainjob_validator()
    if validator is None or validator.runtime is None:
        pytest.skip(f"TrainJob CRD or runtime not found in {K8S} (shared/k8s beside the repo)")
    return validator
