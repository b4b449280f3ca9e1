"""Configuration as data: dataclasses with paper defaults, loadable from YAML, overridable.

Every stage keeps its settings in one dataclass (one source of truth per setting). The same
dataclass is filled, in this order of precedence, from:

1. its field defaults (taken from the RLSD paper where the paper sets a value),
2. a YAML file (``--config file.yaml``), whose keys are field names,
3. command-line flags generated from the fields (``--learning-rate 1e-6``), and
4. ``--set name=value`` pairs (what KFP components and scripts pass through).

Unknown keys are an error naming the key and the valid choices, never silently ignored.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import yaml

T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value or key is invalid; the message names it."""


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _unwrap_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return tp, False


def coerce(value: Any, tp: Any, name: str) -> Any:
    """Convert ``value`` (from YAML, a CLI string or KFP) to the annotated type ``tp``.

    KFP hands metadata ints back as floats (``3.0``) and CLI values arrive as strings; both
    are accepted when they convert without loss.
    """
    base, optional = _unwrap_optional(tp)
    if value is None or (optional and isinstance(value, str) and value.lower() in ("", "none", "null")):
        if optional or base is Any:
            return None
        raise ConfigError(f"setting '{name}' must not be empty")
    origin = typing.get_origin(base)
    try:
        if base is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, (int, float)) and value in (0, 1):
                return bool(value)
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if base is int:
            if isinstance(value, float):
                if not value.is_integer():
                    raise ValueError(value)
                return int(value)
            return int(str(value).strip())
        if base is float:
            number = float(value)
            if not math.isfinite(number):  # NaN passes no comparison, so no validate() sees it
                raise ConfigError(f"setting '{name}' must be a finite number, got {value!r}")
            return number
        if base is str:
            return str(value)
        if origin in (list, tuple, Sequence) or base in (list, tuple):
            (item_tp,) = typing.get_args(base)[:1] or (Any,)
            items = value
            if isinstance(value, str):
                items = yaml.safe_load(value) if value.strip().startswith("[") else value.split(",")
            out = [coerce(v, item_tp, name) if item_tp is not Any else v for v in items]
            return tuple(out) if origin is tuple or base is tuple else out
        if origin is dict or base is dict:
            if isinstance(value, str):
                value = yaml.safe_load(value)
            if not isinstance(value, Mapping):
                raise ValueError(value)
            return dict(value)
        if typing.get_origin(base) is typing.Literal:
            choices = typing.get_args(base)
            if value not in choices:
                raise ConfigError(f"setting '{name}' must be one of {list(choices)}, got {value!r}")
            return value
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting '{name}' expects {getattr(base, '__name__', base)}, got {value!r}") from exc
    return value


def from_dict(cls: type[T], data: Mapping[str, Any], base: T | None = None) -> T:
    """Build ``cls`` from a mapping, on top of ``base`` (or the defaults)."""
    types_by_name = _field_types(cls)
    unknown = sorted(set(data) - set(types_by_name))
    if unknown:
        raise ConfigError(
            f"unknown setting(s) {unknown} for {cls.__name__}; valid: {sorted(types_by_name)}"
        )
    current = dataclasses.asdict(base) if base is not None else {}
    values = {k: coerce(v, types_by_name[k], k) for k, v in data.items()}
    obj = cls(**{**current, **values})
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def load_yaml(cls: type[T], path: str | Path, base: T | None = None) -> T:
    """Load ``cls`` from a YAML mapping of field names to values."""
    text = Path(path).read_text()
    data = yaml.safe_load(text) or {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping of settings, got {type(data).__name__}")
    return from_dict(cls, data, base)


def parse_overrides(pairs: Iterable[str]) -> dict[str, str]:
    """Parse ``name=value`` strings (``--set`` flags)."""
    out: dict[str, str] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"override {pair!r} is not of the form name=value")
        key, value = pair.split("=", 1)
        out[key.strip().replace("-", "_")] = value
    return out


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_config_args(parser: argparse.ArgumentParser, *classes: type) -> None:
    """Add ``--config``, ``--set`` and one flag per field of each settings class.

    A stage may take several settings classes (the trainer takes its own and the algorithm's);
    their field names must not collide, so that one flat YAML file or ``--set`` list can
    fill all of them.
    """
    seen: dict[str, str] = {}
    for cls in classes:
        for f in dataclasses.fields(cls):
            if f.name in seen:
                raise ConfigError(f"setting '{f.name}' is defined by both {seen[f.name]} "
                                  f"and {cls.__name__}")
            seen[f.name] = cls.__name__
    parser.add_argument("--config", help="YAML file of settings (a flat mapping of names)")
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                        help="override one setting (repeatable)")
    for cls in classes:
        group = parser.add_argument_group(f"{cls.__name__} settings")
        docs = _field_docs(cls)
        for f in dataclasses.fields(cls):
            group.add_argument(_flag(f.name), dest=f"cfg__{f.name}", default=None, metavar="V",
                               help=f"{docs.get(f.name, '')} (default: {field_default(f)!r})")


def field_default(f: dataclasses.Field) -> Any:
    """A settings field's default value (a fresh one for a ``default_factory``), or None
    when the field has none."""
    if f.default is not dataclasses.MISSING:
        return f.default
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return None


def configs_from_args(args: argparse.Namespace, *classes: type,
                      base: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
    """Fill each settings class from defaults, ``base`` (a profile's section,
    :mod:`rlsd.profiles`), ``--config`` YAML, flags and ``--set``, in that order."""
    data: dict[str, Any] = dict(base or {})
    if getattr(args, "config", None):
        loaded = yaml.safe_load(Path(args.config).read_text()) or {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{args.config}: expected a mapping of settings, "
                              f"got {type(loaded).__name__}")
        data.update(loaded)
    data.update({k[len("cfg__"):]: v for k, v in vars(args).items()
                 if k.startswith("cfg__") and v is not None})
    data.update(parse_overrides(getattr(args, "set", []) or []))
    names = {cls: {f.name for f in dataclasses.fields(cls)} for cls in classes}
    unknown = sorted(set(data) - set().union(*names.values()))
    if unknown:
        valid = sorted(set().union(*names.values()))
        raise ConfigError(f"unknown setting(s) {unknown}; valid: {valid}")
    return tuple(from_dict(cls, {k: v for k, v in data.items() if k in names[cls]})
                 for cls in classes)


def sectioned_configs(sections: Mapping[str, type], config_path: str | Path | None = None,
                      overrides: Iterable[str] = (),
                      base: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Build one settings object per section from a sectioned YAML file and overrides.

    For a command that runs several stages whose settings share names (the fused loop: the
    rollout's and the trainer's ``seed``): the YAML is ``{section: {field: value}}`` and an
    override is ``section.field=value`` (``rollout.temperature=0.8``). Each section starts
    from its dataclass's defaults, then ``base`` (a profile's values, :mod:`rlsd.profiles`;
    its sections this command lacks are skipped), the YAML, the overrides, and is validated.
    Raises :class:`ConfigError` naming an unknown section or setting.
    """
    data: dict[str, dict[str, Any]] = {name: dict((base or {}).get(name, {}))
                                       for name in sections}
    if config_path:
        loaded = yaml.safe_load(Path(config_path).read_text()) or {}
        if not isinstance(loaded, Mapping):
            raise ConfigError(f"{config_path}: expected a mapping of sections, "
                              f"got {type(loaded).__name__}")
        for name, values in loaded.items():
            if name not in sections:
                raise ConfigError(f"{config_path}: unknown section {name!r}; sections: "
                                  f"{sorted(sections)}")
            if not isinstance(values, Mapping):
                raise ConfigError(f"{config_path}: section {name!r} must be a mapping")
            data[name].update(values)
    for key, value in parse_overrides(overrides).items():
        section, dot, name = key.partition(".")
        if not dot or section not in sections:
            raise ConfigError(f"override {key!r} must be section.setting with a section of "
                              f"{sorted(sections)}")
        data[section][name] = value
    out: dict[str, Any] = {}
    for name, cls in sections.items():
        try:
            out[name] = from_dict(cls, data[name])
        except ConfigError as exc:
            raise ConfigError(f"[{name}] {exc}") from None
    return out


def config_from_args(cls: type[T], args: argparse.Namespace,
                     base: Mapping[str, Any] | None = None) -> T:
    """Combine defaults, ``base`` (a profile's section), ``--config`` YAML, per-field flags
    and ``--set`` overrides."""
    return configs_from_args(args, cls, base=base)[0]


def to_yaml(cfg: Any) -> str:
    """The YAML that :func:`load_yaml` reads back into an equal object."""
    data = dataclasses.asdict(cfg)
    return yaml.safe_dump({k: list(v) if isinstance(v, tuple) else v for k, v in data.items()},
                          sort_keys=False)


def _field_docs(cls: type) -> dict[str, str]:
    """Field help text from ``metadata={'help': ...}``."""
    return {f.name: f.metadata.get("help", "") for f in dataclasses.fields(cls)}
