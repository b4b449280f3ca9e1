"""Benchmark presets: where each evaluation set lives, how its rows become prompts, how it is graded.

``load_benchmark(name, source=None, max_items=None)`` returns a table in
:data:`rlsd.data.PROMPT_SCHEMA` whose ``meta`` JSON holds ``benchmark``, ``subject`` and
``difficulty`` (the keys the per-subject breakdowns group by) plus a few benchmark-specific
fields. A preset reads, in its real column layout:

- the Hugging Face hub (``source=None``): ``datasets.load_dataset(hf_id, config, split)``, once
  per config (MMMU has one config per subject, AIME 2025 one per exam);
- a parquet export (``source`` = a ``.parquet`` file, a folder of parquet shards, or an
  ``s3://`` URI of either) -- what air-gapped clusters mirror to S3. An export holds the
  rows of every config one after another, in the same columns; images are the Hugging Face
  image structs ``{"bytes", "path"}`` that ``Dataset.to_parquet`` writes;
- a ``.jsonl`` file with the same columns (images as paths or ``data:`` URIs);
- ``hf:<id or local folder>``: ``datasets.load_dataset`` on that instead of the hub id.

Rows go through data prep's own row checks (:func:`rlsd.data.validate.normalise_row`: prompt
template, answer present, images decodable), so a benchmark prompt is exactly what training
prompts are. A row that cannot be used is an error naming it (benchmarks are not silently
shrunk: a score over fewer items is a different score), unless ``max_reject_fraction`` allows
some. Ids are ``<benchmark>/<source id>`` (or ``<benchmark>/<row number>`` when the source has
no id column); an id that repeats in the source gets ``#2``, ``#3``... so nothing is lost.

Column names were checked against the data sets' cards and public evaluation code
(lmms-eval, evalscope) where stated in each preset; where they could not be, the preset says so.
"""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from rlsd.data import io as data_io
from rlsd.data.errors import DataError
from rlsd.data.prompt_format import PROMPT_TEMPLATE
from rlsd.data.rejects import UNPARSABLE_ANSWER, WRONG_TYPE, RowRejected
from rlsd.data.schema import PROMPT_SCHEMA
from rlsd.data.sources import parse_jsonl
from rlsd.data.validate import RowRules, normalise_row

#: Instruction for multiple-choice items: the ``choice`` verifier reads the letter in <answer>.
CHOICE_TEMPLATE = (
    "{question}\n\nThink step by step inside <thought></thought>, then put only the letter of "
    "the correct option inside <answer></answer>."
)
LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_PLAIN_NUMBER = re.compile(r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)")
_LETTER = re.compile(r"\(?([A-Z])\)?")


class BenchmarkError(DataError):
    """A benchmark cannot be loaded as asked; the message names the benchmark and the problem."""


@dataclass(frozen=True)
class RowContext:
    """Where a raw row came from: its position within its config, and the config name."""

    index: int
    config: str | None


#: ``convert(raw_row, context) -> mapped row`` with keys id, prompt, answer, solution, images,
#: verifier, meta (a dict); raises :class:`RowRejected` for a row it cannot use.
Converter = Callable[[Mapping[str, Any], RowContext], dict[str, Any]]


@dataclass(frozen=True)
class BenchmarkPreset:
    """One benchmark: its Hugging Face location, the columns it must have, and its converter.

    ``columns`` are checked once, before any row is converted, so a wrong mirror is one error
    naming the missing columns. ``prompt_template`` wraps free-form questions and
    ``choice_template`` multiple-choice ones (both hold ``{question}`` once).
    """

    name: str
    title: str
    hf_id: str
    hf_configs: tuple[str | None, ...]
    split: str
    columns: tuple[str, ...]
    convert: Converter
    verifier: str
    prompt_template: str = PROMPT_TEMPLATE
    choice_template: str = CHOICE_TEMPLATE
    aliases: tuple[str, ...] = field(default_factory=tuple)
    max_prompt_chars: int = 16384


# ----------------------------------------------------------------------------- helpers


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _require(raw: Mapping[str, Any], column: str) -> Any:
    value = raw.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RowRejected(WRONG_TYPE, f"column {column!r} is empty")
    return value


def _first_image(raw: Mapping[str, Any], *columns: str) -> Any:
    """The first non-empty of ``columns`` (e.g. the decoded image, then its path)."""
    for column in columns:
        value = raw.get(column)
        if isinstance(value, Mapping) and value.get("bytes") is None and not value.get("path"):
            continue
        if value not in (None, "", [], ()):
            return value
    return None


def render_options(options: Sequence[Any]) -> str:
    """``(A) first`` / ``(B) second`` lines, one per option."""
    if len(options) > len(LETTERS):
        raise RowRejected(WRONG_TYPE, f"{len(options)} options, at most {len(LETTERS)} supported")
    return "\n".join(f"({LETTERS[i]}) {_text(o)}" for i, o in enumerate(options))


def _with_options(question: str, options: Sequence[Any]) -> str:
    return f"{question}\n\nOptions:\n{render_options(options)}"


def letter_of(answer: Any, options: Sequence[Any]) -> str:
    """The option letter of ``answer``: the letter of the one option whose text equals the
    answer, else the answer itself when it is a letter (``B`` / ``(B)``) within the options."""
    text = _text(answer)
    # The option text first: MathVista's answers are texts, and a text may look like a letter.
    matches = [i for i, o in enumerate(options) if _text(o) == text]
    if len(matches) == 1:
        return LETTERS[matches[0]]
    sole = _LETTER.fullmatch(text)
    if sole and LETTERS.index(sole.group(1)) < max(len(options), 1):
        return sole.group(1)
    raise RowRejected(UNPARSABLE_ANSWER, f"answer {text[:80]!r} is neither an option letter nor "
                                         f"one of the {len(options)} options")


def is_plain_number(text: str) -> bool:
    """``12``, ``-3.5``, ``1,024``: graded by value (``numeric``) rather than as text."""
    return bool(_PLAIN_NUMBER.fullmatch(text.replace(",", "").strip()))


def _row_id(name: str, raw_id: Any, context: RowContext) -> str:
    if raw_id is None or (isinstance(raw_id, str) and not raw_id.strip()):
        prefix = f"{context.config}-" if context.config else ""
        return f"{name}/{prefix}{context.index:05d}"
    return f"{name}/{_text(raw_id)}"


def _mapped(row_id: str, prompt: str, answer: Any, verifier: str, meta: dict[str, Any],
            images: Any = None, solution: Any = None) -> dict[str, Any]:
    return {"id": row_id, "prompt": prompt, "answer": answer, "solution": solution,
            "images": images, "verifier": verifier, "meta": meta}


def _aime_part(text: str | None) -> str | None:
    """``AIME I`` / ``AIME II`` from a config name or URL (``AIME2025-II``, ``2024_AIME_I_``)."""
    if not text:
        return None
    match = re.search(r"AIME[\s_-]*\d{0,4}[\s_-]*(II|I)(?![A-Za-z])", text)
    return f"AIME {match.group(1)}" if match else None


def _aime_difficulty(number: int | None) -> str | None:
    """AIME problems get harder with their number: bucket 1-5, 6-10, 11-15."""
    if number is None or not 1 <= number <= 15:
        return None
    low = 5 * ((number - 1) // 5) + 1
    return f"problems {low}-{low + 4}"


# ----------------------------------------------------------------------------- converters


def _convert_gsm8k(raw: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    solution = _text(_require(raw, "answer"))
    if "####" not in solution:
        raise RowRejected(UNPARSABLE_ANSWER, f"no '####' marker in answer {solution[-80:]!r}")
    return _mapped(_row_id("gsm8k", None, ctx), _text(_require(raw, "question")),
                   solution.rsplit("####", 1)[1].strip(), "gsm8k",
                   {"subject": None, "difficulty": None}, solution=solution)


def _convert_math500(raw: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    level = raw.get("level")
    return _mapped(_row_id("math500", raw.get("unique_id"), ctx), _text(_require(raw, "problem")),
                   _require(raw, "answer"), "math",
                   {"subject": raw.get("subject"),
                    "difficulty": f"level {level}" if level is not None else None},
                   solution=raw.get("solution"))


def _convert_aime2024(raw: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    url = _text(raw.get("url"))
    number = re.search(r"Problem_(\d+)", url)
    return _mapped(_row_id("aime2024", raw.get("id"), ctx), _text(_require(raw, "problem")),
                   _require(raw, "answer"), "math",
                   {"subject": _aime_part(url),
                    "difficulty": _aime_difficulty(int(number.group(1)) if number else None),
                    "year": raw.get("year"), "url": url or None},
                   solution=raw.get("solution"))


def _convert_aime2025(raw: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    # opencompass/AIME2025 rows are in exam order, 15 per config: position = problem number.
    number = ctx.index + 1 if ctx.config else None
    return _mapped(_row_id("aime2025", None, ctx), _text(_require(raw, "question")),
                   _require(raw, "answer"), "math",
                   {"subject": _aime_part(ctx.config), "difficulty": _aime_difficulty(number)})


def _mathvista_hint(raw: Mapping[str, Any]) -> str:
    answer_type = _text(raw.get("answer_type"))
    unit = _text(raw.get("unit"))
    unit_note = f" (unit: {unit})" if unit else ""
    if answer_type == "integer":
        return f"Answer with an integer{unit_note}."
    if answer_type == "float":
        precision = raw.get("precision")
        if precision is not None:
            places = int(precision)
            return f"Answer with a number with {places} decimal place{'s' if places != 1 else ''}{unit_note}."
        return f"Answer with a number{unit_note}."
    if answer_type == "list":
        return "Answer with a Python list, e.g. [1, 2]."
    return ""


def _convert_mathvista(raw: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    question = _text(_require(raw, "question"))
    answer = _require(raw, "answer")
    metadata = raw.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        metadata = {}
    meta = {"subject": metadata.get("task"), "difficulty": metadata.get("grade"),
            "category": metadata.get("category"), "skills": metadata.get("skills"),
            "question_type": raw.get("question_type"), "answer_type": raw.get("answer_type")}
    images = _first_image(raw, "decoded_image", "image")
    row_id = _row_id("mathvista", raw.get("pid"), ctx)
    if raw.get("question_type") == "multi_choice":
        choices = list(raw.get("choices") or [])
        if not choices:
            raise RowRejected(WRONG_TYPE, "multi_choice question without choices")
        return _mapped(row_id, _with_options(question, choices), letter_of(answer, choices),
                       "choice", meta, images)
    hint = _mathvista_hint(raw)
    prompt = f"{question}\n\n{hint}" if hint else question
    verifier = "numeric" if raw.get("answer_type") in ("integer", "float") else "exact"
    return _mapped(row_id, prompt, answer, verifier, meta, images)


def _convert_mathvision(raw: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    question = _text(_require(raw, "question"))
    answer = _text(_require(raw, "answer"))
    options = list(raw.get("options") or [])
    level = raw.get("level")
    meta = {"subject": raw.get("subject"),
            "difficulty": f"level {level}" if level is not None else None}
    images = _first_image(raw, "decoded_image", "image")
    row_id = _row_id("mathvision", raw.get("id"), ctx)
    if options:
        return _mapped(row_id, _with_options(question, options), letter_of(answer, options),
                       "choice", meta, images, raw.get("solution"))
    if re.fullmatch(r"[A-E]", answer):
        # Options drawn in the figure (labelled A-E there): still a letter to pick.
        return _mapped(row_id, question, answer, "choice", meta, images, raw.get("solution"))
    return _mapped(row_id, question, answer, "math", meta, images, raw.get("solution"))


MMMU_SUBJECTS = (
    "Accounting", "Agriculture", "Architecture_and_Engineering", "Art", "Art_Theory",
    "Basic_Medical_Science", "Biology", "Chemistry", "Clinical_Medicine", "Computer_Science",
    "Design", "Diagnostics_and_Laboratory_Medicine", "Economics", "Electronics",
    "Energy_and_Power", "Finance", "Geography", "History", "Literature", "Manage", "Marketing",
    "Materials", "Math", "Mechanical_Engineering", "Music", "Pharmacy", "Physics", "Psychology",
    "Public_Health", "Sociology",
)
MMMU_IMAGE_COLUMNS = tuple(f"image_{i}" for i in range(1, 8))


def _literal_list(text: Any, column: str) -> list[Any]:
    """A Python list literal such as MMMU's ``options`` (``"['1', '2']"``); lists pass through."""
    if isinstance(text, (list, tuple)):
        return list(text)
    try:
        value = ast.literal_eval(_text(text) or "[]")
    except (ValueError, SyntaxError) as exc:
        raise RowRejected(WRONG_TYPE, f"{column} {str(text)[:80]!r} is not a list literal") from exc
    if not isinstance(value, (list, tuple)):
        raise RowRejected(WRONG_TYPE, f"{column} is a {type(value).__name__}, expected a list")
    return list(value)


def _mmmu_subject(row_id: str, config: str | None) -> str | None:
    """The config name, else from the id (``validation_Art_Theory_12`` -> ``Art_Theory``)."""
    if config:
        return config
    match = re.fullmatch(r"(?:dev|validation|test)_(.+)_\d+", row_id)
    return match.group(1) if match else None


def _convert_mmmu(raw: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    source_id = _text(_require(raw, "id"))
    question = _text(_require(raw, "question"))
    options = _literal_list(raw.get("options"), "options")
    answer = _require(raw, "answer")
    images = [raw[c] for c in MMMU_IMAGE_COLUMNS if _first_image(raw, c) is not None]
    explanation = _text(raw.get("explanation")) or None
    meta = {"subject": _mmmu_subject(source_id, ctx.config),
            "difficulty": raw.get("topic_difficulty"), "subfield": raw.get("subfield"),
            "img_type": raw.get("img_type"), "question_type": raw.get("question_type")}
    row_id = _row_id("mmmu", source_id, ctx)
    if raw.get("question_type") == "multiple-choice" or (options and raw.get("question_type") is None):
        if not options:
            raise RowRejected(WRONG_TYPE, "multiple-choice question without options")
        return _mapped(row_id, _with_options(question, options), letter_of(answer, options),
                       "choice", meta, images or None, explanation)
    # Open questions: some golds are a list literal of accepted spellings; grade the first.
    gold = answer
    if isinstance(answer, str) and answer.strip().startswith("["):
        accepted = _literal_list(answer, "answer")
        if not accepted:
            raise RowRejected(UNPARSABLE_ANSWER, "open question with an empty answer list")
        gold = accepted[0]
        meta["accepted_answers"] = [str(a) for a in accepted]
    return _mapped(row_id, question, gold, "math", meta, images or None, explanation)


def _wemath_steps(key: str) -> str | None:
    match = re.match(r"(\d+)\s*steps?", key)
    if not match:
        return key or None
    n = int(match.group(1))
    return f"{n} step{'s' if n != 1 else ''}"


def _convert_wemath(raw: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    question = _text(_require(raw, "question"))
    option = _text(raw.get("option"))
    key = _text(raw.get("key"))
    source_id = _text(raw.get("ID"))
    # Sub-problems of one composite problem share its ID; the key tells them apart.
    raw_id = f"{source_id}-{key}" if source_id and key else (source_id or None)
    answer = _text(_require(raw, "answer"))
    letter = _LETTER.fullmatch(answer)
    if not letter:
        raise RowRejected(UNPARSABLE_ANSWER, f"answer {answer[:80]!r} is not an option letter")
    prompt = f"{question}\n\nOptions:\n{option}" if option else question
    return _mapped(_row_id("wemath", raw_id, ctx), prompt, letter.group(1), "choice",
                   {"subject": raw.get("knowledge concept"), "difficulty": _wemath_steps(key),
                    "key": key or None},
                   _first_image(raw, "image_path", "image"))


def _convert_zerobench(raw: Mapping[str, Any], ctx: RowContext) -> dict[str, Any]:
    answer = _text(_require(raw, "question_answer"))
    images = raw.get("question_images_decoded")
    if not images:
        images = raw.get("question_images")
    return _mapped(_row_id("zerobench", raw.get("question_id"), ctx),
                   _text(_require(raw, "question_text")), answer,
                   "numeric" if is_plain_number(answer) else "exact",
                   {"subject": None, "difficulty": None}, list(images) if images else None)


# ----------------------------------------------------------------------------- the presets

GSM8K = BenchmarkPreset(
    name="gsm8k", title="GSM8K", hf_id="openai/gsm8k", hf_configs=("main",), split="test",
    columns=("question", "answer"), convert=_convert_gsm8k, verifier="gsm8k",
    aliases=("openai/gsm8k",),
)
"""GSM8K, config ``main``, split ``test`` (1,319 items): ``question``; ``answer`` is the worked
solution ending ``#### N`` (N is the gold, the whole text the teacher's solution). No subjects.
Columns as in the data-prep preset :data:`rlsd.data.GSM8K` (checked there)."""

MATH500 = BenchmarkPreset(
    name="math500", title="MATH-500", hf_id="HuggingFaceH4/MATH-500", hf_configs=(None,),
    split="test", columns=("problem", "answer"), convert=_convert_math500, verifier="math",
    aliases=("math-500", "huggingfaceh4/math-500"),
)
"""MATH-500, split ``test`` (500 items): ``problem``, ``solution``, ``answer``, ``subject``
(Algebra, Geometry, ...), ``level`` (1-5), ``unique_id``. subject = ``subject``, difficulty =
``level N``. Columns as in the data-prep preset :data:`rlsd.data.MATH500`."""

AIME2024 = BenchmarkPreset(
    name="aime2024", title="AIME 2024", hf_id="HuggingFaceH4/aime_2024", hf_configs=(None,),
    split="train", columns=("problem", "answer"), convert=_convert_aime2024, verifier="math",
    aliases=("aime24", "aime-2024", "huggingfaceh4/aime_2024"),
)
"""AIME 2024, ``HuggingFaceH4/aime_2024`` split ``train`` (30 items; the only split):
``id`` (int), ``problem``, ``solution``, ``answer``, ``url``, ``year`` (checked against the data
set card). subject = the exam (``AIME I`` / ``AIME II``) and difficulty = the problem-number
bucket (1-5, 6-10, 11-15), both read from the AoPS ``url`` (``.../2024_AIME_I_Problems/Problem_3``);
None when the url does not say."""

AIME2025 = BenchmarkPreset(
    name="aime2025", title="AIME 2025", hf_id="opencompass/AIME2025",
    hf_configs=("AIME2025-I", "AIME2025-II"), split="test", columns=("question", "answer"),
    convert=_convert_aime2025, verifier="math",
    aliases=("aime25", "aime-2025", "opencompass/aime2025"),
)
"""AIME 2025, ``opencompass/AIME2025``: configs ``AIME2025-I`` and ``AIME2025-II`` (jsonl, split
``test``, 15 items each) with columns ``question``, ``answer`` and no id (checked against the
data set card and public loaders, which name the same two columns). Ids are
``aime2025/AIME2025-I-00000``...; subject = the exam, difficulty = the problem-number bucket
(rows are in exam order). A parquet export of both configs has no config column, so its rows get
``aime2025/00000``... and no subject or difficulty."""

MATHVISTA = BenchmarkPreset(
    name="mathvista", title="MathVista (testmini)", hf_id="AI4Math/MathVista", hf_configs=(None,),
    split="testmini", columns=("pid", "question", "answer", "question_type"),
    convert=_convert_mathvista, verifier="choice",
    aliases=("mathvista-testmini", "ai4math/mathvista"),
)
"""MathVista, split ``testmini`` (1,000 items), columns checked against the data set card:
``pid``, ``question``, ``image`` (a path), ``decoded_image`` (the image), ``choices`` (list or
null), ``unit``, ``precision``, ``answer`` (the choice *text* for multiple choice),
``question_type`` (``multi_choice`` / ``free_form``), ``answer_type`` (``integer``, ``float``,
``text``, ``list``), ``metadata`` (struct: ``task``, ``grade``, ``category``, ``skills``, ...),
``query``. Multiple choice: options rendered ``(A) ...`` and the gold answer turned into its
letter (``choice``). Free form: a short answer-format hint from ``answer_type``/``precision``/
``unit``; ``numeric`` for integer/float, ``exact`` for text/list. subject = ``metadata.task``,
difficulty = ``metadata.grade``. ``query`` (the authors' pre-rendered prompt) is not used."""

MATHVISION = BenchmarkPreset(
    name="mathvision", title="MathVision", hf_id="MathLLMs/MathVision", hf_configs=(None,),
    split="test", columns=("id", "question", "answer"), convert=_convert_mathvision,
    verifier="choice", aliases=("math-vision", "mathllms/mathvision"),
)
"""MathVision (MATH-V), split ``test`` (3,040 items; ``testmini`` has 304), columns checked
against the data set card: ``id``, ``question``, ``options`` (list of strings, empty for free
form), ``image`` (a path), ``decoded_image`` (the image), ``answer``, ``solution``, ``level``
(1-5), ``subject``. With options: rendered ``(A) ...``, ``choice`` (gold = the letter, or the
letter of the option equal to the answer). Without options: an answer that is a single letter
A-E is taken as options drawn in the figure (``choice``, an assumption); anything else is
graded by ``math``. subject = ``subject``, difficulty = ``level N``."""

MMMU = BenchmarkPreset(
    name="mmmu", title="MMMU (validation)", hf_id="MMMU/MMMU", hf_configs=MMMU_SUBJECTS,
    split="validation", columns=("id", "question", "options", "answer"), convert=_convert_mmmu,
    verifier="choice", aliases=("mmmu-val", "mmmu/mmmu"),
)
"""MMMU, split ``validation`` (900 items: 30 per subject config), columns checked against the
data set card: ``id`` (``validation_<Subject>_<n>``), ``question`` (with ``<image 1>``
placeholders, kept as they are), ``options`` (a *string* holding a Python list literal),
``explanation``, ``image_1`` ... ``image_7`` (images or null), ``img_type``, ``answer`` (the
letter), ``topic_difficulty`` (Easy/Medium/Hard), ``question_type`` (``multiple-choice`` /
``open``), ``subfield``. Multiple choice: ``choice``. Open: ``math``; a gold written as a list
literal of accepted spellings is graded against its first entry (all kept in meta). subject =
the config (from the id in a parquet export), difficulty = ``topic_difficulty``."""

WEMATH = BenchmarkPreset(
    name="wemath", title="We-Math (testmini)", hf_id="We-Math/We-Math", hf_configs=(None,),
    split="testmini", columns=("question", "answer"), convert=_convert_wemath, verifier="choice",
    aliases=("we-math", "we-math/we-math"),
)
"""We-Math, split ``testmini`` (1,740 items). Columns as read by lmms-eval's We-Math task (the
data set card itself could not be read here): ``ID``, ``split``, ``knowledge concept``,
``question``, ``option`` (ONE text with every option, e.g. ``A. 3; B. 4; ...``, shown verbatim),
``answer`` (the letter), ``key`` (``2steps_1``, ``3steps_multi``, ...), ``question number``,
``knowledge concept description``, ``image_path`` (the image, despite its name; ``image`` is
accepted too). Sub-problems share an ``ID``, so ids are ``wemath/<ID>-<key>``. subject =
``knowledge concept``, difficulty = the step count from ``key``. Only accuracy is computed, not
We-Math's four-dimensional IK/IG/CM/RM scores."""

ZEROBENCH = BenchmarkPreset(
    name="zerobench", title="ZeroBench", hf_id="jonathan-roberts1/zerobench", hf_configs=(None,),
    split="zerobench", columns=("question_id", "question_text", "question_answer"),
    convert=_convert_zerobench, verifier="exact", aliases=("jonathan-roberts1/zerobench",),
)
"""ZeroBench, split ``zerobench`` (100 main questions; ``zerobench_subquestions`` has 334),
columns as read by lmms-eval's ZeroBench task: ``question_id``, ``question_text``,
``question_images_decoded`` (list of images; ``question_images``, a list of paths, as a
fallback), ``question_answer``. A gold that is a plain number is graded by value (``numeric``),
anything else by normalised text (``exact``). No subjects."""

BENCHMARKS: dict[str, BenchmarkPreset] = {
    p.name: p for p in (GSM8K, MATH500, AIME2024, AIME2025, MATHVISTA, MATHVISION, MMMU, WEMATH,
                        ZEROBENCH)
}
_BY_ALIAS: dict[str, BenchmarkPreset] = {
    alias.lower(): p for p in BENCHMARKS.values() for alias in (p.name, *p.aliases)
}


def get_benchmark(name: str) -> BenchmarkPreset:
    """The preset called ``name`` (or one of its aliases, case-insensitive)."""
    preset = _BY_ALIAS.get(name.strip().lower())
    if preset is None:
        raise BenchmarkError(f"unknown benchmark {name!r}; valid: {sorted(BENCHMARKS)}")
    return preset


# ----------------------------------------------------------------------------- loading


@dataclass
class _RawRows:
    rows: list[dict[str, Any]]
    contexts: list[RowContext]
    columns: list[str]
    label: str
    base_uri: str | None


def _read_file_source(preset: BenchmarkPreset, source: str, max_items: int | None) -> _RawRows:
    if source.endswith(".jsonl"):
        rows, bad = parse_jsonl(data_io.read_bytes(source))
        if bad:
            raise BenchmarkError(f"{preset.name}: {source} has {len(bad)} unreadable line(s); "
                                 f"first: {bad[0]['detail']}")
        columns = list(dict.fromkeys(k for r in rows for k in r))
    else:
        table = data_io.read_table(source)
        columns = table.column_names
        if max_items is not None:
            table = table.slice(0, max_items)
        rows = table.to_pylist()
    if max_items is not None:
        rows = rows[:max_items]
    contexts = [RowContext(i, None) for i in range(len(rows))]
    base = source if not source.endswith((".parquet", ".jsonl")) else data_io.parent(source)
    return _RawRows(rows, contexts, columns, f"{preset.name}:{source}", base)


def _read_hf_source(preset: BenchmarkPreset, hf_id: str, max_items: int | None) -> _RawRows:
    import datasets  # heavy import; only hub/folder loading needs it

    rows: list[dict[str, Any]] = []
    contexts: list[RowContext] = []
    columns: list[str] = []
    for config in preset.hf_configs:
        if max_items is not None and len(rows) >= max_items:
            break
        index = 0
        try:
            dataset = datasets.load_dataset(hf_id, name=config, split=preset.split)
        except Exception as exc:  # hub, network and builder errors share no base class
            raise BenchmarkError(
                f"{preset.name}: could not load Hugging Face dataset {hf_id!r} (config {config!r}, "
                f"split {preset.split!r}): {type(exc).__name__}: {exc}; on an air-gapped cluster "
                "pass a parquet export instead (--benchmark-source)") from exc
        columns = list(dict.fromkeys([*columns, *dataset.column_names]))
        # Arrow format keeps images as their stored {"bytes", "path"} structs (no PIL decode).
        for batch in dataset.with_format("arrow").iter(batch_size=256):
            for row in batch.to_pylist():
                rows.append(row)
                contexts.append(RowContext(index, config))
                index += 1
            if max_items is not None and len(rows) >= max_items:
                break
    if max_items is not None:
        rows, contexts = rows[:max_items], contexts[:max_items]
    # Relative image paths only mean something inside a local dataset folder.
    base = str(Path(hf_id).resolve()) if Path(hf_id).is_dir() else None
    return _RawRows(rows, contexts, columns, f"{preset.name}:{hf_id}:{preset.split}", base)


def _unique_ids(rows: list[dict[str, Any]]) -> None:
    """Give repeated ids a ``#n`` suffix (second occurrence ``#2``) instead of dropping rows."""
    seen: Counter[str] = Counter()
    for row in rows:
        seen[row["id"]] += 1
        if seen[row["id"]] > 1:
            row["id"] = f"{row['id']}#{seen[row['id']]}"


def load_benchmark(name: str, source: str | None = None, max_items: int | None = None,
                   max_reject_fraction: float = 0.0) -> pa.Table:
    """The benchmark ``name`` as a prompt table (:data:`rlsd.data.PROMPT_SCHEMA`).

    Args:
        name: a preset name or alias (see :data:`BENCHMARKS`).
        source: None for the Hugging Face hub; a ``.parquet`` / ``.jsonl`` file, a folder of
            parquet shards or an ``s3://`` URI of an export in the preset's columns; or
            ``hf:<id or folder>`` for ``datasets.load_dataset`` on another location.
        max_items: keep the first N source rows (in source order, configs one after another).
        max_reject_fraction: fraction of rows that may be unusable (0: any is an error).

    Raises:
        BenchmarkError: unknown name, unreadable source, missing columns, no rows, or too many
            unusable rows (the message names the first few and why).
    """
    preset = get_benchmark(name)
    if max_items is not None and max_items < 1:
        raise BenchmarkError(f"{preset.name}: max_items must be >= 1, got {max_items}")
    try:
        if source is None:
            raw = _read_hf_source(preset, preset.hf_id, max_items)
        elif source.startswith("hf:"):
            raw = _read_hf_source(preset, source[len("hf:"):], max_items)
        else:
            raw = _read_file_source(preset, source, max_items)
    except BenchmarkError:
        raise
    except DataError as exc:
        raise BenchmarkError(f"{preset.name}: {exc}") from exc
    missing = [c for c in preset.columns if c not in raw.columns]
    if missing:
        raise BenchmarkError(
            f"{preset.name}: the source lacks column(s) {missing} of the {preset.title} layout; "
            f"columns are {sorted(raw.columns)} (see rlsd.evaluate.presets.{preset.name.upper()})")
    if not raw.rows:
        raise BenchmarkError(f"{preset.name}: the source {raw.label} has no rows")

    rules = {template: RowRules(prompt_template=template, max_prompt_chars=preset.max_prompt_chars,
                                base_uri=raw.base_uri)
             for template in (preset.prompt_template, preset.choice_template)}
    rows: list[dict[str, Any]] = []
    rejects: list[str] = []
    for raw_row, ctx in zip(raw.rows, raw.contexts, strict=True):
        try:
            mapped = preset.convert(raw_row, ctx)
            template = preset.choice_template if mapped["verifier"] == "choice" \
                else preset.prompt_template
            meta = {"benchmark": preset.name, **mapped.pop("meta")}
            if ctx.config is not None:
                meta.setdefault("config", ctx.config)
            row = normalise_row({**mapped, "messages": None, "source": raw.label, "meta": meta},
                                rules[template])
        except RowRejected as rej:
            where = f"{ctx.config} " if ctx.config else ""
            rejects.append(f"{where}row {ctx.index}: {rej.reason}: {rej.detail}")
            continue
        rows.append(row)
    if rejects and len(rejects) > max_reject_fraction * len(raw.rows):
        shown = "; ".join(rejects[:3])
        raise BenchmarkError(
            f"{preset.name}: {len(rejects)} of {len(raw.rows)} rows cannot be used "
            f"(max_reject_fraction={max_reject_fraction}): {shown}")
    _unique_ids(rows)
    return pa.Table.from_pylist(rows, schema=PROMPT_SCHEMA)


def benchmark_meta(meta_json: str | None) -> dict[str, Any]:
    """A prompt row's ``meta`` as a dict (empty for none or a non-object)."""
    if not meta_json:
        return {}
    try:
        value = json.loads(meta_json)
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}
