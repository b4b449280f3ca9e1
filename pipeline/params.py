"""Checks of the pipeline's runtime parameters, run by compile, submit and the local run.

A bad value must fail before anything is uploaded or scheduled, with one line naming the
parameter, not after a whole round. There is one source of truth for every rule, and it is
not this module:

* a number (or the data source, or the trainer image) is checked by the settings dataclass
  of the component that reads it, built the way the component builds it, through
  :func:`rlsd.config.from_dict` (which runs the dataclass's ``validate()``): ``data_prep``
  fills :class:`rlsd.data.config.DataConfig`, ``rollout`` :class:`RolloutConfig`, ``score``
  :class:`ScoreConfig`, ``update`` :class:`TrainConfig`, :class:`AlgorithmConfig` and
  :class:`PyTorchJobSpec`, ``evaluate`` :class:`EvalConfig` (:data:`SETTINGS_CHECKS` says
  which parameter fills which field); in a fused pipeline (:data:`FUSED_SETTINGS_CHECKS`) the
  fused task's settings are built as ``python -m rlsd.loop --set section.name=value`` builds
  them (:mod:`components._shared.loop_settings`) and checked by
  :class:`rlsd.loop.LoopSettings` (each section's ``validate()``, then the loop's own rules);
* a model, data source or resume folder given as a URI follows the storage layer's rules
  (:func:`rlsd.storage.is_s3` refuses unknown schemes, :func:`rlsd.storage.parse_s3` bad
  bucket names and over-long keys);
* ``launcher`` is one of :mod:`rlsd.launch`'s modes;
* a float parameter must be finite: KFP carries parameters as JSON numbers, which have no
  NaN or infinity (and ``learning_rate=nan`` would otherwise reach the trainer: NaN fails no
  ``<=`` test).

:func:`check_parameters` raises :class:`ParameterError` (a :class:`rlsd.config.ConfigError`)
with the first problem; the CLIs print it as one line and exit with status 2.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from components._shared.loop_settings import (
    LOOP_PARAMETERS,
    check_loop_settings,
    loop_overrides,
)
from rlsd import storage
from rlsd.algorithms import AlgorithmConfig
from rlsd.config import ConfigError, from_dict
from rlsd.data.config import DataConfig
from rlsd.evaluate.config import EvalConfig
from rlsd.launch.spec import PyTorchJobSpec
from rlsd.rollout.config import RolloutConfig
from rlsd.score.config import ScoreConfig
from rlsd.train.config import TrainConfig

#: ``rlsd.launch``'s modes (``rlsd.launch.entry.MODES``; a test keeps the two equal).
LAUNCHERS = ("local", "pytorchjob")
#: String parameters that may hold a storage URI (``s3://...`` or a local path); other values
#: (``default``, a Hugging Face id, ``gsm8k``, ``hf:org/name``) have no scheme.
URI_PARAMETERS = ("model", "resume_from", "data_source")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: A settings field's source: a parameter name, or ``(name, how the component derives it)``.
Source = str | tuple[str, Callable[[Any], Any]]


class ParameterError(ConfigError):
    """A pipeline parameter value is invalid; the message names the parameter."""


@dataclass(frozen=True)
class SettingsCheck:
    """The settings dataclass a component fills from pipeline parameters."""

    component: str
    settings: type
    #: settings field -> the parameter it comes from (as the component body maps it).
    fields: Mapping[str, Source] = field(default_factory=dict)

    def parameters(self) -> dict[str, str]:
        """settings field -> parameter name."""
        return {f: src if isinstance(src, str) else src[0] for f, src in self.fields.items()}

    def values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The fields the component would pass, from ``params``."""
        out = {}
        for name, src in self.fields.items():
            param, derive = (src, None) if isinstance(src, str) else src
            out[name] = params[param] if derive is None else derive(params[param])
        return out


def _int(value: Any) -> Any:
    """KFP hands integer defaults back from the YAML as floats (``8.0``)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


@dataclass(frozen=True)
class LoopSettingsCheck:
    """The fused task's settings: the pipeline parameters it passes to ``rlsd.loop`` (named
    as in :data:`components._shared.loop_settings.LOOP_PARAMETERS`), checked by
    :class:`rlsd.loop.LoopSettings` as the loop builds it."""

    component: str
    #: The pipeline parameters the task passes on (the others, ``rounds``, ``algorithm`` and
    #: ``teacher_refresh_rounds``, are fixed at compile time and checked by CompileOptions).
    passed: tuple[str, ...]
    name: str = "LoopSettings"

    def parameters(self) -> dict[str, str]:
        """loop setting (``section.name``) -> parameter name."""
        return {target: p for p in self.passed for target in LOOP_PARAMETERS[p]}

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` as ``python -m rlsd.loop`` would on these values."""
        check_loop_settings(loop_overrides({p: params[p] for p in self.passed}))


_DATA_PREP = SettingsCheck("data_prep", DataConfig, {
    "source": "data_source", "synthetic_difficulty": "synthetic_difficulty",
    "synthetic_n": "synthetic_size", "seed": "seed", "prompt_template": "prompt_template",
    # data_prep: n_eval = eval_split_size or None (eval_fraction of the rows).
    "n_eval": ("eval_split_size", lambda n: _int(n) or None)})
_EVALUATE = SettingsCheck("evaluate", EvalConfig, {
    "samples_per_prompt": "eval_samples", "max_new_tokens": "max_new_tokens",
    "temperature": "eval_temperature", "seed": "seed",
    # evaluate: max_prompts = eval_prompts or None; k_values = sorted({1, n}).
    "max_prompts": ("eval_prompts", lambda n: _int(n) or None),
    "k_values": ("eval_samples", lambda n: sorted({1, _int(n)}))})


def _trainer_check(component: str) -> SettingsCheck:
    return SettingsCheck(component, PyTorchJobSpec, {
        "image": "trainer_image", "nodes": "nodes", "gpus_per_node": "gpus_per_node",
        "nproc_per_node": "nproc_per_node"})


#: Every settings dataclass a component builds from pipeline parameters, mapped exactly as the
#: component body maps them (components/<name>/component.py).
SETTINGS_CHECKS: tuple[SettingsCheck, ...] = (
    _DATA_PREP,
    SettingsCheck("rollout", RolloutConfig, {
        "samples_per_prompt": "samples_per_prompt", "max_new_tokens": "max_new_tokens",
        "temperature": "temperature", "top_p": "top_p", "seed": "seed"}),
    SettingsCheck("score", ScoreConfig, {"micro_batch_tokens": "micro_batch_tokens"}),
    SettingsCheck("update", TrainConfig, {
        "learning_rate": "learning_rate", "steps_per_round": "steps_per_round",
        "micro_batch_tokens": "micro_batch_tokens", "seed": "seed"}),
    SettingsCheck("update", AlgorithmConfig, {
        "lam0": "lam0", "lam_decay_steps": "lam_decay_steps", "eps_w": "eps_w"}),
    _trainer_check("update"),
    _EVALUATE,
)
#: A fused pipeline has this parameter, a staged one has not (:mod:`pipeline.pipeline`).
FUSED_PARAMETER = "save_every"
#: The same for a fused pipeline: the fused task replaces rollout, score and update.
FUSED_SETTINGS_CHECKS: tuple[SettingsCheck | LoopSettingsCheck, ...] = (
    _DATA_PREP,
    LoopSettingsCheck("fused", (
        "save_every", "prompts_per_round", "samples_per_prompt", "max_new_tokens",
        "temperature", "top_p", "seed", "micro_batch_tokens", "learning_rate", "steps_per_round",
        "lam0", "lam_decay_steps", "eps_w")),
    _trainer_check("fused"),
    _EVALUATE,
)


def settings_checks(params: Mapping[str, Any]) -> tuple[SettingsCheck | LoopSettingsCheck, ...]:
    """The checks of a fused pipeline's parameters (it has :data:`FUSED_PARAMETER`) or of a
    staged pipeline's."""
    return FUSED_SETTINGS_CHECKS if FUSED_PARAMETER in params else SETTINGS_CHECKS


def _shown(value: Any, limit: int = 100) -> str:
    """``repr(value)``, cut to ``limit`` characters for a one-line message."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def check_storage_uri(name: str, value: str) -> None:
    """A parameter that names a URI follows :mod:`rlsd.storage`'s rules (no-op otherwise)."""
    text = value.strip()
    if not _SCHEME.match(text):
        return
    try:
        if storage.is_s3(text):  # refuses schemes the storage layer cannot read
            storage.parse_s3(text)  # bucket name, key length
    except storage.UnsupportedURIError as exc:
        raise ParameterError(f"parameter {name}={_shown(value)}: {exc}") from None


def _check_settings(check: SettingsCheck | LoopSettingsCheck, params: Mapping[str, Any]
                    ) -> None:
    try:
        if isinstance(check, LoopSettingsCheck):
            check.validate(params)
        else:
            from_dict(check.settings, check.values(params))
    except ConfigError as exc:
        text = str(exc)
        by_field = check.parameters()  # a loop setting's name: the part after "section."
        named = [p for f, p in by_field.items()  # "samples_per_prompt" or "samples per prompt"
                 if re.search(r"\b" + re.escape(f.rpartition(".")[2]).replace("_", "[_ ]")
                              + r"\b", text)]
        culprits = list(dict.fromkeys(named or by_field.values()))
        shown = ", ".join(f"{p}={_shown(params[p])}" for p in culprits)
        what = check.name if isinstance(check, LoopSettingsCheck) else check.settings.__name__
        raise ParameterError(f"parameter {shown}: {text} ({what}, read by "
                             f"the {check.component} task)") from None


def check_parameters(params: Mapping[str, Any], types: Mapping[str, str] | None = None
                     ) -> None:
    """Check every pipeline parameter value in ``params`` (all of them: defaults merged with
    overrides) of a staged or a fused pipeline (:func:`settings_checks`). ``types``: KFP
    parameter types by name (``Float``...); floats are checked finite whatever their declared
    type. Raises :class:`ParameterError` on the first problem.
    """
    checks = settings_checks(params)
    needed = {p for check in checks for p in check.parameters().values()}
    missing = sorted(needed - set(params))
    if missing:
        raise ParameterError(f"pipeline parameter(s) {missing} are missing: the package was "
                             "compiled from another version of pipeline.pipeline; recompile "
                             "it with python -m pipeline.compile")
    for name, value in params.items():
        declared = (types or {}).get(name, "")
        if (declared == "Float" or isinstance(value, float)) and isinstance(value, (int, float)) \
                and not math.isfinite(value):
            raise ParameterError(f"parameter {name}={_shown(value)}: must be a finite number (KFP "
                                 "passes parameters as JSON numbers, which have no NaN or "
                                 "infinity)")
    for check in checks:
        _check_settings(check, params)
    for name in URI_PARAMETERS:
        if isinstance(params.get(name), str):
            check_storage_uri(name, params[name])
    if "launcher" in params and params["launcher"] not in LAUNCHERS:
        # In the pipeline only the update task reads it, after a whole round.
        raise ParameterError(f"parameter launcher must be one of {list(LAUNCHERS)}, "
                             f"got {_shown(params['launcher'])}")


def pipeline_defaults(pipeline: Any) -> dict[str, Any]:
    """Parameter name -> default of ``pipeline`` (a pipeline function or a component loaded
    from the compiled YAML)."""
    inputs = pipeline.component_spec.inputs or {}
    return {name: spec.default for name, spec in inputs.items()
            if not str(spec.type).startswith("system.")}


def pipeline_types(pipeline: Any) -> dict[str, str]:
    """Parameter name -> KFP type (``Integer``, ``Float``, ``String``...)."""
    return {name: str(spec.type) for name, spec in (pipeline.component_spec.inputs or {}).items()}
