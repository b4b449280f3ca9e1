"""The grading worker pool: disposable child processes with a time and a memory limit.

design.md: the paper's code grades in a disposable child process with a time and memory
limit. Here that is a :class:`pebble.ProcessPool`:

- each task has a ``timeout``; when it runs past it, pebble terminates the stuck worker
  (SIGTERM, with its default action restored so that it ends even a worker stuck inside
  one C-level big-integer power; SIGKILL as a backstop) and starts a replacement, so the
  limit holds whatever the grader is doing and from whatever thread or process the caller
  runs in (math-verify's own ``signal.alarm`` timeouts only work on the main thread, and
  are switched off);
- the worker initializer caps the address space (``RLIMIT_AS``), so a memory bomb fails
  that one item with ``MemoryError`` (or kills only that worker) instead of the machine;
- workers come from the ``forkserver`` (``spawn`` where there is none): the parent may hold
  torch / CUDA threads, which a child forked from it would inherit in a broken state. The
  fork server is a clean single-threaded process that has preloaded the graders
  (:data:`PRELOAD`), so replacing a killed worker costs milliseconds, not a fresh
  interpreter importing sympy. (Its preload list is process-wide; ours is added to any
  already set, and only takes effect if the fork server is not running yet.)

One pool per (workers, memory limit) is created lazily and reused by every call in the
process, so a call pays no process start; it is shut down at exit.

A worker started by ``forkserver`` or ``spawn`` re-imports the main script (as
``__mp_main__``) before it runs anything. A script that grades at its top level, outside
``if __name__ == "__main__":``, would run its grading again inside every worker, and each
worker would die starting another pool. :func:`check_script_guard` finds that case before a
pool starts and raises one clear :class:`~rlsd.verify.errors.GradingError` naming the line.
"""

from __future__ import annotations

import ast
import atexit
import contextlib
import functools
import importlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import resource
import signal
import sys
import threading

from pebble import ProcessFuture, ProcessPool

from rlsd.verify.errors import GradingError
from rlsd.verify.grading import GradeOutcome, GradeTask, grade
from rlsd.verify.registry import BUILTIN_MODULES

#: Modules the fork server imports once, so that forked workers start with them loaded.
PRELOAD = ("rlsd.verify.grading", *BUILTIN_MODULES, "math_verify")

_pools: dict[tuple[int, int], ProcessPool] = {}
_lock = threading.Lock()


def _init_worker(memory_limit_mb: int) -> None:
    """Worker start-up: warm the graders, then cap the address space.

    Warming first (imports, one math-verify comparison) keeps that one-time cost out of the
    first task's time limit, and lets the limit apply to grading rather than to importing.
    A failed warm-up is ignored: a worker whose initializer fails is restarted by pebble
    forever, while a failing grader only fails its items, with a reason.
    """
    # pebble stops a timed-out worker with SIGTERM, then SIGKILL 3 s later; its SIGTERM
    # handler is Python code, which cannot run while sympy is inside one C-level big-integer
    # operation. The default action ends the process at once instead.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    logging.getLogger("math_verify").setLevel(logging.ERROR)
    try:
        for module in BUILTIN_MODULES:
            importlib.import_module(module)
        from math_verify import parse, verify

        verify(
            parse("$1$", parsing_timeout=None),
            parse("$1$", parsing_timeout=None),
            timeout_seconds=None,
        )
    except Exception:  # see the docstring
        pass
    if memory_limit_mb:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_limit_mb * 2**20
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _start_context() -> multiprocessing.context.BaseContext:
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    server = getattr(multiprocessing.forkserver, "_forkserver", None)
    already = list(getattr(server, "_preload_modules", []) or [])
    context.set_forkserver_preload(list(dict.fromkeys([*already, *PRELOAD])))
    return context


def _tests_main(node: ast.AST) -> bool:
    """True when ``node`` holds the comparison ``__name__ == "__main__"`` (either order)."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Compare) and len(sub.ops) == 1 and isinstance(sub.ops[0], ast.Eq):
            sides = [sub.left, sub.comparators[0]]
            names = {s.id for s in sides if isinstance(s, ast.Name)}
            values = {s.value for s in sides if isinstance(s, ast.Constant)}
            if names == {"__name__"} and values == {"__main__"}:
                return True
    return False


def _guarded_spans(node_list: list[ast.stmt]) -> list[tuple[int, int]]:
    """Line spans of the module-level statements that run only as ``__main__``: an ``if``
    whose test checks ``__name__ == "__main__"`` (alone or with ``and``), or an expression
    statement that does (``main() if __name__ == "__main__" else None``)."""
    spans = []
    for node in node_list:
        guard = (isinstance(node, ast.If) and _tests_main(node.test)) or (
            isinstance(node, ast.Expr) and isinstance(node.value, ast.IfExp)
            and _tests_main(node.value.test))
        if guard:
            spans.append((node.lineno, node.end_lineno or node.lineno))
    return spans


#: Names whose call at a script's top level grades (``score(...)``, ``rlsd.verify.score(...)``).
GRADING_CALLS = frozenset({"score", "verify_batch"})


def _unguarded_grading_lines(body: list[ast.stmt], spans: list[tuple[int, int]]) -> list[int]:
    """Lines of module-level statements outside every guard that call a grading function."""
    lines = []
    for node in body:
        if any(start <= node.lineno <= end for start, end in spans):
            continue
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue  # a definition runs nothing
        for sub in ast.walk(node):
            if isinstance(sub, ast.Call):
                func = sub.func
                name = func.id if isinstance(func, ast.Name) else \
                    func.attr if isinstance(func, ast.Attribute) else None
                if name in GRADING_CALLS:
                    lines.append(sub.lineno)
    return lines


@functools.lru_cache(maxsize=32)
def _script_spans(path: str, mtime: float
                  ) -> tuple[tuple[tuple[int, int], ...], tuple[int, ...]] | None:
    """``(guarded spans, lines of unguarded grading calls)`` of the script at ``path``; None
    when it cannot be read or parsed."""
    try:
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return None
    spans = _guarded_spans(tree.body)
    return tuple(spans), tuple(_unguarded_grading_lines(tree.body, spans))


def check_script_guard() -> None:
    """Raise :class:`GradingError` when grading is called from the top level of the main
    script outside ``if __name__ == "__main__":`` (see the module docstring), or from a
    script that worker processes cannot re-import at all (read from standard input).

    Looks for the main script's module-level frame on the call stack and checks, with the
    script's syntax tree (cached per file), whether the line running now sits inside a main
    guard, and whether any other top-level statement outside a guard calls ``score`` or
    ``verify_batch`` (new workers would run it while starting, even when this call is
    guarded). Scripts run as ``python -m pkg`` (``pkg.__main__``), ``python -c``, interactive
    sessions and notebooks are never re-imported by workers, and pass. Cheap enough to run on
    every batch.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise GradingError(
            "rlsd.verify was called while a worker process was starting up (the main script "
            'runs again in every worker): put the call under `if __name__ == "__main__":`'
        )
    main = sys.modules.get("__main__")
    path = getattr(main, "__file__", None)
    spec_name = getattr(getattr(main, "__spec__", None), "name", None) or ""
    if main is None or not path or spec_name == "__main__" or spec_name.endswith(".__main__"):
        return
    if not os.path.isfile(path):
        raise GradingError(
            f"the main script is {path!r}, which grading worker processes cannot re-import "
            "(a script read from standard input?): save it to a file and run that"
        )
    parsed = _script_spans(path, os.path.getmtime(path))
    if parsed is None:
        return  # unreadable: let the pool's own failure handling speak
    spans, unguarded = parsed
    frame = sys._getframe(1)
    while frame is not None and not (
        frame.f_code.co_name == "<module>" and frame.f_globals is vars(main)
    ):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is not None and not any(start <= frame.f_lineno <= end for start, end in spans):
        line = frame.f_lineno  # this very call runs at the top level, unguarded
    elif unguarded:
        line = unguarded[0]  # a later top-level call would run again in every new worker
    else:
        return
    raise GradingError(
        f"{path}, line {line}: grading is called at the top level of a script without "
        '`if __name__ == "__main__":`. rlsd.verify grades in worker processes that re-import '
        "the script, so every worker would run this call again; move it under that guard"
    )


def get_pool(workers: int, memory_limit_mb: int) -> ProcessPool:
    """The shared pool for these settings, started on first use (and after a breakage)."""
    key = (workers, memory_limit_mb)
    with _lock:
        pool = _pools.get(key)
        if pool is not None and pool.active:
            return pool
        if pool is not None:
            _stop(pool)
        pool = ProcessPool(
            max_workers=workers,
            initializer=_init_worker,
            initargs=(memory_limit_mb,),
            context=_start_context(),
        )
        _pools[key] = pool
        return pool


def submit(
    task: GradeTask, *, time_limit_s: float, workers: int, memory_limit_mb: int
) -> ProcessFuture[GradeOutcome]:
    """Schedule ``grade(task)`` on the shared pool; the future fails with ``TimeoutError``
    after ``time_limit_s`` of running (queueing time does not count)."""
    for attempt in (0, 1):
        pool = get_pool(workers, memory_limit_mb)
        try:
            return pool.schedule(grade, args=(task,), timeout=time_limit_s)
        except RuntimeError as exc:  # the pool broke or was stopped meanwhile: restart once
            _forget(pool)
            if attempt:
                raise GradingError(f"the grading pool cannot take work: {exc}") from exc
    raise AssertionError("unreachable")


def discard_pool(workers: int, memory_limit_mb: int) -> None:
    """Stop the pool for these settings (killing its workers); the next call starts anew."""
    with _lock:
        pool = _pools.pop((workers, memory_limit_mb), None)
    if pool is not None:
        _stop(pool)


def _forget(pool: ProcessPool) -> None:
    with _lock:
        for key, known in list(_pools.items()):
            if known is pool:
                del _pools[key]
    _stop(pool)


def _stop(pool: ProcessPool) -> None:
    pool.stop()
    with contextlib.suppress(TimeoutError, RuntimeError):
        pool.join(timeout=10)


def shutdown_pools() -> None:
    """Stop every grading pool (registered to run at interpreter exit)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
    for pool in pools:
        _stop(pool)


def live_worker_pids() -> list[int]:
    """PIDs of the grading workers now alive (for tests and diagnostics)."""
    return [
        p.pid
        for p in multiprocessing.active_children()
        if p.pid is not None and p.name == "pebble_pool_worker"
    ]


atexit.register(shutdown_pools)
