"""Fixtures: a fake Kubernetes API server (see fake_apiserver.py) and a real client for it.

``fake_api``: a started :class:`FakeKubeAPI` that validates bodies against the PyTorchJob and
TrainJob CRDs when ../shared/k8s has them (else only the operators' admission rules), and
knows the stock ``torch-distributed`` ClusterTrainingRuntime.
``api_client``: a real ``kubernetes.client.ApiClient`` whose host is that server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.launch.fake_apiserver import FakeKubeAPI
from tests.launch.k8s_reference import crd_validator, torch_runtime, trainjob_validator


@pytest.fixture
def fake_api() -> Iterator[FakeKubeAPI]:
    runtime = torch_runtime()
    runtimes = {("ClusterTrainingRuntime", "torch-distributed"): runtime} if runtime else {}
    api = FakeKubeAPI(validator=crd_validator(), trainjob_validator=trainjob_validator(),
                      runtimes=runtimes)
    api.start()
    try:
        yield api
    finally:
        api.stop()


@pytest.fixture
def api_client(fake_api: FakeKubeAPI) -> Iterator[client.ApiClient]:
    configuration = client.Configuration(host=fake_api.url)
    api = client.ApiClient(configuration)
    try:
        yield api
    finally:
        api.close()
