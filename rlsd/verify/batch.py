"""Grading many responses at once: :func:`verify_batch`, and :func:`score` for one.

Every item is submitted to the grading pool (:mod:`rlsd.verify.pool`) at once; each runs under
the per-item time limit in a worker process, so one hostile answer costs at most that limit
and never stalls the rest. Safe to call from any thread.
"""

from __future__ import annotations

import concurrent.futures
import queue
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass

from pebble import ProcessExpired

from rlsd.verify.errors import UnknownVerifierError
from rlsd.verify.extract import has_paper_format
from rlsd.verify.grading import GradeOutcome, GradeTask, Status
from rlsd.verify.pool import discard_pool, submit
from rlsd.verify.registry import (
    ENTRY_POINT_GROUP,
    Verifier,
    available_verifiers,
    get_verifier,
    load_plugin,
)
from rlsd.verify.reward import overlong_penalty, shaped_reward
from rlsd.verify.settings import VerifyConfig


@dataclass(frozen=True)
class VerifyItem:
    """One response to grade. ``verifier`` None means ``VerifyConfig.default_verifier``;
    ``length`` (e.g. tokens) feeds the over-length penalty, None means ``len(response)``."""

    response: str
    answer: str
    verifier: str | None = None
    length: int | None = None


@dataclass(frozen=True)
class VerifyResult:
    """Reward and its parts for one item; ``reason`` says why in words (``"correct"``,
    ``"wrong answer: got 17, expected 18"``, ``"timeout after 2.0s"``, ...)."""

    reward: float
    accuracy: float
    format: float
    reason: str
    status: Status


def resolve_verifiers(names: Sequence[str | None], config: VerifyConfig) -> dict[str, Verifier]:
    """Load the operator's plug-ins, then look up every name (None = the default verifier).

    Raises :class:`~rlsd.verify.errors.UnknownVerifierError` naming every unknown name before
    anything is graded.
    """
    for spec in config.extra_verifiers:
        load_plugin(spec)
    found: dict[str, Verifier] = {}
    unknown: list[str] = []
    for name in sorted({name or config.default_verifier for name in names}):
        try:
            found[name] = get_verifier(name)
        except UnknownVerifierError:
            unknown.append(name)
    if unknown:
        raise UnknownVerifierError(
            f"unknown verifier(s) {unknown}; available: {available_verifiers()}. Data may only "
            f"name a registered verifier; an operator adds one with --plugin "
            f"NAME=package.module:function or an '{ENTRY_POINT_GROUP}' entry point"
        )
    return found


def _task(
    item: VerifyItem, verifier: Verifier, config: VerifyConfig, sys_path: tuple[str, ...]
) -> GradeTask:
    options = {
        kwarg: getattr(config, setting) for kwarg, setting in verifier.config_options.items()
    }
    return GradeTask(
        response=item.response,
        gold=item.answer,
        grade_ref=verifier.grade_ref,
        fallback_ref=verifier.fallback_ref,
        options=options,
        max_answer_chars=config.max_answer_chars,
        sys_path=sys_path,
    )


def _outcome(future: concurrent.futures.Future, config: VerifyConfig) -> GradeOutcome:
    try:
        return future.result()
    except TimeoutError:
        return GradeOutcome(0.0, "timeout", f"timeout after {config.time_limit_s:.1f}s")
    except ProcessExpired as exc:
        return GradeOutcome(
            0.0, "error", f"verifier error: grading worker died (exit code {exc.exitcode})"
        )
    except CancelledError:
        return GradeOutcome(0.0, "error", "verifier error: grading was cancelled")
    except Exception as exc:  # pool breakage, unpicklable result, ...
        return GradeOutcome(0.0, "error", f"verifier error: {type(exc).__name__}: {exc}")


def _result(item: VerifyItem, outcome: GradeOutcome, config: VerifyConfig) -> VerifyResult:
    fmt = 1.0 if has_paper_format(item.response) else 0.0
    length = item.length if item.length is not None else len(item.response)
    penalty = overlong_penalty(
        length, config.max_response_length, config.overlong_buffer, config.overlong_penalty_factor
    )
    reward = shaped_reward(
        outcome.accuracy,
        fmt,
        accuracy_weight=config.accuracy_weight,
        format_weight=config.format_weight,
        penalty=penalty,
    )
    return VerifyResult(reward, outcome.accuracy, fmt, outcome.reason, outcome.status)


def stall_limit_s(config: VerifyConfig) -> float:
    """How long a batch waits with none of its items finishing before it declares the pool
    dead (workers that cannot even start would otherwise leave it waiting forever)."""
    return max(120.0, 10 * (config.time_limit_s + 3.0))


def verify_batch(
    items: Sequence[VerifyItem],
    config: VerifyConfig | None = None,
    *,
    on_result: Callable[[int, VerifyResult], None] | None = None,
) -> list[VerifyResult]:
    """Grade ``items`` concurrently; results in the order of ``items``.

    ``on_result(index, result)`` is called in the calling thread as each item finishes (a
    progress bar). Unknown verifier names raise before anything is graded; a timeout, a
    crash or an error in one item gives that item accuracy 0 with a reason.
    """
    config = config or VerifyConfig()
    config.validate()
    verifiers = resolve_verifiers([item.verifier for item in items], config)
    sys_path = tuple(sys.path)
    workers = config.resolved_workers()
    # Finished indices arrive here from pebble's threads: one queue read per item keeps the
    # wait O(n) and lets the stall check below time each wait.
    finished: queue.SimpleQueue[int] = queue.SimpleQueue()
    futures: list[concurrent.futures.Future] = []
    for index, item in enumerate(items):
        task = _task(item, verifiers[item.verifier or config.default_verifier], config, sys_path)
        future = submit(
            task,
            time_limit_s=config.time_limit_s,
            workers=workers,
            memory_limit_mb=config.memory_limit_mb,
        )
        future.add_done_callback(lambda _done, i=index: finished.put(i))
        futures.append(future)
    results: list[VerifyResult | None] = [None] * len(items)
    for _ in range(len(items)):
        try:
            index = finished.get(timeout=stall_limit_s(config))
        except queue.Empty:  # nothing finished for the whole stall limit: the pool is broken
            stalled = GradeOutcome(
                0.0,
                "error",
                f"verifier error: grading pool made no progress in {stall_limit_s(config):.0f}s",
            )
            for index, future in enumerate(futures):
                if results[index] is None:
                    future.cancel()
                    results[index] = _result(items[index], stalled, config)
            discard_pool(workers, config.memory_limit_mb)
            break
        results[index] = _result(items[index], _outcome(futures[index], config), config)
        if on_result is not None:
            on_result(index, results[index])
    return [r for r in results if r is not None]


def score(verifier: str, response: str, answer: str, config: VerifyConfig | None = None) -> float:
    """Accuracy in [0, 1] of one ``response`` against the reference ``answer``.

    Runs in the grading pool under the time limit like :func:`verify_batch`; 0 for a timeout
    or error. Unknown ``verifier`` names raise
    :class:`~rlsd.verify.errors.UnknownVerifierError`.
    """
    return verify_batch([VerifyItem(response, answer, verifier)], config)[0].accuracy
