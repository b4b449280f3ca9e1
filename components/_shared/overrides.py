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


def plain_value(value: Any) -> Any:
    """``value`` with integral floats (KFP's doubles) as ints, in lists and mappings too."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(k): plain_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain_value(v) for v in value]
    return value


def override_args(settings: Mapping[str, Any] | None) -> list[str]:
    """``["name=value", ...]`` for ``settings``, in their order.

    >>> override_args({"zero_stage": 3.0, "lr": 1e-06, "steps": [1.0, 2.5], "on": True})
    ['zero_stage=3', 'lr=1e-06', 'steps=[1, 2.5]', 'on=True']
    """
    out = []
    for name, value in (settings or {}).items():
        plain = plain_value(value)
        text = json.dumps(plain) if isinstance(plain, (dict, list)) else str(plain)
        out.append(f"{name}={text}")
    return out


class SettingsConflict(ValueError):
    """A setting is given twice, as an input and in a ``settings`` mapping, with two values."""


def same_value(a: Any, b: Any) -> bool:
    """Whether two setting values are equal once KFP's doubles are read back as integers."""
    return plain_value(a) == plain_value(b)


def merge_settings(settings: Mapping[str, Any] | None, given: Mapping[str, Any], where: str,
                   inputs: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``settings`` (a component's ``*_settings`` mapping) with the ``given`` inputs on top.

    ``given``: setting name -> the value of the input that sets it; ``None`` means the input
    was left unset (its "not given" value), so the setting in ``settings`` (or the library
    default) stands. A setting both given and in ``settings`` must have the same value there:
    otherwise :class:`SettingsConflict` names both, so that neither wins silently.
    ``inputs``: setting name -> the input's name where they differ (``synthetic_n`` is the
    ``synthetic_n`` input, the evaluate component's ``max_prompts``...).

    >>> merge_settings({"top_p": 0.9, "seed": 3.0}, {"seed": 3, "temperature": None}, "x")
    {'top_p': 0.9, 'seed': 3}
    """
    out = dict(settings or {})
    for name, value in given.items():
        if value is None:
            continue
        if name in out and not same_value(out[name], value):
            label = (inputs or {}).get(name, name)
            raise SettingsConflict(
                f"{where}: the input {label}={value!r} and settings[{name!r}]="
                f"{plain_value(out[name])!r} disagree; give {name} once (as the input {label})")
        out[name] = value
    return out


def refuse_settings(settings: Mapping[str, Any] | None, owned: Mapping[str, str],
                    where: str) -> None:
    """Raise :class:`SettingsConflict` when ``settings`` holds a setting the component sets
    itself (``owned``: setting -> why)."""
    for name in (settings or {}):
        if name in owned:
            raise SettingsConflict(f"{where}: settings[{name!r}] cannot be set here: "
                                   f"{owned[name]}")


def split_settings(settings: Mapping[str, Any] | None, classes: Mapping[str, type],
                   where: str) -> dict[str, dict[str, Any]]:
    """A flat mapping of settings of several dataclasses (``classes``: key -> dataclass; their
    field names never collide, :func:`rlsd.config.add_config_args`), split by key.

    >>> from rlsd.algorithms import AlgorithmConfig
    >>> from rlsd.train import TrainConfig
    >>> split_settings({"zero_stage": 3, "clip_high": 0.3},
    ...                {"train": TrainConfig, "algorithm": AlgorithmConfig}, "x")
    {'train': {'zero_stage': 3}, 'algorithm': {'clip_high': 0.3}}
    """
    import dataclasses

    owner = {f.name: key for key, cls in classes.items() for f in dataclasses.fields(cls)}
    if settings is not None and not isinstance(settings, Mapping):
        raise SettingsConflict(f"{where}: settings must be a mapping of setting names to "
                               f"values, got {settings!r}")
    unknown = sorted(set(settings or {}) - set(owner))
    if unknown:
        names = ", ".join(cls.__name__ for cls in classes.values())
        raise SettingsConflict(f"{where}: unknown setting(s) {unknown} (fields of {names}); "
                               f"valid: {sorted(owner)}")
    out: dict[str, dict[str, Any]] = {key: {} for key in classes}
    for name, value in (settings or {}).items():
        out[owner[name]][name] = value
    return out
