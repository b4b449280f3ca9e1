"""Bug kinds reported from the field (issue 11), each tested as a kind with its right values.

Graded in this process through :func:`rlsd.verify.grading.grade`, the function each grading
worker runs (extraction, final region, multi-box joining, verifier); the pool path and the
machinery failures are tested at the end through the public API.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from rlsd.verify import GradingError, VerifyConfig, VerifyItem, score, verify_batch
from rlsd.verify.grading import GradeOutcome, GradeTask, grade
from rlsd.verify.registry import get_verifier

REPO = Path(__file__).resolve().parents[2]


def graded(verifier: str, response: str, gold: str) -> GradeOutcome:
    """Grade one response as a worker does, with the default settings."""
    found = get_verifier(verifier)
    config = VerifyConfig()
    options = {kw: getattr(config, name) for kw, name in found.config_options.items()}
    return grade(
        GradeTask(
            response=response,
            gold=gold,
            grade_ref=found.grade_ref,
            fallback_ref=found.fallback_ref,
            options=options,
            multi_box=found.multi_box,
        )
    )


def accuracy(verifier: str, response: str, gold: str) -> float:
    return graded(verifier, response, gold).accuracy


# ---- 1. numbers compared to the precision the gold states -----------------------------------


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        # near misses beyond the gold's precision, and exact tiny quantities
        (r"\boxed{0.0000004}", "0.0000003", 0.0),
        (r"\boxed{2^{-70}}", r"2^{-71}", 0.0),
        (r"\boxed{1.0000004}", "1.0000001", 0.0),
        (r"\boxed{10^{-9}}", r"2 \cdot 10^{-9}", 0.0),
        (r"\boxed{\frac{1}{1000001}}", r"\frac{1}{1000000}", 0.0),
        (r"\boxed{1000001}", "1000000", 0.0),
        (r"\boxed{3.1416}", r"\pi", 0.0),  # an exact gold wants the exact value
        (r"\boxed{0.333}", r"\frac{1}{3}", 0.0),
        (r"\boxed{1.0000001}", "1.0000001", 1.0),
        (r"\boxed{2^{-71}}", r"2^{-71}", 1.0),
        (r"\boxed{\frac{1}{2^{71}}}", r"2^{-71}", 1.0),
        (r"\boxed{\frac{\sqrt{8}}{2}}", r"\sqrt{2}", 1.0),
        # a gold written with d decimals is read as rounded: within half a unit of its last digit
        (r"\boxed{\frac{1}{3}}", "0.33", 1.0),
        (r"\boxed{0.334}", "0.33", 1.0),
        (r"\boxed{0.3}", "0.33", 0.0),
        (r"\boxed{0.34}", "0.33", 0.0),
        (r"\boxed{\pi}", "3.14", 1.0),
        (r"\boxed{\sqrt{17}}", "4.123105625617661", 1.0),
        (r"\boxed{4.5}", "4.50", 1.0),
        (r"\boxed{12.0}", "12", 1.0),
        (r"\boxed{25\%}", "0.25", 1.0),
    ],
)
def test_numbers_are_compared_to_the_precision_the_gold_states(
    response: str, gold: str, expected: float
) -> None:
    assert accuracy("math", response, gold) == expected


# ---- 2. answers boxed in several places ---------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        (r"So $x = \boxed{2}$ or $x = \boxed{-3}$.", "2, -3", 1.0),
        (r"The roots are \boxed{-1} and \boxed{4}.", r"\{-1, 4\}", 1.0),
        (r"\boxed{(2, 2)} \quad \text{and} \quad \boxed{(6, 2)}", "(2, 2), (6, 2)", 1.0),
        (r"\boxed{1}, \boxed{2}, \boxed{3}", "{1,2,3}", 1.0),
        (r"<answer>\boxed{4} and \boxed{-1}</answer>", "-1, 4", 1.0),
        (r"\boxed{2} or \boxed{5}", "2, -3", 0.0),  # one part wrong
        (r"\boxed{2}", "2, -3", 0.0),  # one part missing
        # a single-valued gold still takes the last box: a second box is a change of mind
        (r"First \boxed{5}, but rechecking, \boxed{3}.", "3", 1.0),
        (r"\boxed{3} or \boxed{5}", "3", 0.0),
        (r"\boxed{(1, 2)}", "(1, 2)", 1.0),  # a tuple is one answer
    ],
)
def test_several_boxes_together_answer_a_gold_that_lists_several_parts(
    response: str, gold: str, expected: float
) -> None:
    assert accuracy("math", response, gold) == expected


# ---- 3. and 11. option letters inside math delimiters or emphasis ----------------------------


@pytest.mark.parametrize(
    "response",
    [
        "Let me check each.\nFinal answer: $D$",
        r"So the answer is \(D\).",
        r"The answer is $\textbf{D}$",
        r"The answer is \[D\]",
        "**Answer:** **D**",
        "The correct option is *D*.",
        "Answer: __D__",
        r"The answer is $\boxed{D}$.",
    ],
)
def test_option_letters_in_math_delimiters_or_emphasis(response: str) -> None:
    assert accuracy("choice", response, "D") == 1.0
    assert accuracy("choice", response, "B") == 0.0


# ---- 4. the stated answer wins over later mentions ----------------------------------------------


@pytest.mark.parametrize(
    ("verifier", "response", "gold"),
    [
        ("choice", "The answer is C. Choice A is tempting but wrong.", "C"),
        ("choice", "<answer>C, since option B double counts</answer>", "C"),
        ("choice", "The answer is (C) because option D ignores the loss.", "C"),
        ("choice", "<answer>C because B double counts</answer>", "C"),
        ("gsm8k", "<answer>12, which took 3 steps</answer>", "12"),
        ("numeric", "<answer>40 (8 boxes of 5 each)</answer>", "40"),
        ("math", "<answer>12, which took 3 steps</answer>", "12"),
        ("exact", "<answer>Paris, France</answer>", "Paris, France"),
        ("gsm8k", "The answer is 12, which took 3 steps.", "12"),
        ("gsm8k", "So the answer is $12 (4 groups of 3).", "12"),
        ("numeric", "Answer: 40 (8 boxes of 5 each).", "40"),
        ("numeric", "The final answer is 2.5; the other root, 7, is not valid.", "2.5"),
        ("math", "Answer: 40 (8 boxes of 5 each).", "40"),
        ("math", "The answer is $\\frac{1}{2}$, since 3 of the 6 cases work.", "1/2"),
        ("math", "The answer is 12, which took 3 steps.", "12"),
        ("exact", "The answer is Paris, which is in France.", "paris"),
        # a phrase restating the answer after a box from the working wins over the box
        ("math", "Interest: $\\boxed{200}$ ... The final answer is $10,455$.", "10455"),
    ],
)
def test_the_stated_answer_wins_over_later_mentions(
    verifier: str, response: str, gold: str
) -> None:
    assert accuracy(verifier, response, gold) == 1.0


@pytest.mark.parametrize(
    ("verifier", "response", "wrong_gold"),
    [
        ("choice", "The answer is C. Choice A is tempting but wrong.", "A"),
        ("gsm8k", "The answer is 12, which took 3 steps.", "3"),
        ("numeric", "Answer: 40 (8 boxes of 5 each).", "5"),
        ("math", "Answer: 40 (8 boxes of 5 each).", "5"),
    ],
)
def test_a_later_mention_is_not_the_answer(verifier: str, response: str, wrong_gold: str) -> None:
    assert accuracy(verifier, response, wrong_gold) == 0.0


def test_prose_is_not_an_option_letter() -> None:
    assert accuracy("choice", "<answer>A train leaves at noon.</answer>", "A") == 0.0
    assert accuracy("choice", "The answer is a triangle.", "A") == 0.0


# ---- 10. answers inside reasoning blocks ------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        ("<think>\nMaybe \\boxed{4}? No, recheck.\n</think>\nSo the result is $6$.", "6", 1.0),
        ("<think>\nMaybe \\boxed{4}? No, recheck.\n</think>\nSo the result is $6$.", "4", 0.0),
        ("<thought>The answer is 9?</thought><answer>7</answer>", "7", 1.0),
        ("<thought>The answer is 9?</thought><answer>7</answer>", "9", 0.0),
        # the opening tag was in the prompt (Qwen3's template): read after the close
        ("maybe \\boxed{1}\n</think>\n\\boxed{2}", "2", 1.0),
        ("maybe \\boxed{1}\n</think>\n\\boxed{2}", "1", 0.0),
    ],
)
def test_only_what_follows_the_reasoning_block_is_graded(
    response: str, gold: str, expected: float
) -> None:
    assert accuracy("math", response, gold) == expected


@pytest.mark.parametrize(
    ("verifier", "response", "gold"),
    [
        ("math", "<thought>\nTry: \\boxed{9}? Let me verify the", "9"),
        ("math", "<think>The answer is 9", "9"),
        ("gsm8k", "<think>So #### 9", "9"),
        ("choice", "<thought>The answer is B, unless", "B"),
        ("math", "<think>a</think> then <think>\\boxed{9}", "9"),  # reopened, never closed
    ],
)
def test_a_reasoning_block_that_never_closes_has_no_final_answer(
    verifier: str, response: str, gold: str
) -> None:
    outcome = graded(verifier, response, gold)
    assert outcome.accuracy == 0.0 and outcome.status == "no_answer"
    assert "reasoning block never closes" in outcome.reason


def test_the_reason_says_the_reasoning_block_was_skipped() -> None:
    outcome = graded("math", "<think>\\boxed{6}</think> so \\boxed{4}", "6")
    assert outcome.reason == "wrong answer: got 4, expected 6 (graded after the reasoning block)"


# ---- 11. Markdown emphasis around numbers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("verifier", "response"),
    [
        ("math", "Final answer: **21**"),
        ("math", "**Final answer:** 21"),
        ("gsm8k", "The answer is **21**."),
        ("numeric", "Answer: *21*"),
        ("exact", "Answer: **21**"),
    ],
)
def test_markdown_emphasis_is_not_part_of_the_answer(verifier: str, response: str) -> None:
    assert accuracy(verifier, response, "21") == 1.0


def test_a_power_written_with_stars_is_not_emphasis() -> None:
    assert accuracy("math", "The answer is 2**3 and 4**5", "2") == 0.0


# ---- 12. gold answers the parser reads only in part ---------------------------------------------


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        (r"\boxed{2}", 0.0),
        (r"\boxed{2 - \frac{1}{\mathrm{e}}}", 0.0),
        (r"\boxed{2 + \frac{1}{e}}", 1.0),
        (r"\boxed{2 + e^{-1}}", 1.0),
    ],
)
def test_euler_e_in_the_gold_is_read_whole(response: str, expected: float) -> None:
    assert accuracy("math", response, r"2 + \frac{1}{\mathrm{e}}") == expected


def test_a_gold_read_only_in_part_is_an_error_never_compared_in_part() -> None:
    outcome = graded("math", r"\boxed{2}", r"2 + \frac{1}{\mathrm{cm}}")
    assert outcome.status == "error" and outcome.accuracy == 0.0
    assert "math-verify reads only '2 + \\\\frac{1}{' of gold answer" in outcome.reason


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        ("<answer>2e3</answer>", "2000"),
        (r"\boxed{1.5e-3}", "0.0015"),
        (r"\boxed{2\times10^3}", "2000"),
    ],
)
def test_scientific_notation_is_a_number(response: str, gold: str) -> None:
    assert accuracy("math", response, gold) == 1.0


def test_the_self_check_catches_a_gold_read_in_part() -> None:
    from rlsd.verify.extract import paper_format

    outcome = graded(
        "math", paper_format(r"2 + \frac{1}{\mathrm{cm}}"), r"2 + \frac{1}{\mathrm{cm}}"
    )
    assert outcome.accuracy == 0.0 and outcome.status == "error"


# ---- 13. escaped dollar signs -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        (r"\boxed{4.50}", r"\$4.50"),
        (r"\boxed{\$4.50}", "4.50"),
        (r"\boxed{\$1,234}", r"\$1,234"),
        (r"The answer is \$18.", "18"),
    ],
)
def test_escaped_dollars_are_currency(response: str, gold: str) -> None:
    assert accuracy("math", response, gold) == 1.0


def test_an_escaped_dollar_gold_still_rejects_a_wrong_amount() -> None:
    assert accuracy("math", r"\boxed{4.55}", r"\$4.50") == 0.0


# ---- 19 (in part). number spellings math-verify reads on its own ----------------------------------


@pytest.mark.parametrize(
    ("response", "gold"),
    [
        (r"\boxed{\frac{7}{4}}", "7/4"),
        (r"\boxed{2 500}", "2500"),
        (r"\boxed{3,75}", "3.75"),
        (r"\boxed{1,234}", "1234"),
        ("The total is 1 000.", "1000"),
    ],
)
def test_plain_text_fractions_spaces_and_decimal_commas(response: str, gold: str) -> None:
    assert accuracy("math", response, gold) == 1.0


# ---- 5. machinery failures raise; only answers score 0 ------------------------------------------


def _run_script(tmp_path: Path, body: str) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "grade_script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_WAIT_POLICY": "PASSIVE"},
    )


def test_a_script_grading_at_top_level_without_a_main_guard_fails_with_one_clear_error(
    tmp_path: Path,
) -> None:
    done = _run_script(
        tmp_path,
        """
        from rlsd.verify import score
        print("accuracy", score("math", r"\\boxed{4}", "4"))
        """,
    )
    assert done.returncode != 0
    assert "accuracy" not in done.stdout  # no reward of 0 handed out
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("rlsd.verify.errors.GradingError:")
    assert "grade_script.py, line 3" in last and 'if __name__ == "__main__":' in last


def test_the_same_script_with_a_main_guard_grades(tmp_path: Path) -> None:
    done = _run_script(
        tmp_path,
        """
        from rlsd.verify import score

        if __name__ == "__main__":
            print("accuracy", score("math", r"\\boxed{4}", "4"))
        """,
    )
    assert done.returncode == 0, done.stderr
    assert "accuracy 1.0" in done.stdout


def test_a_verifier_that_cannot_be_imported_raises_instead_of_scoring_zero(
    make_plugin,
) -> None:
    module = make_plugin("def grade(answer, gold):\n    return 1.0\n")
    from rlsd.verify.registry import Verifier, _add, unregister_verifier

    _add(Verifier(name="vanishing", grade_ref=f"{module}_gone:grade"), replace=True)
    try:
        with pytest.raises(GradingError, match="cannot import verifier"):
            verify_batch([VerifyItem("<answer>1</answer>", "1", "vanishing")])
    finally:
        unregister_verifier("vanishing")


def test_score_still_gives_zero_for_a_wrong_answer() -> None:
    assert score("math", r"\boxed{5}", "4") == 0.0


# ---- a second pass: cases a new user found after the first fixes ---------------------------


@pytest.mark.parametrize(
    ("verifier", "response", "gold", "expected"),
    [
        # the value after the last "=" of a stated clause is the answer
        ("gsm8k", "The answer is 2 \\times 6 = 12.", "12", 1.0),
        ("gsm8k", "The answer is 2 \\times 6 = 12.", "2", 0.0),
        ("gsm8k", "Answer: 12 - 7 = 5", "5", 1.0),
        ("numeric", "The answer is $2^{10} = 1024$.", "1024", 1.0),
        # decimal commas, space- and dot-grouped thousands
        ("gsm8k", "The answer is 1,5 liters", "1.5", 1.0),
        ("gsm8k", "The answer is 1,5 liters", "1", 0.0),
        ("gsm8k", "The total is 1 234 dollars.", "1234", 1.0),
        ("gsm8k", "#### 1 234", "1234", 1.0),
        ("gsm8k", "Answer: 1.000.000", "1000000", 1.0),
        ("numeric", "Answer: 3,14", "3.14", 1.0),
        # a power, a root or "x 10^" is not the first number it writes
        ("numeric", "Answer: 6.02 x 10^23", "6.02e23", 1.0),
        ("numeric", "Answer: 6.02 x 10^23", "6.02", 0.0),
        ("numeric", "Answer: $2^{10}$", "2", 0.0),
        ("numeric", "Answer: $\\sqrt{2}$", "2", 0.0),
        # an absolute tolerance only for a gold of exactly 0
        ("numeric", "Answer: 0", "6.67e-11", 0.0),
        ("numeric", "Answer: 5e-9", "1e-9", 0.0),
        ("numeric", "Answer: 1e-9", "0", 1.0),
        # hedges name no answer
        ("gsm8k", "The answer is 3 or 4", "3", 0.0),
        ("choice", "<answer>A, C</answer>", "A", 0.0),
        ("choice", "The answer is A/C", "A", 0.0),
        ("choice", "Final answer: A or B", "A", 0.0),
        ("choice", "The answer is not A. It is B.", "A", 0.0),
        # "options", "choices", a pronoun "I" are no option letters
        ("choice", "Comparing the options, the correct one is B.", "B", 1.0),
        ("choice", "I checked all choices. B fits.", "S", 0.0),
        ("choice", "Answer: I believe it is B", "I", 0.0),
        ("choice", "Answer: It is B", "B", 1.0),
    ],
)
def test_numbers_and_options_as_people_write_them(
    verifier: str, response: str, gold: str, expected: float
) -> None:
    assert accuracy(verifier, response, gold) == expected


@pytest.mark.parametrize(
    ("response", "gold", "expected"),
    [
        # decimals are the rationals they write, not binary floats
        (r"\boxed{0.001}", r"10^{-3}", 1.0),
        (r"\boxed{1.1}", r"1 + \frac{1}{10}", 1.0),
        (r"\boxed{0.35\pi}", r"\frac{7\pi}{20}", 1.0),
        (r"\boxed{0.04}", r"5^{-2}", 1.0),
        # e-notation is a number, never Euler's e
        (r"\boxed{1e-6}", r"10^{-6}", 1.0),
        (r"\boxed{10^{-6}}", "1e-6", 1.0),
        (r"\boxed{e-6}", "1e-6", 0.0),
        # a rounded gold in scientific notation is rounded at its last digit
        (r"\boxed{6.022\times 10^{23}}", r"6.02\times10^{23}", 1.0),
        (r"\boxed{6.03\times 10^{23}}", r"6.02\times10^{23}", 0.0),
        # rounding is half away from zero: 0.335 rounds to 0.34
        (r"\boxed{0.335}", "0.33", 0.0),
        (r"\boxed{0.325}", "0.33", 1.0),
        (r"\boxed{-0.335}", "-0.33", 0.0),
        # exact golds are exact, however large
        (r"\boxed{2^{200}+1}", r"2^{200}", 0.0),
        (r"\boxed{1+10^{-45}}", "1", 0.0),
        ("\\boxed{" + "1" * 49 + "2}", "1" * 50, 0.0),
        # element by element inside lists
        (r"\boxed{2^{-70}}, \boxed{1}", r"2^{-71}, 1", 0.0),
        (r"\boxed{2^{-71}}, \boxed{1}", r"2^{-71}, 1", 1.0),
        # units of one letter, with spacing
        (r"\boxed{5}", r"5 \text{ m}", 1.0),
        (r"\boxed{3}", r"3\,\mathrm{m/s}", 1.0),
        # lists joined by "and"
        (r"\boxed{2}, \boxed{3}", r"2 \text{ and } 3", 1.0),
        ("Answer: 2 and -3", "2, -3", 1.0),
    ],
)
def test_math_values_are_exact_and_rounded_golds_round_half_up(
    response: str, gold: str, expected: float
) -> None:
    assert accuracy("math", response, gold) == expected


@pytest.mark.parametrize(
    "response",
    ["<Think>maybe 4</Think> \\boxed{6}", "<think >maybe 4</think > \\boxed{6}",
     "<thinking>maybe 4</thinking>\n\\boxed{6}"],
)
def test_reasoning_tags_in_any_case_and_spacing(response: str) -> None:
    assert accuracy("math", response, "6") == 1.0
    assert accuracy("math", response, "4") == 0.0


@pytest.mark.parametrize(
    "guarded",
    [
        'if __name__ == "__main__" and len(sys.argv) >= 1:\n    print("accuracy", run())',
        'print("accuracy", run()) if __name__ == "__main__" else None',
    ],
)
def test_other_forms_of_main_guard_are_recognised(tmp_path: Path, guarded: str) -> None:
    done = _run_script(
        tmp_path,
        "import sys\nfrom rlsd.verify import score\n\n"
        "def run():\n    return score('math', r'\\boxed{4}', '4')\n\n" + guarded + "\n",
    )
    assert done.returncode == 0, done.stderr
    assert "accuracy 1.0" in done.stdout


def test_an_unguarded_call_after_a_guarded_one_is_named(tmp_path: Path) -> None:
    done = _run_script(
        tmp_path,
        """
        from rlsd.verify import score

        if __name__ == "__main__":
            print("first", score("math", r"\\boxed{4}", "4"))
        print("second", score("math", r"\\boxed{4}", "4"))
        """,
    )
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert "grade_script.py, line 6" in last and "GradingError" in last


def test_a_script_read_from_stdin_fails_with_one_clear_error(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-"],
        input='from rlsd.verify import score\nif __name__ == "__main__":\n'
        '    print(score("math", r"\\boxed{4}", "4"))\n',
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
        env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_WAIT_POLICY": "PASSIVE"},
    )
    assert done.returncode != 0
    assert "cannot re-import" in done.stderr.strip().splitlines()[-1]
