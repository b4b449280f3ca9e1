"""verify_batch / score end to end through the grading pool: shaped reward, reasons, and the
time and memory limits from worker threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from rlsd.verify import VerifyConfig, VerifyItem, score, verify_batch
from rlsd.verify.pool import live_worker_pids

GOOD = "<thought>48/2 = 24; 48 + 24 = 72</thought><answer>72</answer>"


def test_shaped_reward_is_09_accuracy_plus_01_format() -> None:
    items = [
        VerifyItem(GOOD, "72", "gsm8k"),  # right, well formed
        VerifyItem("48 + 24 = 72\n#### 72", "72", "gsm8k"),  # right, no format
        VerifyItem("<thought>hm</thought><answer>17</answer>", "18", "gsm8k"),  # wrong, formed
        VerifyItem("I do not know.", "18", "gsm8k"),
        VerifyItem("<answer>" + "9" * 2000 + "</answer>", "18", "gsm8k"),
    ]
    seen: list[int] = []
    results = verify_batch(items, on_result=lambda i, _r: seen.append(i))
    assert sorted(seen) == [0, 1, 2, 3, 4]
    assert [r.reward for r in results] == pytest.approx([1.0, 0.9, 0.1, 0.0, 0.0])
    assert [r.accuracy for r in results] == [1.0, 1.0, 0.0, 0.0, 0.0]
    assert [r.format for r in results] == [1.0, 0.0, 1.0, 0.0, 0.0]
    assert [r.reason for r in results] == [
        "correct",
        "correct",
        "wrong answer: got 17, expected 18 (graded after the reasoning block)",
        "no answer found",
        "answer too long (2000 chars > 1000)",
    ]
    assert [r.status for r in results] == ["graded", "graded", "graded", "no_answer", "too_long"]


def test_weights_and_overlong_penalty_are_configurable() -> None:
    config = VerifyConfig(
        accuracy_weight=1.0, format_weight=0.0, max_response_length=100, overlong_buffer=20
    )
    items = [
        VerifyItem(GOOD, "72", "gsm8k", length=80),  # at L_max - buffer: no penalty
        VerifyItem(GOOD, "72", "gsm8k", length=90),  # (80 - 90) / 20 = -0.5
        VerifyItem(GOOD, "72", "gsm8k", length=101),  # past L_max: -1
        VerifyItem(GOOD, "72", "gsm8k"),  # length = len(response) = 61 characters
    ]
    assert [r.reward for r in verify_batch(items, config)] == pytest.approx([1.0, 0.5, 0.0, 1.0])


def test_empty_batch() -> None:
    assert verify_batch([]) == []


def test_the_pool_is_reused_across_calls() -> None:
    config = VerifyConfig(workers=2)
    assert score("gsm8k", "#### 3", "3", config) == 1.0
    workers = set(live_worker_pids())
    assert len(workers) >= 2
    assert score("gsm8k", "#### 4", "3", config) == 0.0
    assert verify_batch([VerifyItem("#### 3", "3", "gsm8k")] * 4, config)[0].accuracy == 1.0
    assert set(live_worker_pids()) == workers  # no process started per call


def test_score_returns_accuracy_only() -> None:
    assert score("math", r"<answer>\dfrac{14}{3}</answer>", r"\frac{14}{3}") == 1.0
    assert score("choice", "The answer is (B).", "C") == 0.0
    assert score("numeric", "about 3.1416", "3.14159") == 1.0


def _hostile_items() -> list[VerifyItem]:
    return [
        VerifyItem(r"<answer>9^{9^{9^{9^{9}}}}</answer>", "18", "math"),  # tower of powers
        VerifyItem("<answer>" + "(" * 5000 + "</answer>", "18", "math"),
        VerifyItem(r"\boxed{" + r"\frac{" * 2000 + "1" + "}{2}" * 2000 + "}", "1", "math"),
        VerifyItem("<answer>" + "9" * 20_000 + "</answer>", "18", "math"),
    ]


def _normal_items() -> list[VerifyItem]:
    return [
        VerifyItem(r"<thought>t</thought><answer>\frac{1}{2}</answer>", "0.5", "math"),
        VerifyItem("So #### 72", "72", "gsm8k"),
        VerifyItem("The answer is (C).", "C", "choice"),
    ]


def test_hostile_answers_time_out_from_worker_threads() -> None:
    """A 2 s limit holds for hostile answers graded from non-main threads, and the other
    items of the same batch still get their rewards."""
    config = VerifyConfig(time_limit_s=2.0, max_answer_chars=100_000)  # let them reach sympy
    items = _hostile_items() + _normal_items()
    lone: dict[str, float] = {}

    def lone_score() -> None:
        lone["accuracy"] = score("math", r"\boxed{9^{9^{9^{9^{9}}}}}", "18", config)

    start = time.monotonic()
    thread = threading.Thread(target=lone_score)
    thread.start()
    with ThreadPoolExecutor(max_workers=1) as executor:
        results = executor.submit(verify_batch, items, config).result(timeout=120)
    thread.join(timeout=120)
    elapsed = time.monotonic() - start

    assert not thread.is_alive() and lone == {"accuracy": 0.0}
    assert elapsed < 30, f"took {elapsed:.1f}s"
    hostile, normal = results[:4], results[4:]
    assert [r.accuracy for r in hostile] == [0.0] * 4
    assert hostile[0].reason == "timeout after 2.0s" and hostile[0].status == "timeout"
    assert all(r.status in ("timeout", "graded", "error") for r in hostile)
    assert [(r.accuracy, r.reason) for r in normal] == [(1.0, "correct")] * 3
    assert [r.reward for r in normal] == pytest.approx([1.0, 0.9, 0.9])


def test_overlong_answers_are_not_graded_symbolically() -> None:
    start = time.monotonic()
    results = verify_batch(_hostile_items()[1:])  # default max_answer_chars = 1000
    assert time.monotonic() - start < 10  # pre-screened, no time limit reached
    assert [r.reason for r in results] == [
        "answer too long (5000 chars > 1000)",
        "answer too long (20001 chars > 1000)",
        "answer too long (20000 chars > 1000)",
    ]


def test_crash_memory_bomb_and_bad_verifiers_fail_only_their_item(
    make_plugin: Callable[[str], str],
) -> None:
    module = make_plugin(
        """
        import os
        import signal

        def crash(answer, gold):
            os.kill(os.getpid(), signal.SIGKILL)

        def memory_bomb(answer, gold):
            return float(len(bytearray(8 * 2**30)) > 0)  # 8 GiB > the 2 GiB worker limit

        def boom(answer, gold):
            raise ValueError("boom")

        def too_much(answer, gold):
            return 1.5

        def spin(answer, gold):
            while True:
                pass
        """
    )
    config = VerifyConfig(
        time_limit_s=2.0,
        extra_verifiers=[
            f"{module}:{fn}" for fn in ("crash", "memory_bomb", "boom", "too_much", "spin")
        ],
    )
    items = [
        VerifyItem("<answer>1</answer>", "1", "crash"),
        VerifyItem("<answer>1</answer>", "1", "memory_bomb"),
        VerifyItem("<answer>1</answer>", "1", "boom"),
        VerifyItem("<answer>1</answer>", "1", "too_much"),
        VerifyItem("<answer>1</answer>", "1", "spin"),
        *_normal_items(),
    ]
    results = verify_batch(items, config)
    reasons = [r.reason for r in results]
    # a worker killed by the answer gets a second try, then the answer scores 0 (the pool
    # itself still grades a known-good probe, so this is not a broken pool)
    assert (
        reasons[0] == "verifier error: this answer killed the grading worker twice (exit code -9)"
    )
    assert reasons[1] == "verifier error: out of memory"
    assert reasons[2] == "verifier error: ValueError: boom"
    assert reasons[3].startswith("verifier error:") and "returned 1.5, not in [0, 1]" in reasons[3]
    assert reasons[4] == "timeout after 2.0s"
    assert [r.accuracy for r in results[:5]] == [0.0] * 5
    assert [r.status for r in results[:5]] == ["error"] * 4 + ["timeout"]
    assert [(r.accuracy, r.reason) for r in results[5:]] == [(1.0, "correct")] * 3
