"""Verifiable rewards (design.md stage 3): answer extraction, verifiers, shaped reward.

Public API::

    score(verifier, response, answer, config=None) -> float        # accuracy in [0, 1]
    verify_batch(items, config=None, *, on_result=None) -> list[VerifyResult]
    register_verifier(name, *, fallback=None, config_options=None, replace=False)
    get_verifier(name) -> Verifier;  available_verifiers() -> list[str]
    load_plugin("name=package.module:function") -> str              # operator plug-ins

Built-in verifiers: ``math`` (math-verify), ``gsm8k``, ``choice``, ``numeric``, ``exact``.
The verifier contract (what a plug-in implements) is documented in
:mod:`rlsd.verify.registry`; the time and memory limits in :mod:`rlsd.verify.pool`.
``reward = 0.9 · accuracy + 0.1 · format`` (+ optional DAPO over-length penalty), see
:mod:`rlsd.verify.reward`. CLI: ``python -m rlsd.verify`` (:mod:`rlsd.verify.cli`).
"""

from rlsd.verify.batch import VerifyItem, VerifyResult, resolve_verifiers, score, verify_batch
from rlsd.verify.errors import (
    GoldAnswerError,
    GradingError,
    PluginError,
    TableError,
    UnknownVerifierError,
    VerifyError,
)
from rlsd.verify.extract import extract_answer, has_paper_format
from rlsd.verify.pool import shutdown_pools
from rlsd.verify.registry import (
    ENTRY_POINT_GROUP,
    Verifier,
    available_verifiers,
    get_verifier,
    load_plugin,
    register_verifier,
    unregister_verifier,
)
from rlsd.verify.reward import overlong_penalty, shaped_reward
from rlsd.verify.settings import VerifyConfig

__all__ = [
    "ENTRY_POINT_GROUP",
    "GoldAnswerError",
    "GradingError",
    "PluginError",
    "TableError",
    "UnknownVerifierError",
    "Verifier",
    "VerifyConfig",
    "VerifyError",
    "VerifyItem",
    "VerifyResult",
    "available_verifiers",
    "extract_answer",
    "get_verifier",
    "has_paper_format",
    "load_plugin",
    "overlong_penalty",
    "register_verifier",
    "resolve_verifiers",
    "score",
    "shaped_reward",
    "shutdown_pools",
    "unregister_verifier",
    "verify_batch",
]
