"""The pipeline's and the update and fused components' parameter defaults are the library's
defaults.

KFP needs literal defaults in a component's signature, so the paper's values are written
again there; this test keeps those copies equal to the one source of truth (the settings
dataclasses), so a change to a default cannot silently diverge.
"""

import dataclasses
import inspect

import pytest

from rlsd.algorithms import AlgorithmConfig
from rlsd.loop.config import LoopConfig
from rlsd.rollout import RolloutConfig
from rlsd.train import TrainConfig

SOURCES = (TrainConfig(), AlgorithmConfig(), RolloutConfig())
#: The fused loop's own settings (rounds, save_every, prompts_per_round) come first there.
FUSED_SOURCES = (LoopConfig(), *SOURCES)


def _library_default(name: str, sources=SOURCES):
    for cfg in sources:
        if name in {f.name for f in dataclasses.fields(cfg)}:
            return getattr(cfg, name)
    return inspect.Parameter.empty


def _checked(signature: inspect.Signature, sources=SOURCES) -> dict[str, tuple]:
    out = {}
    for name, param in signature.parameters.items():
        expected = _library_default(name, sources)
        if expected is not inspect.Parameter.empty and param.default is not inspect.Parameter.empty:
            out[name] = (param.default, expected)
    return out


def test_update_component_defaults_match_the_library():
    from components.update.component import update

    checked = _checked(inspect.signature(update))
    assert {"learning_rate", "lam0", "lam_decay_steps", "eps_w"} <= set(checked)
    for name, (got, expected) in checked.items():
        assert got == pytest.approx(expected), name


def test_pipeline_defaults_match_the_library():
    from pipeline.options import CompileOptions
    from pipeline.pipeline import build_pipeline

    fn = build_pipeline(CompileOptions()).pipeline_func
    checked = _checked(inspect.signature(fn))
    assert {"learning_rate", "lam0", "lam_decay_steps", "eps_w", "samples_per_prompt"} <= set(checked)
    for name, (got, expected) in checked.items():
        assert got == pytest.approx(expected), name


def test_fused_component_defaults_match_the_library():
    from components.fused.component import fused

    checked = _checked(inspect.signature(fused), FUSED_SOURCES)
    assert {"learning_rate", "lam0", "lam_decay_steps", "eps_w", "teacher_refresh_rounds",
            "samples_per_prompt", "max_new_tokens", "prompts_per_round", "save_every",
            "rounds", "micro_batch_tokens", "steps_per_round", "seed"} <= set(checked)
    for name, (got, expected) in checked.items():
        assert got == pytest.approx(expected), name


def test_fused_pipeline_defaults_match_the_library():
    from pipeline.options import CompileOptions
    from pipeline.pipeline import build_pipeline

    fn = build_pipeline(CompileOptions(mode="fused")).pipeline_func
    checked = _checked(inspect.signature(fn), FUSED_SOURCES)
    assert {"learning_rate", "save_every", "samples_per_prompt"} <= set(checked)
    for name, (got, expected) in checked.items():
        assert got == pytest.approx(expected), name
