"""Connecting to Kubernetes: in-cluster service account in a pod, else a kubeconfig.

A KFP component runs in a pod whose service account (``pipeline-runner`` by default) the
manifests/ RBAC allows to manage PyTorchJobs in its own namespace; on a laptop the usual
kubeconfig (``$KUBECONFIG`` or ``~/.kube/config``) is used.
"""

from __future__ import annotations

import os
from pathlib import Path

from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from rlsd.launch.errors import KubernetesConfigError

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster() -> bool:
    """True inside a pod that has a service account token mounted."""
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and \
        (SERVICE_ACCOUNT_DIR / "token").is_file()


def load_api_client(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    """An ``ApiClient`` for this pod's cluster, or for ``kubeconfig``/``context``.

    An explicit ``kubeconfig`` wins over the in-cluster configuration.
    """
    configuration = client.Configuration()
    try:
        if kubeconfig is None and in_cluster():
            config.load_incluster_config(client_configuration=configuration)
        else:
            config.load_kube_config(config_file=kubeconfig, context=context,
                                    client_configuration=configuration)
    except (ConfigException, FileNotFoundError) as exc:
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise KubernetesConfigError(
            f"no usable Kubernetes configuration: not in a pod with a service account, and "
            f"the kubeconfig {where} could not be loaded ({exc}); set KUBECONFIG or run "
            "inside the cluster") from exc
    return client.ApiClient(configuration)


def default_namespace(kubeconfig: str | None = None, context: str | None = None) -> str:
    """This pod's namespace; else the kubeconfig context's namespace; else ``default``."""
    ns_file = SERVICE_ACCOUNT_DIR / "namespace"
    if kubeconfig is None and in_cluster() and ns_file.is_file():
        return ns_file.read_text().strip()
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except (ConfigException, FileNotFoundError):
        return "default"
    if context:
        contexts, _ = config.list_kube_config_contexts(config_file=kubeconfig)
        active = next((c for c in contexts if c.get("name") == context), active)
    return (active or {}).get("context", {}).get("namespace") or "default"
