"""Named training profiles: settings chosen together for one model and task, by section.

The dataclass defaults are the paper's (arXiv:2604.03128: G = 8, temperature 1.0, 4096 new
tokens, 256 prompts per round, lr 1e-6), which suit an 8B reasoning model. The built-in
default model (SmolLM2-135M-Instruct, dequantised from a 4-bit GGUF) cannot learn from them:
at temperature 1.0 it mostly writes incoherent text, almost every group gets all-equal
rewards and no gradient flows. A profile is the explicit, named set of values that replaces
those defaults for one model and task; it is applied first, and a YAML file, ``--set`` or a
pipeline parameter still overrides any of its values. Whatever runs prints and records the
profile's name and the settings it ran with, so nothing differs silently.

Sections are those of the commands: ``data`` (:class:`rlsd.data.DataConfig`), ``loop``,
``rollout``, ``verify``, ``score``, ``train``, ``algorithm`` (the fused loop's) and
``evaluate`` (:class:`rlsd.evaluate.config.EvalConfig`). A command takes the sections it has.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rlsd.config import ConfigError


@dataclass(frozen=True)
class Profile:
    """One named set of settings by section, with the measurement that justifies it."""

    name: str
    summary: str
    settings: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    measured: str = ""

    def section(self, name: str) -> dict[str, Any]:
        """The profile's values for one section (empty when it sets none there)."""
        return dict(self.settings.get(name, {}))

    def flat(self) -> dict[str, Any]:
        """Every value as ``section.name`` -> value (what a report prints)."""
        return {f"{s}.{k}": v for s, values in self.settings.items() for k, v in values.items()}


#: The start statistics below were measured on the base model only, before any training run,
#: and the choice was made on them alone (never on which algorithm a setting favours).
SMOLLM2_ARITHMETIC = Profile(
    name="smollm2-arithmetic",
    summary="the built-in default model on sums a + b with a, b in 2..29 (synthetic level 2), "
            "answered with only the number",
    settings={
        "data": {"synthetic_difficulty": 2, "synthetic_n": 784, "n_eval": 128,
                 "prompt_template": "{question} Reply with only the number."},
        "loop": {"prompts_per_round": 4},
        "rollout": {"samples_per_prompt": 8, "temperature": 0.7, "top_p": 0.9,
                    "max_new_tokens": 48},
        "verify": {"default_verifier": "numeric"},
        "train": {"learning_rate": 1e-5, "steps_per_round": 1},
        "evaluate": {"max_new_tokens": 48, "temperature": 0.0},
    },
    measured="base model, first 64 training prompts x 8 samples at 48 new tokens: "
             "temperature 0.7 / top-p 0.9: reward rate 0.21, truncation 0.16, mixed groups "
             "0.48 at G = 8 (0.41 at G = 4); temperature 0.8 / top-p 0.9: 0.18, 0.20, 0.44; "
             "temperature 0.8 / top-p 1.0 at 32 tokens (the TRL peer's): 0.14, 0.34, 0.33 at "
             "G = 4. Per-prompt success is polarised (a sum is mostly always or never right), "
             "so G = 8 x 4 prompts keeps TRL's 32 samples per step with more mixed groups",
)

PAPER = Profile(name="paper", summary="the paper's settings: every dataclass default")

#: Every built-in profile by name.
PROFILES: dict[str, Profile] = {p.name: p for p in (PAPER, SMOLLM2_ARITHMETIC)}


def get_profile(name: str | None) -> Profile:
    """The profile called ``name`` (``None`` or ``""``: ``paper``).

    Raises:
        ConfigError: no profile has that name (the message lists the known ones).
    """
    if not name:
        return PAPER
    try:
        return PROFILES[name]
    except KeyError:
        raise ConfigError(f"unknown profile {name!r}; known: {', '.join(sorted(PROFILES))}") \
            from None
