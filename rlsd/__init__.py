"""RLSD on Kubeflow: reinforcement learning with verifiable rewards plus self-distillation.

The library: every pipeline stage is a plain function plus a CLI (``python -m rlsd.<stage>``).
Nothing in this package imports KFP; ``rlsd.launch`` is the one module that talks to Kubernetes.
"""

#: The package version, in one place: pyproject.toml reads it (setuptools dynamic version), the
#: default image tags follow it (components/_shared/image.py) and a release tag v<version>
#: must match it (.github/workflows/images.yml).
__version__ = "0.1.0"
