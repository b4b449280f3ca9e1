"""RLSD on Kubeflow: reinforcement learning with verifiable rewards plus self-distillation.

The library: every pipeline stage is a plain function plus a CLI (``python -m rlsd.<stage>``).
Nothing in this package imports KFP; ``rlsd.launch`` is the one module that talks to Kubernetes.
"""

__version__ = "0.1.0"
