"""A named training profile (:mod:`rlsd.profiles`) as the pipeline's parameter defaults.

``python -m pipeline.compile --profile NAME`` writes the profile's values into the YAML as the
defaults of the pipeline parameters that carry them, so the KFP UI shows them and a run (or
``--param``) can still override each one; ``python -m pipeline.run_local --profile NAME``
runs with them. :data:`PROFILE_PARAMETERS` is the one table from a profile setting
(``section.field``, the names of ``python -m rlsd.loop --set``) to the typed pipeline parameter
that carries it, as the components hand it on (:mod:`pipeline.params` checks the same
fields). Every other setting goes into its section's settings group (:data:`SECTION_GROUPS`:
``verify.default_verifier`` becomes ``verify_settings = {"default_verifier": ...}``), which
reaches every field of the section's dataclass. Nothing is dropped silently: a profile setting
the pipeline cannot take is an error naming it, with two exceptions, each exact:

* several settings share one parameter, as the tasks share it: ``max_new_tokens`` (rollout
  and evaluation), ``seed`` (data prep, rollout, update, evaluation) and
  ``micro_batch_tokens`` (score and update). The profile's values for them must agree (a
  profile that sets only one sets the parameter for every task that reads it);
* :data:`COMPILE_OPTION_SETTINGS`: the algorithm, the teacher refresh K and the rounds shape
  the graph, so they are compile options, not parameters; a profile value equal to the
  option's is accepted, another is refused asking for the option.

A group value the pipeline sets itself (``rollout.num_shards``...) is refused by the group's
check (:func:`pipeline.params.check_parameters`) with the group and the setting named.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pipeline.options import CompileOptions
from pipeline.params import pipeline_types
from rlsd.config import ConfigError
from rlsd.profiles import Profile, get_profile


class ProfileError(ConfigError):
    """A profile setting the pipeline cannot take; the message names the profile and it."""


def _count_or_all(setting: str) -> Callable[[Any], Any]:
    """``None`` (the library's "all" / "the default fraction") -> the parameter's 0, which
    means the same there; a 0 in the profile means something the parameter cannot say."""
    def convert(value: Any) -> Any:
        if value is None:
            return 0
        if value == 0:
            raise ProfileError(f"{setting}=0 has no pipeline parameter value: 0 means "
                               "'not set' there")
        return value
    return convert


#: A parameter name, or ``(name, how the value is converted for it)``.
Target = str | tuple[str, Callable[[Any], Any]]

#: Profile setting -> the pipeline parameter that carries it (both modes; ``loop.save_every``
#: only the fused pipeline has).
PROFILE_PARAMETERS: dict[str, Target] = {
    "data.source": "data_source",
    "data.synthetic_difficulty": "synthetic_difficulty",
    "data.synthetic_n": "synthetic_size",
    # DataConfig.n_eval sizes data prep's held-out split (and so the train split): not
    # eval_prompts, which only caps how many of the held-out rows the evaluations read.
    "data.n_eval": ("eval_split_size", _count_or_all("data.n_eval")),
    "data.prompt_template": "prompt_template",
    "data.seed": "seed",
    "loop.prompts_per_round": "prompts_per_round",
    "loop.save_every": "save_every",
    "rollout.samples_per_prompt": "samples_per_prompt",
    "rollout.temperature": "temperature",
    "rollout.top_p": "top_p",
    "rollout.max_new_tokens": "max_new_tokens",
    "rollout.seed": "seed",
    "score.micro_batch_tokens": "micro_batch_tokens",
    "train.learning_rate": "learning_rate",
    "train.steps_per_round": "steps_per_round",
    "train.micro_batch_tokens": "micro_batch_tokens",
    "train.seed": "seed",
    "algorithm.lam0": "lam0",
    "algorithm.lam_decay_steps": "lam_decay_steps",
    "algorithm.eps_w": "eps_w",
    "evaluate.samples_per_prompt": "eval_samples",
    "evaluate.temperature": "eval_temperature",
    "evaluate.max_new_tokens": "max_new_tokens",
    "evaluate.max_prompts": ("eval_prompts", _count_or_all("evaluate.max_prompts")),
    "evaluate.seed": "seed",
}

#: Profile setting -> the :class:`CompileOptions` field that decides it.
COMPILE_OPTION_SETTINGS: dict[str, str] = {
    "algorithm.algorithm": "algorithm",
    "algorithm.teacher_refresh_rounds": "teacher_refresh_rounds",
    "loop.rounds": "rounds",
}

#: Profile section -> the settings group (dict parameter) that takes its other settings
#: (``loop``: the fused pipeline's only).
SECTION_GROUPS: dict[str, str] = {
    "data": "data_settings", "rollout": "rollout_settings", "verify": "verify_settings",
    "score": "score_settings", "train": "train_settings", "algorithm": "train_settings",
    "evaluate": "eval_settings", "loop": "fused_settings",
}


def _typed(value: Any, kind: str, setting: str, param: str) -> Any:
    """``value`` as a KFP parameter of type ``kind`` (``Integer``, ``Float``, ``String``...)."""
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "Float" and number:
        return float(value)
    if kind == "Integer" and number and float(value).is_integer():
        return int(value)
    if kind == "String" and isinstance(value, str):
        return value
    if kind == "Boolean" and isinstance(value, bool):
        return value
    raise ProfileError(f"{setting}={value!r} is not a valid value of the pipeline parameter "
                       f"{param} ({kind})")


def parameters_for(profile: Profile, types: Mapping[str, str],
                   options: CompileOptions) -> dict[str, Any]:
    """Pipeline parameter -> value for every setting of ``profile``, typed as ``types`` says
    (the pipeline's parameters and their KFP types: :func:`pipeline.params.pipeline_types`);
    settings without a typed parameter go into their section's group (a dict).

    Raises:
        ProfileError: a setting of a section the pipeline has no group for, a compile option's
            setting with another value than the option's, a parameter this pipeline lacks
            (``loop.save_every`` in staged mode), a value of the wrong type, or two settings
            of one shared parameter with different values. The message names the profile and
            the setting.
    """
    values: dict[str, Any] = {}
    source: dict[str, str] = {}  # parameter -> the setting that set it
    for setting, value in profile.flat().items():
        try:
            if setting in COMPILE_OPTION_SETTINGS:
                option = COMPILE_OPTION_SETTINGS[setting]
                if getattr(options, option) != value:
                    raise ProfileError(
                        f"{setting}={value!r} is the compile option {option} here, which is "
                        f"{getattr(options, option)!r}; give --{option.replace('_', '-')} "
                        f"{value}")
                continue
            if setting not in PROFILE_PARAMETERS:
                section, _, name = setting.partition(".")
                group = SECTION_GROUPS.get(section)
                if group is None:
                    raise ProfileError(f"{setting}={value!r}: the pipeline has no parameter for "
                                       "it (pipeline.profile_defaults.SECTION_GROUPS)")
                if group not in types:
                    raise ProfileError(f"{setting}={value!r}: this pipeline has no parameter "
                                       f"{group} (a fused-mode parameter?)")
                values.setdefault(group, {})[name] = value
                continue
            target = PROFILE_PARAMETERS[setting]
            param, convert = (target, None) if isinstance(target, str) else target
            if param not in types:
                raise ProfileError(f"{setting}={value!r}: this pipeline has no parameter "
                                   f"{param} (a fused-mode parameter?)")
            typed = _typed(value if convert is None else convert(value), types[param],
                           setting, param)
            if param in values and values[param] != typed:
                raise ProfileError(
                    f"{source[param]}={values[param]!r} and {setting}={typed!r} differ, but "
                    f"the pipeline has one parameter {param} for both")
            values[param], source[param] = typed, setting
        except ProfileError as exc:
            raise ProfileError(f"profile {profile.name!r}: {exc}") from None
    return values


def profile_defaults(options: CompileOptions, pipeline: Any) -> dict[str, Any]:
    """The parameter defaults that ``options.profile`` sets in ``pipeline`` (a pipeline
    function built for ``options``); empty when no profile is named. Raises
    :class:`ProfileError` (one line) as :func:`parameters_for` does, and
    :class:`rlsd.config.ConfigError` for an unknown profile name."""
    if not options.profile:
        return {}
    return parameters_for(get_profile(options.profile), pipeline_types(pipeline), options)
