"""``--set name=value`` strings for a stage CLI, from settings that travelled through KFP.

KFP passes ``dict`` parameters as protobuf Structs, whose numbers are all doubles: a
``{"zero_stage": 3}`` set in a pipeline arrives as ``{"zero_stage": 3.0}``, and
``rlsd.config`` rightly refuses the string ``"3.0"`` for an int setting. Integral floats are
written back as integers (a float setting reads ``"3"`` as 3.0 just as well); lists and
mappings are written as JSON, which the ``--set`` parser reads as YAML.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def override_args(settings: Mapping[str, Any] | None) -> list[str]:
    """``["name=value", ...]`` for ``settings``, in their order.

    >>> override_args({"zero_stage": 3.0, "lr": 1e-06, "steps": [1.0, 2.5], "on": True})
    ['zero_stage=3', 'lr=1e-06', 'steps=[1, 2.5]', 'on=True']
    """
    out = []
    for name, value in (settings or {}).items():
        plain = _plain(value)
        text = json.dumps(plain) if isinstance(plain, (dict, list)) else str(plain)
        out.append(f"{name}={text}")
    return out
