"""Kubernetes names and label values for the training job.

The Training Operator (v1.9) names each pod and its headless Service
``<job>-<replica type, lower case>-<index>`` (``rlsd-x-r0-master-0``, ``rlsd-x-r0-worker-3``)
and its admission webhook requires the job name to be a DNS-1035 label. A Service name is a
DNS-1035 label too (at most 63 characters), so the job name must leave room for the longest
suffix, ``-worker-<index>``. :data:`MAX_JOB_NAME_LEN` reserves four digits (10,000 workers).
"""

from __future__ import annotations

import hashlib
import re

from rlsd.launch.errors import TrainingJobSpecError

DNS1035_MAX = 63
_DNS1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
_LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")

_LONGEST_POD_SUFFIX = "-worker-9999"
MAX_JOB_NAME_LEN = DNS1035_MAX - len(_LONGEST_POD_SUFFIX)  # 51
_HASH_LEN = 8


def is_dns1035_label(name: str) -> bool:
    """True for a valid DNS-1035 label: ``[a-z]([-a-z0-9]*[a-z0-9])?``, at most 63 chars."""
    return len(name) <= DNS1035_MAX and bool(_DNS1035.match(name))


def is_dns1123_label(name: str) -> bool:
    """True for a valid DNS-1123 label (namespace names): like DNS-1035 but may start with a digit."""
    return len(name) <= DNS1035_MAX and bool(_DNS1123_LABEL.match(name))


def is_label_value(value: str) -> bool:
    """True for a valid label value (empty, or <= 63 chars of ``[A-Za-z0-9._-]``, alnum ends)."""
    return len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def is_label_key(key: str) -> bool:
    """True for a valid label/annotation key: ``[prefix/]name``, prefix a DNS-1123 subdomain."""
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not _DNS1123_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(_LABEL_NAME.match(name))


def pod_name(job: str, replica_type: str, index: int) -> str:
    """The operator's name for a replica's pod and Service (``GenGeneralName`` in v1.9)."""
    return f"{job}-{replica_type.lower()}-{index}"


def _slug(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", text.lower())).strip("-")


def job_name(run_id: str, round_index: int, prefix: str = "rlsd",
             max_len: int = MAX_JOB_NAME_LEN) -> str:
    """The PyTorchJob name for one round of one KFP run: ``<prefix>-<run id>-r<round>``.

    The run id (a KFP UUID, or anything a user passes) is lower-cased and every character
    outside ``[a-z0-9-]`` becomes ``-``. A name longer than ``max_len`` keeps its head, then
    8 hex digits of the SHA-256 of the full name (so two long ids that share a head still
    differ), then the round suffix: ``rlsd-<head>-1a2b3c4d-r12``.
    """
    if round_index < 0:
        raise TrainingJobSpecError(f"round must be >= 0, got {round_index}")
    clean_prefix = _slug(prefix)
    if not clean_prefix or not clean_prefix[0].isalpha():
        raise TrainingJobSpecError(f"job name prefix must start with a letter, got {prefix!r}")
    suffix = f"-r{round_index}"
    if max_len < len(clean_prefix) + len(suffix) + _HASH_LEN + 2:
        raise TrainingJobSpecError(f"max_len {max_len} leaves no room for a job name")
    slug = _slug(run_id)
    full = f"{clean_prefix}-{slug}{suffix}" if slug else f"{clean_prefix}{suffix}"
    if len(full) <= max_len:
        return full
    digest = hashlib.sha256(f"{prefix}\0{run_id}\0{round_index}".encode()).hexdigest()[:_HASH_LEN]
    head = full[: max_len - len(suffix) - _HASH_LEN - 1].rstrip("-")
    return f"{head}-{digest}{suffix}"


def label_value(text: str) -> str:
    """``text`` made a valid label value: invalid characters become ``-``, at most 63 chars."""
    value = re.sub(r"[^A-Za-z0-9._-]", "-", text)[:63]
    return re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)
