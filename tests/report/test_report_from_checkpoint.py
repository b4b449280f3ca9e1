"""The report of a pipeline run from its artifacts: the final checkpoint's metrics history,
its tokenizer files (not its weights), one round's tables and two evaluation folders — on disk
and on a real S3-protocol server."""

import json
import shutil

import pyarrow as pa
import pytest
from transformers import AutoTokenizer

from rlsd.evaluate.evaluation import write_evaluation
from rlsd.models import ensure_default_tokenizer
from rlsd.report import ReportError, report_from_checkpoint
from rlsd.report.tokenizer import tokenizer_files
from rlsd.schemas import SCORE_SCHEMA
from rlsd.storage import upload_dir, write_manifest, write_table
from rlsd.train.metrics import HISTORY_FILE, METRICS_FILE, MetricsWriter, previous_history
from tests.report.round_fixtures import metrics_records, round_tables


@pytest.fixture(scope="module")
def response_ids():
    tok = AutoTokenizer.from_pretrained(str(ensure_default_tokenizer()))
    return [tok.encode("x = 42", add_special_tokens=False)[:3],
            tok.encode("so 7", add_special_tokens=False)[:2]]


def _checkpoint(folder, history=True):
    """A folder shaped like the trainer's checkpoint: tokenizer files, a weights file that
    must not be fetched, DeepSpeed state, metrics, manifest last."""
    folder.mkdir(parents=True)
    for f in ensure_default_tokenizer().iterdir():
        if f.is_file():
            shutil.copy(f, folder / f.name)
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    (folder / "deepspeed" / "state").mkdir(parents=True)
    (folder / "deepspeed" / "state" / "optim.pt").write_bytes(b"\0" * 8)
    records = metrics_records(0, [1, 2]) + metrics_records(1, [3, 4, 5])
    (folder / METRICS_FILE).write_text("".join(json.dumps(r) + "\n" for r in records[2:]))
    if history:
        (folder / HISTORY_FILE).write_text("".join(json.dumps(r) + "\n" for r in records))
    write_manifest(str(folder), {"kind": "policy", "round": 1, "step": 5})
    return folder


def _tables(tmp_path, response_ids, empty_scores=False):
    rollouts, rewards, scores = round_tables(response_ids)
    if empty_scores:
        scores = SCORE_SCHEMA.empty_table()
    paths = {}
    for name, table in (("rollouts", rollouts), ("rewards", rewards), ("scores", scores)):
        paths[name] = str(tmp_path / f"{name}.parquet")
        write_table(table, paths[name])
    return paths


def _evaluations(tmp_path):
    sample = {"prompt_id": "p", "sample_index": 0, "answer": "1", "gold": "1", "correct": 0.0,
              "format": 1.0, "response_length": 5, "truncated": False, "benchmark": None,
              "subject": None, "difficulty": None, "response_text": ""}
    write_evaluation(tmp_path / "eval-base", "base", [sample], [1])
    write_evaluation(tmp_path / "eval-final", "final", [{**sample, "correct": 1.0}], [1])
    return str(tmp_path / "eval-base"), str(tmp_path / "eval-final")


def test_tokenizer_files_skip_weights_and_state(tmp_path):
    names = tokenizer_files(str(_checkpoint(tmp_path / "ckpt")))
    assert "tokenizer.json" in names and "tokenizer_config.json" in names
    assert not any(n.endswith((".safetensors", ".pt", ".jsonl")) or "/" in n for n in names)


def test_report_from_a_local_checkpoint(tmp_path, response_ids):
    ckpt = _checkpoint(tmp_path / "ckpt")
    before, after = _evaluations(tmp_path)
    out = tmp_path / "report.html"
    counts = report_from_checkpoint(str(ckpt), out, **_tables(tmp_path, response_ids),
                                    eval_before=before, eval_after=after, round_label="round 1")
    assert counts == {"steps": 5, "responses": 2}  # both rounds' steps, from the history
    html = out.read_text()
    assert "5 optimizer steps (1–5) over 2 round(s)" in html
    assert "<h3>round 1</h3>" in html and html.count('class="card"') == 2
    assert "Evaluation before and after training" in html


def test_checkpoint_without_history_reads_its_own_round(tmp_path):
    ckpt = _checkpoint(tmp_path / "ckpt", history=False)
    counts = report_from_checkpoint(str(ckpt), tmp_path / "r.html")
    assert counts == {"steps": 3, "responses": 0}


def test_grpo_round_without_teacher_scores_gets_a_note(tmp_path, response_ids):
    ckpt = _checkpoint(tmp_path / "ckpt")
    out = tmp_path / "r.html"
    counts = report_from_checkpoint(str(ckpt), out,
                                    **_tables(tmp_path, response_ids, empty_scores=True),
                                    round_label="round 1")
    assert counts == {"steps": 5, "responses": 0}
    assert "round 1: no token credit to show" in out.read_text()


def test_bad_artifacts_are_named(tmp_path, response_ids):
    tables = _tables(tmp_path, response_ids)
    with pytest.raises(ReportError, match="rollouts, rewards and scores tables together"):
        report_from_checkpoint(str(_checkpoint(tmp_path / "a")), tmp_path / "r.html",
                               rollouts=tables["rollouts"])
    folder = tmp_path / "not-a-checkpoint"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    write_manifest(str(folder), {})
    with pytest.raises(ReportError, match="holds neither metrics_history.jsonl nor metrics"):
        report_from_checkpoint(str(folder), tmp_path / "r.html")
    (folder / METRICS_FILE).write_text(json.dumps({"step": 1}) + "\n")
    write_manifest(str(folder), {})
    with pytest.raises(ReportError, match="holds no tokenizer files"):
        report_from_checkpoint(str(folder), tmp_path / "r.html", **tables)
    assert not (tmp_path / "r.html").exists()  # nothing half-written


def test_report_from_a_checkpoint_on_s3(tmp_path, s3_root, response_ids):
    ckpt = _checkpoint(tmp_path / "ckpt")
    remote = f"{s3_root}/run/policy-checkpoint"
    upload_dir(ckpt, remote)
    tables = {}
    for name, path in _tables(tmp_path, response_ids).items():
        tables[name] = f"{s3_root}/run/{name}.parquet"
        write_table(pa.parquet.read_table(path), tables[name])
    out = f"{s3_root}/run/training_report.html"
    counts = report_from_checkpoint(remote, out, **tables, round_label="round 1")
    assert counts == {"steps": 5, "responses": 2}


def test_metrics_writer_carries_the_history_forward(tmp_path):
    first = MetricsWriter(tmp_path / "r0", tensorboard=False)
    first.write({"step": 1, "round": 0})
    assert previous_history(tmp_path / "r0") == tmp_path / "r0" / HISTORY_FILE
    second = MetricsWriter(tmp_path / "r1", tensorboard=False,
                           history_from=previous_history(tmp_path / "r0"))
    second.write({"step": 2, "round": 1})
    steps = [json.loads(line)["step"] for line in
             (tmp_path / "r1" / HISTORY_FILE).read_text().splitlines()]
    assert steps == [1, 2]
    assert [json.loads(line)["step"] for line in
            (tmp_path / "r1" / METRICS_FILE).read_text().splitlines()] == [2]
    assert previous_history(tmp_path / "nothing") is None


def test_on_policy_scores_take_s_t_from_the_trainer(tmp_path, response_ids):
    """Scoring skipped the behaviour pass: the report joins the s_t the trainer kept in the
    checkpoint (student_logprobs.parquet) and shows the same weights as a full scoring."""
    from rlsd.schemas import STUDENT_LOGPROBS_SCHEMA
    from rlsd.train.student_logprobs import STUDENT_LOGPROBS_FILE

    paths = _tables(tmp_path, response_ids)
    full_out = tmp_path / "full.html"
    report_from_checkpoint(str(_checkpoint(tmp_path / "a")), full_out, **paths)

    scores = pa.parquet.read_table(paths["scores"]).to_pylist()
    kept = [{"prompt_id": r["prompt_id"], "sample_index": r["sample_index"],
             "response_digest": r["response_digest"], "logprobs": r["old_logprobs"]}
            for r in scores]
    for r in scores:
        r["old_logprobs"] = None
    write_table(pa.Table.from_pylist(scores, schema=SCORE_SCHEMA), paths["scores"])

    ckpt = _checkpoint(tmp_path / "b")
    lean_out = tmp_path / "lean.html"
    missing = report_from_checkpoint(str(ckpt), lean_out, **paths, round_label="round 1")
    assert missing["responses"] == 0  # no s_t anywhere: a note, not a failure
    assert "have no behaviour/teacher log-probs" in lean_out.read_text()

    write_table(pa.Table.from_pylist(kept, schema=STUDENT_LOGPROBS_SCHEMA),
                str(ckpt / STUDENT_LOGPROBS_FILE))
    counts = report_from_checkpoint(str(ckpt), lean_out, **paths)
    assert counts["responses"] == 2
    cards = [line for line in lean_out.read_text().splitlines() if 'data-w="' in line]
    assert cards
    assert cards == [line for line in full_out.read_text().splitlines() if 'data-w="' in line]
