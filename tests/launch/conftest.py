"""Fixtures: a fake Kubernetes API server (see fake_apiserver.py) and a real client for it.

``fake_api``: a started :class:`FakeKubeAPI` that validates bodies against the PyTorchJob
CRD when ../shared/k8s has it (else only the operator's admission rules).
``api_client``: a real ``kubernetes.client.ApiClient`` whose host is that server.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kubernetes import client

from tests.launch.fake_apiserver import FakeKubeAPI
from tests.launch.k8s_reference import crd_validator


@pytest.fixture
def fake_api() -> Iterator[FakeKubeAPI]:
    api = FakeKubeAPI(validator=crd_validator())
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
