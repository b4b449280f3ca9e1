"""The verifier registry: built-ins, decorator, operator plug-ins, entry points, and data that
tries to name code."""

from __future__ import annotations

import textwrap
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from rlsd.verify import (
    PluginError,
    UnknownVerifierError,
    VerifyConfig,
    VerifyError,
    VerifyItem,
    available_verifiers,
    get_verifier,
    load_plugin,
    register_verifier,
    resolve_verifiers,
    unregister_verifier,
    verify_batch,
)

BUILTINS = {"math", "gsm8k", "choice", "numeric", "exact"}


def test_builtins_are_registered_by_reference() -> None:
    assert set(available_verifiers()) >= BUILTINS
    math = get_verifier("math")
    assert math.grade_ref == "rlsd.verify.symbolic:math_verifier"
    # no fallback: math-verify's own extraction reads the final region (issue 11, kind 19)
    assert math.fallback_ref is None
    assert math.multi_box
    assert get_verifier("numeric").config_options == {
        "rel_tol": "numeric_rel_tol",
        "abs_tol": "numeric_abs_tol",
    }


@pytest.mark.parametrize(
    "name", ["os:system", "subprocess:call", "nope", "rlsd.verify.symbolic:math_verifier"]
)
def test_data_cannot_name_code(name: str) -> None:
    with pytest.raises(UnknownVerifierError, match="unknown verifier") as info:
        get_verifier(name)
    message = str(info.value)
    assert repr(name) in message and "--plugin" in message and "math" in message


def test_a_row_naming_os_system_fails_the_batch_before_grading() -> None:
    items = [
        VerifyItem("<answer>1</answer>", "1", "math"),
        VerifyItem("rm -rf /", "x", "os:system"),
    ]
    with pytest.raises(UnknownVerifierError, match=r"\['os:system'\]"):
        verify_batch(items)


def test_all_unknown_names_are_reported_together() -> None:
    with pytest.raises(UnknownVerifierError, match=r"\['bogus', 'os:system'\]"):
        resolve_verifiers(["math", "os:system", "bogus", None], VerifyConfig())


def test_registration_rules() -> None:
    with pytest.raises(VerifyError, match="not a module-level function"):
        register_verifier("lambda-verifier")(lambda a, g: 1.0)
    with pytest.raises(VerifyError, match="is invalid"):
        register_verifier("pkg.mod:fn")
    with pytest.raises(VerifyError, match=r"unknown VerifyConfig field\(s\) \['rel_tolerance'\]"):
        register_verifier("test-opts", config_options={"rel_tol": "rel_tolerance"})
    with pytest.raises(VerifyError, match="already registered"):
        register_verifier("math")(_other_grade)
    register_verifier("test-other")(_other_grade)
    try:
        register_verifier("test-other")(_other_grade)  # same function again: a no-op
        assert get_verifier("test-other").grade_ref.endswith(":_other_grade")
    finally:
        unregister_verifier("test-other")


def _other_grade(answer: str, gold: str) -> float:
    return 0.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("os.system", "not of the form"),
        ("name=os.system()", "not of the form"),
        ("x=rlsd_no_such_module_xyz:fn", "cannot import"),
        ("x=os:no_such_function", "cannot import"),
        ("x=os:sep", "not a function"),
        ("math=os.path:join", "clashes with the registered verifier 'math'"),
    ],
)
def test_bad_plugin_specs(spec: str, message: str) -> None:
    with pytest.raises(PluginError, match=message):
        load_plugin(spec)


def test_operator_plugin_runs_in_a_grading_worker(make_plugin: Callable[[str], str]) -> None:
    module = make_plugin(
        """
        import multiprocessing

        def reversed_match(answer, gold):
            return float(answer[::-1] == gold)

        def in_worker(answer, gold):
            return float(multiprocessing.parent_process() is not None)
        """
    )
    assert load_plugin(f"rev={module}:reversed_match") == "rev"
    assert load_plugin(f"{module}:in_worker") == "in_worker"  # name defaults to the function's
    assert load_plugin(f"rev={module}:reversed_match") == "rev"  # loading twice is a no-op
    assert {"rev", "in_worker"} <= set(available_verifiers())
    results = verify_batch(
        [
            VerifyItem("<answer>cba</answer>", "abc", "rev"),
            VerifyItem("<answer>abc</answer>", "abc", "rev"),
            VerifyItem("<answer>x</answer>", "x", "in_worker"),
        ]
    )
    assert [r.accuracy for r in results] == [1.0, 0.0, 1.0]
    assert results[1].reason == "wrong answer: got abc, expected abc"


def test_plugins_from_config_and_their_fallback(make_plugin: Callable[[str], str]) -> None:
    module = make_plugin(
        """
        from rlsd.verify import register_verifier

        def last_word(response):
            words = response.split()
            return words[-1] if words else None

        @register_verifier("test-word", fallback=last_word)
        def same_word(answer, gold):
            return float(answer.lower() == gold.lower())
        """
    )
    config = VerifyConfig(extra_verifiers=[f"word={module}:same_word"], default_verifier="word")
    # registered under a second name, the function keeps its fallback extractor
    results = verify_batch([VerifyItem("I think it is Paris", "paris")], config)
    assert results[0].accuracy == 1.0
    assert get_verifier("word").fallback_ref == f"{module}:last_word"


def test_entry_point_plugins_load_lazily(plugin_dir: Path) -> None:
    package = f"rlsd_test_ep_{uuid.uuid4().hex[:10]}"  # workers keep what they imported
    (plugin_dir / package).mkdir()
    (plugin_dir / package / "__init__.py").write_text(
        textwrap.dedent(
            """
            LOADED = []

            def starts_with(answer, gold):
                return float(answer.startswith(gold))
            """
        )
    )
    dist = plugin_dir / f"{package}-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        f"[rlsd.verifiers]\ntest-prefix = {package}:starts_with\ntest-broken = {package}:missing\n"
    )
    assert {"test-prefix", "test-broken"} <= set(available_verifiers())
    import sys

    assert package not in sys.modules  # listed, not yet imported
    verifier = get_verifier("test-prefix")
    assert verifier.grade_ref == f"{package}:starts_with" and verifier.origin == "entry point"
    results = verify_batch(
        [
            VerifyItem("<answer>hello world</answer>", "hello", "test-prefix"),
            VerifyItem("<answer>world</answer>", "hello", "test-prefix"),
        ]
    )
    assert [r.accuracy for r in results] == [1.0, 0.0]
    with pytest.raises(PluginError, match="entry point 'test-broken'.*failed to load"):
        get_verifier("test-broken")
