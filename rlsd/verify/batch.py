"""Grading many responses at once: :func:`verify_batch`, and :func:`score` for one.

Every item is submitted to the grading pool (:mod:`rlsd.verify.pool`) at once; each runs under
the per-item time limit in a worker process, so one hostile answer costs at most that limit
and never stalls the rest. Safe to call from any thread.

What scores 0 and what raises. An *answer* that is wrong, unreadable, too long, runs past
the time limit or makes its verifier fail scores 0 with a reason. A failure of the *machinery*
raises :class:`~rlsd.verify.errors.GradingError` and hands out no rewards at all, because
rewards of 0 would look like wrong answers to the trainer: a verifier that cannot be
imported, a pool that stops making progress, a grading cancelled from outside, or a worker
that dies while a known-good probe item cannot be graded either. A worker that dies on one
item is given a second try on a fresh worker; if it dies again while the probe grades fine,
that answer kills graders and scores 0 with the reason.
"""

from __future__ import annotations

import concurrent.futures
import queue
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import CancelledError
from dataclasses import dataclass

from pebble import ProcessExpired

from rlsd.verify.errors import GradingError, UnknownVerifierError
from rlsd.verify.extract import has_paper_format
from rlsd.verify.grading import GradeOutcome, GradeTask, Status
from rlsd.verify.pool import check_script_guard, discard_pool, submit
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
        multi_box=verifier.multi_box,
        sys_path=sys_path,
    )


#: A known-good item: when it cannot be graded either, the pool (not an answer) is broken.
_PROBE = GradeTask(
    response="<answer>1</answer>", gold="1", grade_ref="rlsd.verify.text:exact_verifier"
)


class _WorkerDied(Exception):
    """A grading worker died on an item (it gets one more try on a fresh worker)."""

    def __init__(self, exitcode: int | None) -> None:
        super().__init__(exitcode)
        self.exitcode = exitcode


def _outcome(future: concurrent.futures.Future, config: VerifyConfig) -> GradeOutcome:
    """The item's outcome; raises :class:`_WorkerDied` or :class:`GradingError`."""
    try:
        return future.result()
    except TimeoutError:
        return GradeOutcome(0.0, "timeout", f"timeout after {config.time_limit_s:.1f}s")
    except ProcessExpired as exc:
        raise _WorkerDied(exc.exitcode) from None
    except GradingError:
        raise
    except CancelledError:
        raise GradingError("grading was cancelled before it finished") from None
    except Exception as exc:  # an unpicklable result, a pool torn down under us, ...
        raise GradingError(
            f"the grading pool failed: {type(exc).__name__}: {exc} (workers that die while "
            "starting: a script that grades must do so under `if __name__ == \"__main__\":`)"
        ) from exc


def _pool_is_healthy(config: VerifyConfig, workers: int) -> bool:
    """Grade :data:`_PROBE` on the pool; False when that fails too."""
    try:
        future = submit(
            _PROBE,
            time_limit_s=max(30.0, config.time_limit_s),
            workers=workers,
            memory_limit_mb=config.memory_limit_mb,
        )
        return future.result(timeout=stall_limit_s(config)).accuracy == 1.0
    except Exception:
        return False


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
    progress bar). Unknown verifier names raise before anything is graded; a timeout or an
    error on one answer gives that item accuracy 0 with a reason. Raises
    :class:`~rlsd.verify.errors.GradingError` when the machinery fails (module docstring).
    """
    config = config or VerifyConfig()
    config.validate()
    check_script_guard()  # before any worker starts: a clear error, not a broken pool
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
    retried: set[int] = set()
    pending = len(items)
    while pending:
        try:
            index = finished.get(timeout=stall_limit_s(config))
        except queue.Empty:  # nothing finished for the whole stall limit: the pool is broken
            for future in futures:
                future.cancel()
            discard_pool(workers, config.memory_limit_mb)
            raise GradingError(
                f"the grading pool made no progress in {stall_limit_s(config):.0f}s "
                f"({pending} of {len(items)} items ungraded); no rewards were given"
            ) from None
        try:
            outcome = _outcome(futures[index], config)
        except _WorkerDied as died:
            if index not in retried:  # once more, on a fresh worker
                retried.add(index)
                task = _task(
                    items[index],
                    verifiers[items[index].verifier or config.default_verifier],
                    config,
                    sys_path,
                )
                futures[index] = submit(
                    task,
                    time_limit_s=config.time_limit_s,
                    workers=workers,
                    memory_limit_mb=config.memory_limit_mb,
                )
                futures[index].add_done_callback(lambda _done, i=index: finished.put(i))
                continue
            if not _pool_is_healthy(config, workers):
                for future in futures:
                    future.cancel()
                discard_pool(workers, config.memory_limit_mb)
                raise GradingError(
                    f"grading workers die (exit code {died.exitcode}) and cannot grade a "
                    "known-good item either: the grading pool is broken; no rewards were given"
                ) from None
            outcome = GradeOutcome(
                0.0,
                "error",
                f"verifier error: this answer killed the grading worker twice "
                f"(exit code {died.exitcode})",
            )
        except GradingError:
            for future in futures:
                future.cancel()
            raise
        pending -= 1
        results[index] = _result(items[index], outcome, config)
        if on_result is not None:
            on_result(index, results[index])
    return [r for r in results if r is not None]


def score(verifier: str, response: str, answer: str, config: VerifyConfig | None = None) -> float:
    """Accuracy in [0, 1] of one ``response`` against the reference ``answer``.

    Runs in the grading pool under the time limit like :func:`verify_batch`; 0 for a timeout
    or an answer its verifier fails on. Unknown ``verifier`` names raise
    :class:`~rlsd.verify.errors.UnknownVerifierError`; a broken grading machinery raises
    :class:`~rlsd.verify.errors.GradingError`.
    """
    return verify_batch([VerifyItem(response, answer, verifier)], config)[0].accuracy
