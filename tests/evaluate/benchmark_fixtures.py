"""Small benchmark files in each preset's real column layout (as a Hugging Face parquet export
writes them: images as ``struct<bytes: binary, path: string>``), for tests without network."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

IMAGE = pa.struct([pa.field("bytes", pa.binary()), pa.field("path", pa.string())])


def png(color: tuple[int, int, int] = (200, 30, 30), size: int = 8) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), color).save(buf, format="PNG")
    return buf.getvalue()


def image_struct(color: tuple[int, int, int] = (200, 30, 30), name: str = "img.png") -> dict:
    return {"bytes": png(color), "path": name}


def write(path: Path, rows: list[dict], schema: pa.Schema) -> str:
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return str(path)


def gsm8k(tmp: Path) -> str:
    schema = pa.schema([("question", pa.string()), ("answer", pa.string())])
    return write(tmp / "gsm8k.parquet", [
        {"question": "Tom has 3 apples and buys 4 more. How many?",
         "answer": "He has 3 + 4 = <<3+4=7>>7 apples.\n#### 7"},
        {"question": "A pen costs $2. What do 5 pens cost?",
         "answer": "5 * 2 = <<5*2=10>>10\n#### 10"},
    ], schema)


def math500(tmp: Path) -> str:
    schema = pa.schema([("problem", pa.string()), ("solution", pa.string()),
                        ("answer", pa.string()), ("subject", pa.string()),
                        ("level", pa.int64()), ("unique_id", pa.string())])
    return write(tmp / "math500.parquet", [
        {"problem": "What is $1+1$?", "solution": "$1+1=\\boxed{2}$", "answer": "2",
         "subject": "Algebra", "level": 1, "unique_id": "test/algebra/1.json"},
        {"problem": "Area of a unit square?", "solution": "\\boxed{1}", "answer": "1",
         "subject": "Geometry", "level": 3, "unique_id": "test/geometry/7.json"},
    ], schema)


def aime2024(tmp: Path) -> str:
    schema = pa.schema([("id", pa.int64()), ("problem", pa.string()), ("solution", pa.string()),
                        ("answer", pa.string()), ("url", pa.string()), ("year", pa.string())])
    return write(tmp / "aime2024.parquet", [
        {"id": 60, "problem": "Find x.", "solution": "x = 204", "answer": "204",
         "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_I_Problems/Problem_1",
         "year": "2024"},
        {"id": 85, "problem": "Find y.", "solution": "y = 33", "answer": "033",
         "url": "https://artofproblemsolving.com/wiki/index.php/2024_AIME_II_Problems/Problem_12",
         "year": "2024"},
    ], schema)


def aime2025_jsonl(tmp: Path) -> str:
    path = tmp / "aime2025.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in [
        {"question": "Find the sum of all integer bases b > 9 ...", "answer": "70"},
        {"question": "On triangle ABC ...", "answer": "588"},
    ]) + "\n")
    return str(path)


def mathvista(tmp: Path) -> str:
    metadata = pa.struct([("category", pa.string()), ("context", pa.string()),
                          ("grade", pa.string()), ("img_height", pa.int64()),
                          ("img_width", pa.int64()), ("language", pa.string()),
                          ("skills", pa.list_(pa.string())), ("source", pa.string()),
                          ("split", pa.string()), ("task", pa.string())])
    schema = pa.schema([("pid", pa.string()), ("question", pa.string()), ("image", pa.string()),
                        ("decoded_image", IMAGE), ("choices", pa.list_(pa.string())),
                        ("unit", pa.string()), ("precision", pa.float64()),
                        ("answer", pa.string()), ("question_type", pa.string()),
                        ("answer_type", pa.string()), ("metadata", metadata),
                        ("query", pa.string())])

    def meta(task: str, grade: str) -> dict:
        return {"category": "math-targeted-vqa", "context": "geometry diagram", "grade": grade,
                "img_height": 8, "img_width": 8, "language": "english",
                "skills": ["geometry reasoning"], "source": "Geometry3K", "split": "testmini",
                "task": task}

    return write(tmp / "mathvista.parquet", [
        {"pid": "1", "question": "Find the angle.", "image": "images/1.jpg",
         "decoded_image": image_struct(), "choices": ["35°", "145°", "55°"], "unit": None,
         "precision": None, "answer": "145°", "question_type": "multi_choice",
         "answer_type": "text", "metadata": meta("geometry problem solving", "high school"),
         "query": "..."},
        {"pid": "2", "question": "How long is the bar?", "image": "images/2.jpg",
         "decoded_image": image_struct((0, 90, 200)), "choices": None, "unit": "cm",
         "precision": 1.0, "answer": "1.5", "question_type": "free_form",
         "answer_type": "float", "metadata": meta("figure question answering", "daily life"),
         "query": "..."},
        {"pid": "3", "question": "What is written?", "image": "images/3.jpg",
         "decoded_image": image_struct((0, 200, 0)), "choices": None, "unit": None,
         "precision": None, "answer": "stop", "question_type": "free_form",
         "answer_type": "text", "metadata": meta("visual question answering", "daily life"),
         "query": "..."},
    ], schema)


def mathvision(tmp: Path) -> str:
    schema = pa.schema([("id", pa.string()), ("question", pa.string()),
                        ("options", pa.list_(pa.string())), ("image", pa.string()),
                        ("decoded_image", IMAGE), ("answer", pa.string()),
                        ("solution", pa.string()), ("level", pa.int64()),
                        ("subject", pa.string())])
    return write(tmp / "mathvision.parquet", [
        {"id": "1", "question": "<image1> Which shape is next?", "options": ["$1$", "$2$", "$3$"],
         "image": "images/1.jpg", "decoded_image": image_struct(), "answer": "B",
         "solution": None, "level": 2, "subject": "logic"},
        {"id": "2", "question": "<image1> How many dots?", "options": [], "image": "images/2.jpg",
         "decoded_image": image_struct((1, 2, 3)), "answer": "12", "solution": "count",
         "level": 4, "subject": "counting"},
    ], schema)


def mmmu(tmp: Path) -> str:
    fields = [("id", pa.string()), ("question", pa.string()), ("options", pa.string()),
              ("explanation", pa.string())]
    fields += [(f"image_{i}", IMAGE) for i in range(1, 8)]
    fields += [("img_type", pa.string()), ("answer", pa.string()),
               ("topic_difficulty", pa.string()), ("question_type", pa.string()),
               ("subfield", pa.string())]
    empty = {f"image_{i}": None for i in range(1, 8)}
    return write(tmp / "mmmu.parquet", [
        {"id": "validation_Accounting_1", "question": "<image 1> What is the net income?",
         "options": "['$10', '$20', '$30', '$40']", "explanation": "",
         **empty, "image_1": image_struct(), "img_type": "['Tables']", "answer": "C",
         "topic_difficulty": "Easy", "question_type": "multiple-choice",
         "subfield": "Financial Accounting"},
        {"id": "validation_Art_Theory_3", "question": "Compare <image 1> and <image 2>.",
         "options": "['Baroque', 'Rococo']", "explanation": "",
         **empty, "image_1": image_struct(), "image_2": image_struct((9, 9, 9)),
         "img_type": "['Paintings']", "answer": "A", "topic_difficulty": "Hard",
         "question_type": "multiple-choice", "subfield": "Art History"},
        {"id": "validation_Math_5", "question": "Compute the limit.", "options": "[]",
         "explanation": "", **empty, "img_type": "[]", "answer": "['0.5', '1/2']",
         "topic_difficulty": "Medium", "question_type": "open", "subfield": "Calculus"},
    ], pa.schema(fields))


def wemath(tmp: Path) -> str:
    schema = pa.schema([("ID", pa.string()), ("split", pa.string()),
                        ("knowledge concept", pa.string()), ("question", pa.string()),
                        ("option", pa.string()), ("answer", pa.string()),
                        ("image_path", IMAGE), ("key", pa.string()),
                        ("question number", pa.int64()),
                        ("knowledge concept description", pa.string())])
    return write(tmp / "wemath.parquet", [
        {"ID": "7", "split": "testmini", "knowledge concept": "Area of circles",
         "question": "What is the area?", "option": "A. 3.14; B. 6.28; C. 9.42; D. 12.56; "
         "E. No correct answer", "answer": "A", "image_path": image_struct(), "key": "2steps_1",
         "question number": 1, "knowledge concept description": "..."},
        {"ID": "7", "split": "testmini", "knowledge concept": "Circumference",
         "question": "What is the circumference?", "option": "A. 3.14; B. 6.28; E. No correct "
         "answer", "answer": "B", "image_path": image_struct(), "key": "2steps_multi",
         "question number": 2, "knowledge concept description": "..."},
    ], schema)


def zerobench(tmp: Path) -> str:
    schema = pa.schema([("question_id", pa.string()), ("question_text", pa.string()),
                        ("question_images_decoded", pa.list_(IMAGE)),
                        ("question_answer", pa.string()),
                        ("question_images", pa.list_(pa.string()))])
    return write(tmp / "zerobench.parquet", [
        {"question_id": "1", "question_text": "How many pens?",
         "question_images_decoded": [image_struct(), image_struct((5, 5, 5))],
         "question_answer": "11", "question_images": ["images/1_1.png", "images/1_2.png"]},
        {"question_id": "2", "question_text": "Which word?",
         "question_images_decoded": [image_struct()], "question_answer": "Kettle",
         "question_images": ["images/2.png"]},
    ], schema)


#: preset name -> writer of its fixture file.
FIXTURES = {"gsm8k": gsm8k, "math500": math500, "aime2024": aime2024, "aime2025": aime2025_jsonl,
            "mathvista": mathvista, "mathvision": mathvision, "mmmu": mmmu, "wemath": wemath,
            "zerobench": zerobench}
