"""The pipeline's runtime parameters, and their checks, run by compile, submit, the local run
and the pipeline's own first task.

:data:`PIPELINE_PARAMETERS` is the one table of the runtime parameters both pipelines take
(name, type, default, help, mode): :mod:`pipeline.pipeline` builds both signatures from it.
Defaults come from the settings dataclasses that read them. Two kinds of parameter:

* typed parameters (``temperature``, ``learning_rate``, ``data_source``...), each the home of
  one setting (or of one setting several tasks share: ``seed``, ``max_new_tokens``);
* settings groups, one dict per stage (:data:`SETTINGS_GROUPS`): ``data_settings``
  (:class:`rlsd.data.DataConfig`), ``rollout_settings``, ``verify_settings``,
  ``score_settings``, ``train_settings`` (:class:`TrainConfig` and :class:`AlgorithmConfig`),
  ``eval_settings``, ``job_settings`` (:class:`TrainingJobSpec`) and, fused only,
  ``fused_settings`` (:class:`rlsd.loop.config.LoopConfig`). They reach every other field of
  those dataclasses at run time (field mappings, verifier, clip ranges, top-p of the
  evaluation, trainer resources...). A field that has a typed parameter may appear in its
  group only with the same value (a different one is an error naming both, never a silent
  winner); a field the pipeline sets itself (the shard of a rollout, the algorithm, the job's
  name...) may not appear at all.

A bad value must fail before anything is uploaded or scheduled, with one line naming the
parameter (and the setting, inside a group), not after a whole round. There is one source of
truth for every rule, and it is not this module:

* a setting is checked by the settings dataclass of the component that reads it, built the
  way the component builds it, through :func:`rlsd.config.from_dict` (which runs the
  dataclass's ``validate()``): ``data_prep`` fills :class:`rlsd.data.config.DataConfig`,
  ``rollout`` :class:`RolloutConfig`, ``verify`` :class:`VerifyConfig`, ``score``
  :class:`ScoreConfig`, ``update`` :class:`TrainConfig`, :class:`AlgorithmConfig` and
  :class:`TrainingJobSpec`, ``evaluate`` :class:`EvalConfig` (:data:`SETTINGS_CHECKS` says
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
with the first problem; the CLIs print it as one line and exit with status 2. The pipeline's
first task (``check settings``, :func:`check_run`) runs the same function on the values a run
really got (the KFP UI's included), before base model and data prep start.
"""

from __future__ import annotations

import dataclasses
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
from components._shared.overrides import plain_value, same_value
from pipeline.options import DEFAULT_TRAINER_IMAGE, MODES
from rlsd import storage
from rlsd.algorithms import AlgorithmConfig
from rlsd.config import ConfigError, from_dict
from rlsd.data.config import DataConfig
from rlsd.evaluate.config import EvalConfig
from rlsd.launch.spec import TrainingJobSpec
from rlsd.loop.config import LoopConfig
from rlsd.rollout.config import RolloutConfig
from rlsd.score.config import ScoreConfig
from rlsd.train.config import TrainConfig
from rlsd.verify.settings import VerifyConfig

#: ``rlsd.launch``'s modes (``rlsd.launch.entry.MODES``; a test keeps the two equal).
LAUNCHERS = ("local", "pytorchjob", "trainjob")
#: String parameters that may hold a storage URI (``s3://...`` or a local path); other values
#: (``default``, a Hugging Face id, ``gsm8k``, ``hf:org/name``) have no scheme.
URI_PARAMETERS = ("model", "resume_from", "data_source")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: A settings field's source: a parameter name, or ``(name, how the component derives it)``;
#: a derived ``None`` means "not set" (the group's value, else the dataclass default, stands).
Source = str | tuple[str, Callable[[Any], Any]]


class ParameterError(ConfigError):
    """A pipeline parameter value is invalid; the message names the parameter."""


def _int(value: Any) -> Any:
    """KFP hands integer defaults back from the YAML as floats (``8.0``)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _unset_if_zero(value: Any) -> Any:
    """A count parameter whose 0 means "not set" (``eval_split_size``, ``eval_prompts``)."""
    return _int(value) or None


def _unset_if_empty(value: Any) -> Any:
    """A string parameter whose empty value means "not set" (``prompt_template``)."""
    return value or None


# --- the settings checks ------------------------------------------------------------------

@dataclass(frozen=True)
class SettingsCheck:
    """The settings dataclass a component fills from pipeline parameters."""

    component: str
    settings: type
    #: settings field -> the typed parameter it comes from (as the component body maps it).
    fields: Mapping[str, Source] = field(default_factory=dict)
    #: the settings group (dict parameter) that carries the dataclass's other fields.
    group: str | None = None
    #: settings field -> why the group may not set it (the pipeline sets it itself).
    owned: Mapping[str, str] = field(default_factory=dict)
    #: fields whose typed value is only a default: the group's value, when given, wins
    #: (evaluate's ``k_values``, derived from ``eval_samples``).
    fallback: frozenset[str] = frozenset()
    #: the ``rlsd.loop`` section these settings fill in a fused job.
    section: str | None = None

    def parameters(self) -> dict[str, str]:
        """settings field -> typed parameter name."""
        return {f: src if isinstance(src, str) else src[0] for f, src in self.fields.items()}

    def values(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The fields the component would pass, from ``params`` (the group's, then the typed
        parameters'); :class:`ParameterError` when the two disagree on a field."""
        return resolve(self, params)[0]


@dataclass(frozen=True)
class LoopSettingsCheck:
    """The fused task's settings: the pipeline parameters it passes to ``rlsd.loop`` (named
    as in :data:`components._shared.loop_settings.LOOP_PARAMETERS`) and the settings groups
    of its sections (``sections``), checked by :class:`rlsd.loop.LoopSettings` as the loop
    builds it."""

    component: str
    #: The pipeline parameters the task passes on (the others, ``rounds``, ``algorithm`` and
    #: ``teacher_refresh_rounds``, are fixed at compile time and checked by CompileOptions).
    passed: tuple[str, ...]
    #: The group checks whose dicts fill the loop's sections (their ``section``).
    sections: tuple[SettingsCheck, ...] = ()
    name: str = "LoopSettings"

    def parameters(self) -> dict[str, str]:
        """loop setting (``section.name``) -> parameter name."""
        return {target: p for p in self.passed for target in LOOP_PARAMETERS[p]}

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise :class:`ConfigError` as ``python -m rlsd.loop`` would on these values."""
        check_loop_settings(self.overrides(params)[0])

    def overrides(self, params: Mapping[str, Any]) -> tuple[list[str], dict[str, str]]:
        """``(--set strings, origin)``: what the fused task passes to the loop, and where each
        ``section.name`` came from (a parameter or a group entry, for messages)."""
        sections: dict[str, dict[str, Any]] = {}
        origin: dict[str, str] = {}
        for check in self.sections:
            values, where = resolve(check, params)
            sections.setdefault(check.section, {}).update(group_values(check, params))
            origin.update({f"{check.section}.{name}": where[name] for name in values})
        return loop_overrides({p: params[p] for p in self.passed}, sections), origin


_ROUND_SHARDS = "the pipeline shards each round itself (the rollout_shards compile option)"
_DATA_PREP = SettingsCheck("data_prep", DataConfig, {
    "source": "data_source", "synthetic_difficulty": "synthetic_difficulty",
    "synthetic_n": "synthetic_size", "seed": "seed",
    "prompt_template": ("prompt_template", _unset_if_empty),
    # data_prep: n_eval = eval_split_size or None (eval_fraction of the rows).
    "n_eval": ("eval_split_size", _unset_if_zero)}, group="data_settings")
_ROLLOUT = SettingsCheck("rollout", RolloutConfig, {
    "samples_per_prompt": "samples_per_prompt", "max_new_tokens": "max_new_tokens",
    "temperature": "temperature", "top_p": "top_p", "seed": "seed"},
    group="rollout_settings", section="rollout", owned={
        "shard_index": _ROUND_SHARDS, "num_shards": _ROUND_SHARDS,
        "max_prompts": "prompts_per_round chooses each round's prompts"})
_VERIFY = SettingsCheck("verify", VerifyConfig, group="verify_settings", section="verify")
_SCORE = SettingsCheck("score", ScoreConfig, {"micro_batch_tokens": "micro_batch_tokens"},
                       group="score_settings", section="score", owned={
    "behaviour_logprobs": "computed exactly when steps_per_round > 1 (the update's later "
                          "steps are off-policy and need them)"})
_TRAIN = SettingsCheck("update", TrainConfig, {
    "learning_rate": "learning_rate", "steps_per_round": "steps_per_round",
    "micro_batch_tokens": "micro_batch_tokens", "seed": "seed"},
    group="train_settings", section="train")
_ALGORITHM = SettingsCheck("update", AlgorithmConfig, {
    "lam0": "lam0", "lam_decay_steps": "lam_decay_steps", "eps_w": "eps_w"},
    group="train_settings", section="algorithm", owned={
        "algorithm": "the algorithm shapes the graph: the --algorithm compile option",
        "teacher_refresh_rounds": "the --teacher-refresh-rounds compile option"})
_EVALUATE = SettingsCheck("evaluate", EvalConfig, {
    "samples_per_prompt": "eval_samples", "max_new_tokens": "max_new_tokens",
    "temperature": "eval_temperature", "seed": "seed",
    # evaluate: max_prompts = eval_prompts or None; k_values = sorted({1, n}) unless set.
    "max_prompts": ("eval_prompts", _unset_if_zero),
    "k_values": ("eval_samples", lambda n: sorted({1, _int(n)}))},
    group="eval_settings", fallback=frozenset({"k_values"}))
_LOOP = SettingsCheck("fused", LoopConfig, {
    "prompts_per_round": "prompts_per_round", "save_every": "save_every"},
    group="fused_settings", section="loop", owned={
        "rounds": "the rounds and rounds_per_job compile options",
        "keep_tables": "the fused task outputs the last round's tables (the report reads "
                       "them)"})
_JOB_SET_BY_TASK = "set by the pipeline for each training job"


def _trainer_check(component: str) -> SettingsCheck:
    return SettingsCheck(component, TrainingJobSpec, {
        "image": "trainer_image", "nodes": "nodes", "gpus_per_node": "gpus_per_node",
        "nproc_per_node": "nproc_per_node"}, group="job_settings", owned={
            "name": _JOB_SET_BY_TASK, "kfp_run_id": _JOB_SET_BY_TASK,
            "round_index": _JOB_SET_BY_TASK, "module": _JOB_SET_BY_TASK,
            "command": _JOB_SET_BY_TASK, "args": _JOB_SET_BY_TASK,
            "s3_secret": "the --s3-secret compile option"})


#: Every settings dataclass a component builds from pipeline parameters, mapped exactly as the
#: component body maps them (components/<name>/component.py).
SETTINGS_CHECKS: tuple[SettingsCheck, ...] = (
    _DATA_PREP, _ROLLOUT, _VERIFY, _SCORE, _TRAIN, _ALGORITHM, _trainer_check("update"),
    _EVALUATE,
)
#: A fused pipeline has this parameter, a staged one has not (:mod:`pipeline.pipeline`).
FUSED_PARAMETER = "save_every"
#: The same for a fused pipeline: the fused task replaces rollout, verify, score and update.
FUSED_SETTINGS_CHECKS: tuple[SettingsCheck | LoopSettingsCheck, ...] = (
    _DATA_PREP,
    LoopSettingsCheck("fused", (
        "save_every", "prompts_per_round", "samples_per_prompt", "max_new_tokens",
        "temperature", "top_p", "seed", "micro_batch_tokens", "learning_rate", "steps_per_round",
        "lam0", "lam_decay_steps", "eps_w"),
        sections=(_ROLLOUT, _VERIFY, _SCORE, _TRAIN, _ALGORITHM, _LOOP)),
    _trainer_check("fused"),
    _EVALUATE,
)


def _group_checks() -> dict[str, list[SettingsCheck]]:
    out: dict[str, list[SettingsCheck]] = {}
    for check in (*SETTINGS_CHECKS, _LOOP):
        if check.group and check not in out.get(check.group, []):
            out.setdefault(check.group, []).append(check)
    return out


#: Settings group (dict parameter) -> the checks of the dataclasses whose fields it holds.
SETTINGS_GROUPS: dict[str, list[SettingsCheck]] = _group_checks()


def settings_checks(params: Mapping[str, Any]) -> tuple[SettingsCheck | LoopSettingsCheck, ...]:
    """The checks of a fused pipeline's parameters (it has :data:`FUSED_PARAMETER`) or of a
    staged pipeline's."""
    return FUSED_SETTINGS_CHECKS if FUSED_PARAMETER in params else SETTINGS_CHECKS


def _checks_of(checks: tuple[SettingsCheck | LoopSettingsCheck, ...]) -> list[SettingsCheck]:
    out: list[SettingsCheck] = []
    for check in checks:
        out.extend(check.sections if isinstance(check, LoopSettingsCheck) else (check,))
    return out


# --- the parameter table --------------------------------------------------------------------

@dataclass(frozen=True)
class PipelineParameter:
    """One runtime parameter of the compiled pipeline."""

    name: str
    type: type
    default: Any
    help: str
    #: The modes whose pipeline has it (:data:`pipeline.options.MODES`).
    modes: tuple[str, ...] = MODES
    #: Whether the training report lists its value among the run's settings.
    reported: bool = False


def _group_help(group: str, what: str, example: str) -> str:
    """A settings group's help: what it holds, an example, and which fields live elsewhere."""
    checks = SETTINGS_GROUPS[group]
    typed = {f: p for c in checks for f, p in c.parameters().items() if f not in c.fallback}
    owned = sorted({f for c in checks for f in c.owned})
    text = f"{what}, e.g. {example}."
    if typed:
        shown = ", ".join(f if f == p else f"{f} ({p})" for f, p in typed.items())
        text += (f" Fields with their own parameter may be repeated here only with the same "
                 f"value: {shown}.")
    if owned:
        text += f" Set by the pipeline, not here: {', '.join(owned)}."
    return text


_DATA, _ROLL, _EVAL, _LOOPC = DataConfig(), RolloutConfig(), EvalConfig(), LoopConfig()
_TRAINC, _ALGOC, _JOB = TrainConfig(), AlgorithmConfig(), TrainingJobSpec()

#: Every runtime parameter, in signature order: both pipelines are built from this table.
PIPELINE_PARAMETERS: tuple[PipelineParameter, ...] = (
    PipelineParameter("model", str, "default",
                      "starting policy: 'default' (SmolLM2-135M-Instruct), an s3:// checkpoint "
                      "prefix, a Hugging Face id or a folder"),
    PipelineParameter("resume_from", str, "",
                      "continue a stopped run: a round's policy checkpoint or a run root "
                      "(overrides model)"),
    PipelineParameter("resume_round", int, -1,
                      "with a run root in resume_from: the round to resume from (-1: the "
                      "last finished one)"),
    PipelineParameter("data_source", str, _DATA.source,
                      "data prep's source: 'synthetic', a preset (gsm8k, math500), a Hugging "
                      "Face id, or a .jsonl / .parquet path or s3:// URI"),
    PipelineParameter("synthetic_difficulty", int, _DATA.synthetic_difficulty,
                      "synthetic task level (data_source=synthetic)"),
    PipelineParameter("synthetic_size", int, _DATA.synthetic_n,
                      "synthetic problems (data_source=synthetic)"),
    PipelineParameter("eval_split_size", int, 0,
                      "held-out eval rows data prep sets aside (0: eval_fraction of the "
                      "rows, or data_settings' n_eval)"),
    PipelineParameter("prompt_template", str, _DATA.prompt_template,
                      "template every prompt is put in, with one {question} slot",
                      reported=True),
    PipelineParameter("samples_per_prompt", int, _ROLL.samples_per_prompt,
                      "G: responses sampled per prompt", reported=True),
    PipelineParameter("prompts_per_round", int, _LOOPC.prompts_per_round,
                      "prompts each round samples (0: all)", reported=True),
    PipelineParameter("max_new_tokens", int, _ROLL.max_new_tokens,
                      "longest response in tokens (rollout and evaluation)", reported=True),
    PipelineParameter("temperature", float, _ROLL.temperature, "rollout sampling temperature",
                      reported=True),
    PipelineParameter("top_p", float, _ROLL.top_p, "rollout nucleus sampling mass (1.0: off)",
                      reported=True),
    PipelineParameter("learning_rate", float, _TRAINC.learning_rate, "AdamW learning rate",
                      reported=True),
    PipelineParameter("lam0", float, _ALGOC.lam0, "RLSD λ at step 0"),
    PipelineParameter("lam_decay_steps", int, _ALGOC.lam_decay_steps,
                      "optimizer steps over which λ decays linearly to 0"),
    PipelineParameter("eps_w", float, _ALGOC.eps_w, "ε_w: clip range of the RLSD weight w_t"),
    PipelineParameter("steps_per_round", int, _TRAINC.steps_per_round,
                      "optimizer steps per round", reported=True),
    PipelineParameter("micro_batch_tokens", int, _TRAINC.micro_batch_tokens,
                      "token budget of a micro-batch (score and update)"),
    PipelineParameter("save_every", int, _LOOPC.save_every,
                      "fused jobs write a checkpoint every N rounds (and after their last)",
                      modes=("fused",)),
    PipelineParameter("nodes", int, _JOB.nodes, "trainer nodes"),
    PipelineParameter("gpus_per_node", int, _JOB.gpus_per_node, "GPUs per trainer node"),
    PipelineParameter("nproc_per_node", int, _JOB.nproc_per_node,
                      "trainer processes per node (0: gpus_per_node, or 1)"),
    PipelineParameter("trainer_image", str, DEFAULT_TRAINER_IMAGE,
                      "image of the training job's pods"),
    PipelineParameter("launcher", str, "pytorchjob",
                      "how the update runs: pytorchjob (Kubeflow Training Operator), trainjob "
                      "(Kubeflow Trainer v2) or local (torchrun in the task)"),
    PipelineParameter("eval_samples", int, _EVAL.samples_per_prompt,
                      "responses per eval prompt"),
    PipelineParameter("eval_prompts", int, 0, "eval prompts read (0: all held-out rows)"),
    PipelineParameter("eval_temperature", float, _EVAL.temperature,
                      "evaluation sampling temperature (0: greedy)"),
    PipelineParameter("seed", int, _DATA.seed,
                      "seed of data prep's split, sampling, training and evaluation"),
    PipelineParameter("data_settings", dict, {}, _group_help(
        "data_settings", "other rlsd.data.DataConfig fields of data prep (field mappings, "
        "answer marker, verifier, hint column, split sizes...)",
        '{"prompt_field": "question", "answer_field": "answer", "answer_after": "####"} for '
        "raw GSM8K rows")),
    PipelineParameter("rollout_settings", dict, {}, _group_help(
        "rollout_settings", "other rlsd.rollout.RolloutConfig fields of the rollout",
        '{"backend": "vllm", "batch_size": 16}')),
    PipelineParameter("verify_settings", dict, {}, _group_help(
        "verify_settings", "rlsd.verify.VerifyConfig fields of the grading",
        '{"default_verifier": "math", "time_limit_s": 5, "format_weight": 0.0}')),
    PipelineParameter("score_settings", dict, {}, _group_help(
        "score_settings", "other rlsd.score.ScoreConfig fields of the self-teacher pass "
        "(unused by GRPO)", '{"hint_source": "solution"}')),
    PipelineParameter("train_settings", dict, {}, _group_help(
        "train_settings", "other rlsd.train.TrainConfig and rlsd.algorithms.AlgorithmConfig "
        "fields of the update", '{"zero_stage": 3, "clip_high": 0.28, "grad_clip": 1.0}')),
    PipelineParameter("eval_settings", dict, {}, _group_help(
        "eval_settings", "other rlsd.evaluate.EvalConfig fields of both evaluations",
        '{"top_p": 0.95, "k_values": [1, 4]}')),
    PipelineParameter("job_settings", dict, {}, _group_help(
        "job_settings", "other rlsd.launch.TrainingJobSpec fields of the training jobs, over "
        "the compiled trainer settings field by field",
        '{"memory": "200Gi", "namespace": "team-a", "training_runtime": "torch-distributed"}')),
    PipelineParameter("fused_settings", dict, {}, _group_help(
        "fused_settings", "other rlsd.loop LoopConfig fields of the fused jobs",
        '{"vllm_memory_fraction": 0.5}'), modes=("fused",)),
)


def pipeline_parameters(mode: str) -> tuple[PipelineParameter, ...]:
    """The runtime parameters of the ``mode`` pipeline, in signature order."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {list(MODES)}, got {mode!r}")
    return tuple(p for p in PIPELINE_PARAMETERS if mode in p.modes)


# --- checking values ------------------------------------------------------------------------

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


def group_values(check: SettingsCheck, params: Mapping[str, Any]) -> dict[str, Any]:
    """The entries of ``check``'s settings group that are fields of its dataclass."""
    names = {f.name for f in dataclasses.fields(check.settings)}
    given = params.get(check.group) or {} if check.group else {}
    return {k: v for k, v in given.items() if k in names}


def resolve(check: SettingsCheck, params: Mapping[str, Any],
            base: Mapping[str, Any] | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """``(values, origin)``: the fields the component builds ``check.settings`` from (``base``,
    then the group's entries, then the typed parameters'), and for each field the parameter
    (or group entry) it came from, as ``name=value``.

    Raises :class:`ParameterError` when a group entry and the typed parameter of the same
    field disagree (a fallback field's group entry wins instead).
    """
    values = dict(base or {})
    origin = {name: f"(compiled trainer setting) {name}={_shown(plain_value(v))}"
              for name, v in values.items()}
    group = group_values(check, params)
    for name, value in group.items():
        values[name] = value
        origin[name] = f"{check.group}[{name!r}]={_shown(plain_value(value))}"
    for name, src in check.fields.items():
        param, derive = (src, None) if isinstance(src, str) else src
        raw = params[param]
        value = raw if derive is None else derive(raw)
        if value is None or (name in check.fallback and name in group):
            continue
        if name in group and not same_value(group[name], value):
            raise ParameterError(
                f"parameter {check.group}[{name!r}]={_shown(plain_value(group[name]))} and "
                f"parameter "
                f"{param}={_shown(raw)} disagree: {name} has its own parameter {param}; set "
                "it there (or give both the same value)")
        values[name], origin[name] = value, f"{param}={_shown(raw)}"
    return values, origin


def _field_pattern(name: str) -> str:
    """``samples_per_prompt`` also as ``samples per prompt`` in a message."""
    return r"\b" + re.escape(name).replace("_", "[_ ]") + r"\b"


def _culprits(text: str, origin: Mapping[str, str], fallback: list[str]) -> str:
    section = re.match(r"^\[(\w+)\]", text)
    keys = [k for k in origin
            if (section is None or "." not in k or k.partition(".")[0] == section.group(1))
            and re.search(_field_pattern(k.rpartition(".")[2]), text)]
    return ", ".join(dict.fromkeys([origin[k] for k in keys] or fallback))


def _check_settings(check: SettingsCheck | LoopSettingsCheck, params: Mapping[str, Any],
                    job_defaults: Mapping[str, Any] | None = None) -> None:
    if isinstance(check, LoopSettingsCheck):
        overrides, origin = check.overrides(params)
        try:
            check_loop_settings(overrides)
        except ConfigError as exc:
            typed = [f"{p}={_shown(params[p])}" for p in check.passed]
            raise ParameterError(f"parameter {_culprits(str(exc), origin, typed)}: {exc} "
                                 f"({check.name}, read by the {check.component} task)") \
                from None
        return
    base = job_defaults if check.settings is TrainingJobSpec else None
    values, origin = resolve(check, params, base)
    try:
        from_dict(check.settings, values)
    except ConfigError as exc:
        typed = [origin[f] for f in check.fields if f in origin]
        raise ParameterError(f"parameter {_culprits(str(exc), origin, typed)}: {exc} "
                             f"({check.settings.__name__}, read by the {check.component} "
                             "task)") from None


def _check_group(group: str, value: Any, checks: list[SettingsCheck]) -> None:
    """A settings group is a mapping of known, settable fields of its dataclasses."""
    if value is None:
        return
    if not isinstance(value, Mapping):
        raise ParameterError(f"parameter {group} must be a mapping of settings (a JSON object "
                             f"of name: value), got {_shown(value)}")
    known = {f.name for c in checks for f in dataclasses.fields(c.settings)}
    owned = {name: why for c in checks for name, why in c.owned.items()}
    unknown = sorted(set(map(str, value)) - known)
    if unknown:
        names = " and ".join(dict.fromkeys(c.settings.__name__ for c in checks))
        raise ParameterError(f"parameter {group}: unknown setting(s) {unknown} (fields of "
                             f"{names}); valid: {sorted(known - set(owned))}")
    for name in value:
        if name in owned:
            raise ParameterError(f"parameter {group}[{name!r}]: cannot be set at run time: "
                                 f"{owned[name]}")


def check_parameters(params: Mapping[str, Any], types: Mapping[str, str] | None = None,
                     job_defaults: Mapping[str, Any] | None = None) -> None:
    """Check every pipeline parameter value in ``params`` (all of them: defaults merged with
    overrides) of a staged or a fused pipeline (:func:`settings_checks`). ``types``: KFP
    parameter types by name (``Float``...); floats are checked finite whatever their declared
    type. ``job_defaults``: the compiled trainer settings under ``job_settings`` (known to the
    pipeline's own check task; compile checks them as options). Raises
    :class:`ParameterError` on the first problem.
    """
    # A package's integer defaults come back from the YAML as doubles (8.0): read as ints.
    params = {name: _int(value) if (types or {}).get(name) == "Integer" else value
              for name, value in params.items()}
    checks = settings_checks(params)
    groups = {c.group for c in _checks_of(checks) if c.group}
    needed = {p for check in checks for p in check.parameters().values()} | groups
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
    for group in sorted(groups):
        _check_group(group, params[group], SETTINGS_GROUPS[group])
    for check in checks:
        _check_settings(check, params, job_defaults)
    for name in URI_PARAMETERS:
        if isinstance(params.get(name), str):
            check_storage_uri(name, params[name])
    if "launcher" in params and params["launcher"] not in LAUNCHERS:
        # In the pipeline only the update task reads it, after a whole round.
        raise ParameterError(f"parameter launcher must be one of {list(LAUNCHERS)}, "
                             f"got {_shown(params['launcher'])}")
    if params.get("launcher") in ("pytorchjob", "trainjob"):
        _check_cluster_job(params, job_defaults)


def _check_cluster_job(params: Mapping[str, Any],
                       job_defaults: Mapping[str, Any] | None) -> None:
    """Build the training job's body for the run's launcher the way the update task will
    (:func:`rlsd.launch.build_job`): settings the job kind cannot carry (a PyTorchJob-only
    restart policy for a TrainJob, say) and a missing trainer image fail before the first
    round rather than at its update."""
    from rlsd.launch import build_job

    values, _ = resolve(_trainer_check("update"), params, job_defaults)
    values.setdefault("kfp_run_id", "check")  # the job is named from the run id at run time
    try:
        build_job(params["launcher"], from_dict(TrainingJobSpec, values), environ={})
    except ConfigError as exc:
        raise ParameterError(f"launcher {params['launcher']}: {exc}") from None


def check_run(params: Mapping[str, Any], job_defaults: Mapping[str, Any] | None = None
              ) -> dict[str, dict[str, Any]]:
    """What the pipeline's ``check settings`` task runs on the values a run got:
    :func:`check_parameters`, then the settings groups that hold anything (group -> its
    settings, KFP's doubles read back as integers), which the training report lists."""
    check_parameters(params, job_defaults=job_defaults)
    groups = {c.group for c in _checks_of(settings_checks(params)) if c.group}
    return {g: plain_value(dict(params[g])) for g in sorted(groups) if params.get(g)}


def pipeline_defaults(pipeline: Any) -> dict[str, Any]:
    """Parameter name -> default of ``pipeline`` (a pipeline function or a component loaded
    from the compiled YAML)."""
    inputs = pipeline.component_spec.inputs or {}
    return {name: spec.default for name, spec in inputs.items()
            if not str(spec.type).startswith("system.")}


def pipeline_types(pipeline: Any) -> dict[str, str]:
    """Parameter name -> KFP type (``Integer``, ``Float``, ``String``...)."""
    return {name: str(spec.type) for name, spec in (pipeline.component_spec.inputs or {}).items()}
