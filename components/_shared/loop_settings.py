"""The fused component's settings as ``python -m rlsd.loop`` reads them: ``section.name=value``.

The fused loop (:mod:`rlsd.loop`) takes its settings in sections, one per stage, with the
staged CLIs' own names (``rollout.temperature``, ``train.learning_rate``...). The fused
component takes the staged pipeline's parameter names; :data:`LOOP_PARAMETERS` says which
loop setting(s) each one fills, and :func:`loop_overrides` writes the ``--set`` strings. The
component builds its command line with it and :mod:`pipeline.params` checks a pipeline's
parameter values with it, through :func:`check_loop_settings` (the loop's own
``LoopSettings.validate()``), so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from components._shared.overrides import (
    SettingsConflict,
    override_args,
    plain_value,
    same_value,
    split_settings,
)

#: Fused component parameter -> the rlsd.loop setting(s) it fills (``section.name``).
LOOP_PARAMETERS: dict[str, tuple[str, ...]] = {
    "rounds": ("loop.rounds",),
    "save_every": ("loop.save_every",),
    "prompts_per_round": ("loop.prompts_per_round",),
    "samples_per_prompt": ("rollout.samples_per_prompt",),
    "max_new_tokens": ("rollout.max_new_tokens",),
    "temperature": ("rollout.temperature",),
    "top_p": ("rollout.top_p",),
    # The staged pipeline gives one seed to the rollout and the update tasks.
    "seed": ("rollout.seed", "train.seed"),
    # ... and one token budget to the score and the update tasks.
    "micro_batch_tokens": ("score.micro_batch_tokens", "train.micro_batch_tokens"),
    "learning_rate": ("train.learning_rate",),
    "steps_per_round": ("train.steps_per_round",),
    "algorithm": ("algorithm.algorithm",),
    "teacher_refresh_rounds": ("algorithm.teacher_refresh_rounds",),
    "lam0": ("algorithm.lam0",),
    "lam_decay_steps": ("algorithm.lam_decay_steps",),
    "eps_w": ("algorithm.eps_w",),
}


#: The fused component's flat settings inputs (the pipeline's parameters of the same names,
#: read by the staged components as their ``settings``) -> the loop sections they fill.
FLAT_SECTIONS: dict[str, tuple[str, ...]] = {
    "rollout_settings": ("rollout",),
    "verify_settings": ("verify",),
    "score_settings": ("score",),
    "train_settings": ("train", "algorithm"),
    "fused_settings": ("loop",),
}


class LoopSettingsError(SettingsConflict):
    """``loop_settings`` is not a mapping of sections to mappings of settings, or a setting
    is given twice with two values."""


def loop_sections(loop_settings: Mapping[str, Mapping[str, Any]] | None,
                  flat: Mapping[str, Mapping[str, Any] | None], where: str = "fused"
                  ) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """``(sections, origin)``: the loop settings by section, from ``loop_settings`` (by
    section) and the flat ``*_settings`` inputs (``flat``: input name of
    :data:`FLAT_SECTIONS` -> its mapping), and where each ``section.name`` came from.

    ``train_settings`` holds ``rlsd.train.TrainConfig`` and ``AlgorithmConfig`` fields and is
    split between the two sections. A setting in both ``loop_settings`` and a flat input must
    have one value (:class:`LoopSettingsError` otherwise); a key that is no field of its
    section's dataclass is an error naming the valid ones.
    """
    from rlsd.loop.config import SECTIONS

    sections: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for section, fields in (loop_settings or {}).items():
        if not isinstance(fields, Mapping):
            raise LoopSettingsError(f"loop_settings[{section!r}] must be a mapping of "
                                    f"settings, got {fields!r}")
        sections[section] = dict(fields)
        origin.update({f"{section}.{name}": f"loop_settings[{section!r}][{name!r}]"
                       for name in fields})
    for name, settings in flat.items():
        if name not in FLAT_SECTIONS:
            raise KeyError(f"{name!r} is not a flat settings input; known: "
                           f"{sorted(FLAT_SECTIONS)}")
        split = split_settings(settings, {s: SECTIONS[s] for s in FLAT_SECTIONS[name]},
                               f"{where}: {name}")
        for section, fields in split.items():
            target = sections.setdefault(section, {})
            for field_name, value in fields.items():
                key = f"{section}.{field_name}"
                if field_name in target and not same_value(target[field_name], value):
                    raise LoopSettingsError(
                        f"{where}: {name}[{field_name!r}]={plain_value(value)!r} and "
                        f"{origin[key]}={plain_value(target[field_name])!r} disagree; give it once")
                target[field_name] = value
                origin[key] = f"{name}[{field_name!r}]"
    return sections, origin


def check_agreement(values: Mapping[str, Any], sections: Mapping[str, Mapping[str, Any]],
                    origin: Mapping[str, str], where: str = "fused",
                    labels: Mapping[str, str] | None = None) -> None:
    """A setting that an input of :data:`LOOP_PARAMETERS` fills (``values``) and a section
    also holds must have the same value there: :class:`LoopSettingsError` names both.
    ``labels``: parameter -> how to name it (default: ``the input <name>``)."""
    for param, value in values.items():
        for target in LOOP_PARAMETERS.get(param, ()):
            section, _, name = target.partition(".")
            held = sections.get(section, {})
            if name in held and not same_value(held[name], value):
                label = (labels or {}).get(param, f"the input {param}")
                raise LoopSettingsError(
                    f"{where}: {label}={value!r} and {origin.get(target, target)}="
                    f"{plain_value(held[name])!r} disagree; give {target} once (as {label})")


def loop_overrides(values: Mapping[str, Any],
                   settings: Mapping[str, Mapping[str, Any]] | None = None) -> list[str]:
    """``["section.name=value", ...]`` for ``python -m rlsd.loop --set``.

    ``settings``: other loop settings by section (``{"rollout": {"top_p": 0.95}}``), written
    first; ``values``: fused component parameters (keys of :data:`LOOP_PARAMETERS`), written
    after them, so a parameter wins over the same setting in ``settings``.

    >>> loop_overrides({"seed": 3, "lam0": 0.5}, {"verify": {"time_limit_s": 5.0}})
    ['verify.time_limit_s=5', 'rollout.seed=3', 'train.seed=3', 'algorithm.lam0=0.5']
    """
    flat: dict[str, Any] = {}
    for section, fields in (settings or {}).items():
        if not isinstance(fields, Mapping):
            raise LoopSettingsError(f"loop_settings[{section!r}] must be a mapping of "
                                    f"settings, got {fields!r}")
        for name, value in fields.items():
            flat[f"{section}.{name}"] = value
    for param, value in values.items():
        if param not in LOOP_PARAMETERS:
            raise KeyError(f"{param!r} is not a fused loop parameter; known: "
                           f"{sorted(LOOP_PARAMETERS)}")
        for target in LOOP_PARAMETERS[param]:
            flat[target] = value
    return override_args(flat)


def check_loop_settings(overrides: list[str]) -> Any:
    """The :class:`rlsd.loop.LoopSettings` that ``python -m rlsd.loop --set ...`` builds from
    ``overrides``, validated as the loop validates it; :class:`rlsd.config.ConfigError`
    naming the first bad setting."""
    from rlsd.config import sectioned_configs
    from rlsd.loop.config import SECTIONS, LoopSettings

    settings = LoopSettings(**sectioned_configs(SECTIONS, None, overrides))
    settings.validate()
    return settings
