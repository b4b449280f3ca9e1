"""The registry of verifiers by name, and the two operator-controlled ways to add one.

The verifier contract
---------------------
A verifier is a module-level function ``grade(answer: str, gold: str, **options) -> float``:

- ``answer`` is the final answer already extracted from the response (``<answer>`` tags, else
  the last ``\\boxed{}``, else the verifier's ``fallback`` extractor; see
  :func:`rlsd.verify.extract.extract_answer`). A verifier registered without a ``fallback``
  receives the whole response when it has neither tags nor a box, so it can read it itself.
- ``gold`` is the reference answer from the prompt table's ``answer`` column.
- ``options`` are keyword-only settings filled from :class:`~rlsd.verify.settings.VerifyConfig`
  through ``config_options`` (e.g. ``numeric``'s ``rel_tol`` from ``numeric_rel_tol``).
- It returns accuracy in ``[0, 1]`` (``bool`` is fine). It returns 0 for a wrong or unreadable
  answer and raises :class:`~rlsd.verify.errors.GoldAnswerError` when the *gold* answer
  cannot be read (a data problem the self-check reports).

Verifiers always run inside the grading worker processes (:mod:`rlsd.verify.pool`), under the
per-item time and memory limit, plug-ins included: untrusted responses reach plug-in code as
much as built-in code. So a verifier is stored by *reference* (``"package.module:qualname"``)
and the worker imports it; it must be a module-level function, not a lambda or closure. The
worker receives the parent's ``sys.path`` with each task, so a plug-in importable in the
parent is importable in the worker.

Adding a verifier without forking
---------------------------------
1. Code you import: decorate with ``@register_verifier("name")``.
2. An installed package: an entry point in group ``rlsd.verifiers`` (``name = pkg.mod:fn``),
   loaded lazily the first time ``name`` is asked for.
3. The operator: ``--plugin name=pkg.mod:fn`` on the CLI, or
   ``VerifyConfig.extra_verifiers=["name=pkg.mod:fn"]`` (:func:`load_plugin`).

Data never picks code: a prompt row's ``verifier`` column may only *name* a registered (or
entry-point) verifier. A name is never parsed as an import path, and ``:`` is not allowed in
names, so a row saying ``os:system`` is an :class:`UnknownVerifierError`.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from rlsd.verify.errors import PluginError, UnknownVerifierError, VerifyError

ENTRY_POINT_GROUP = "rlsd.verifiers"
BUILTIN_MODULES = (
    "rlsd.verify.symbolic",
    "rlsd.verify.numbers",
    "rlsd.verify.choice",
    "rlsd.verify.text",
)

GradeFn = Callable[..., float]
FallbackFn = Callable[[str], "str | None"]
F = TypeVar("F", bound=Callable[..., Any])

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_REF = re.compile(rf"(?P<module>{_DOTTED}):(?P<attr>{_DOTTED})")
_PLUGIN_SPEC = re.compile(rf"(?:(?P<name>{_NAME.pattern})=)?(?P<ref>{_DOTTED}:{_DOTTED})")


@dataclass(frozen=True)
class Verifier:
    """A registered verifier: what the grading worker imports and calls."""

    name: str
    grade_ref: str  # "package.module:qualname" of the grade function
    fallback_ref: str | None = None  # same, for the fallback extractor; None = whole response
    config_options: Mapping[str, str] = field(default_factory=dict)  # kwarg -> config field
    origin: str = "decorator"  # "decorator", "plugin" or "entry point"; for messages
    # When the gold lists several parts, all boxed parts of the response together are the
    # answer (``x = \\boxed{2}`` or ``\\boxed{-3}`` for gold ``2, -3``).
    multi_box: bool = False


_registry: dict[str, Verifier] = {}
_lock = threading.Lock()
# Separate from _lock: the built-in modules register themselves (taking _lock) while imported.
_builtins_lock = threading.Lock()
_builtins_loaded = False


def function_ref(fn: Callable[..., Any]) -> str:
    """``"module:qualname"`` of a module-level function; an error for lambdas and closures."""
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if not module or not qualname or "<" in qualname:
        raise VerifyError(
            f"{fn!r} is not a module-level function; verifiers run in grading worker processes "
            "that import them by name, so define it at module level"
        )
    return f"{module}:{qualname}"


def resolve_ref(ref: str) -> Any:
    """Import ``"package.module:qualname"`` and return the object it names."""
    match = _REF.fullmatch(ref)
    if not match:
        raise PluginError(f"{ref!r} is not of the form package.module:function")
    obj: Any = importlib.import_module(match.group("module"))
    for part in match.group("attr").split("."):
        obj = getattr(obj, part)
    return obj


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise VerifyError(
            f"verifier name {name!r} is invalid: use letters, digits, '_', '-', '.' (no ':')"
        )


def _check_config_options(name: str, options: Mapping[str, str]) -> None:
    from rlsd.verify.settings import VerifyConfig  # settings imports nothing from here

    fields = {f.name for f in dataclasses.fields(VerifyConfig)}
    unknown = sorted(set(options.values()) - fields)
    if unknown:
        raise VerifyError(
            f"verifier '{name}': config_options name unknown VerifyConfig field(s) {unknown}"
        )


def _add(verifier: Verifier, replace: bool) -> None:
    with _lock:
        old = _registry.get(verifier.name)
        if old is not None and old != verifier and not replace:
            raise VerifyError(
                f"verifier '{verifier.name}' is already registered ({old.grade_ref}, "
                f"{old.origin}); pass replace=True to override it"
            )
        _registry[verifier.name] = verifier


def register_verifier(
    name: str,
    *,
    fallback: FallbackFn | None = None,
    config_options: Mapping[str, str] | None = None,
    replace: bool = False,
    multi_box: bool = False,
) -> Callable[[F], F]:
    """Decorator: register ``grade(answer, gold, **options) -> float`` under ``name``.

    ``fallback(response) -> str | None`` finds the answer when the response has neither
    ``<answer>`` tags nor a ``\\boxed{}``. ``config_options`` maps a keyword of ``grade`` to
    the :class:`~rlsd.verify.settings.VerifyConfig` field that supplies it. ``multi_box``:
    when the gold lists several parts, the verifier receives every box joined by ``", "``.
    The function is returned unchanged.
    """
    _check_name(name)
    _check_config_options(name, config_options or {})

    def decorate(fn: F) -> F:
        verifier = Verifier(
            name=name,
            grade_ref=function_ref(fn),
            fallback_ref=function_ref(fallback) if fallback is not None else None,
            config_options=dict(config_options or {}),
            multi_box=multi_box,
        )
        _add(verifier, replace)
        return fn

    return decorate


def _load_builtins() -> None:
    global _builtins_loaded
    if _builtins_loaded:
        return
    with _builtins_lock:
        if not _builtins_loaded:
            for module in BUILTIN_MODULES:
                importlib.import_module(module)
            _builtins_loaded = True


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    # Read fresh each time: entry points are only consulted for names not yet registered.
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}


def _registered_for(obj: Any) -> Verifier | None:
    """The registration (if any) whose grade function is ``obj``: keeps its fallback/options."""
    with _lock:
        candidates = list(_registry.values())
    return next((v for v in candidates if _same_function(v, obj)), None)


def _same_function(verifier: Verifier, obj: Any) -> bool:
    try:
        return resolve_ref(verifier.grade_ref) is obj
    except Exception:  # a stale or broken registration is not this one
        return False


def _register_loaded(name: str, ref: str, obj: Any, origin: str) -> Verifier:
    if not callable(obj):
        raise PluginError(f"{origin} '{name}' = {ref} is {type(obj).__name__}, not a function")
    with _lock:
        old = _registry.get(name)
    if old is not None:
        if old.grade_ref == ref or _same_function(old, obj):
            return old  # already there (e.g. the module registered itself when imported)
        raise PluginError(
            f"{origin} '{name}' = {ref} clashes with the registered verifier '{name}' "
            f"({old.grade_ref}); choose another name"
        )
    known = _registered_for(obj)
    verifier = Verifier(
        name=name,
        grade_ref=ref,
        fallback_ref=known.fallback_ref if known else None,
        config_options=dict(known.config_options) if known else {},
        origin=origin,
        multi_box=known.multi_box if known else False,
    )
    _add(verifier, replace=False)
    return verifier


def _load_entry_point(name: str) -> Verifier | None:
    ep = _entry_points().get(name)
    if ep is None:
        return None
    try:
        obj = ep.load()
    except Exception as exc:
        raise PluginError(
            f"entry point '{name}' ({ENTRY_POINT_GROUP}) = {ep.value} failed to load: {exc}"
        ) from exc
    ref = f"{ep.module}:{ep.attr}" if ep.attr else ep.module  # ep.value may carry [extras]
    return _register_loaded(name, ref, obj, "entry point")


def get_verifier(name: str) -> Verifier:
    """The verifier registered under ``name`` (loading an installed entry point if needed).

    Raises :class:`UnknownVerifierError` naming ``name`` and the available verifiers.
    ``name`` is only ever looked up, never imported: data cannot name code.
    """
    _load_builtins()
    with _lock:
        found = _registry.get(name)
    if found is not None:
        return found
    if isinstance(name, str) and _NAME.fullmatch(name):
        loaded = _load_entry_point(name)
        if loaded is not None:
            return loaded
    raise UnknownVerifierError(
        f"unknown verifier {name!r}; available: {available_verifiers()}. Data may only name a "
        f"registered verifier; an operator adds one with --plugin NAME=package.module:function "
        f"or an '{ENTRY_POINT_GROUP}' entry point"
    )


def available_verifiers() -> list[str]:
    """Names of registered verifiers plus installed entry points (not yet loaded), sorted."""
    _load_builtins()
    with _lock:
        names = set(_registry)
    return sorted(names | set(_entry_points()))


def load_plugin(spec: str) -> str:
    """Register an operator's plug-in, ``"name=package.module:function"``; return its name.

    Without ``name=`` the function's own name is used. This is for settings the operator
    controls (a CLI flag, a config file), never for values read from data. Loading the same
    spec twice is a no-op.
    """
    match = _PLUGIN_SPEC.fullmatch(spec.strip()) if isinstance(spec, str) else None
    if not match:
        raise PluginError(f"plug-in {spec!r} is not of the form name=package.module:function")
    ref = match.group("ref")
    name = match.group("name") or ref.rsplit(":", 1)[1].rsplit(".", 1)[-1]
    _load_builtins()  # first, so a plug-in module cannot take a built-in's name unnoticed
    try:
        obj = resolve_ref(ref)
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"plug-in {spec!r}: cannot import {ref}: {exc}") from exc
    return _register_loaded(name, ref, obj, "plugin").name


def unregister_verifier(name: str) -> None:
    """Remove ``name`` from the registry (tests and interactive use); unknown names are ignored."""
    with _lock:
        _registry.pop(name, None)
