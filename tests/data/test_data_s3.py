"""Data prep reads its source from and writes its outputs to S3 (a real S3-protocol server)."""

import json

from rlsd import storage
from rlsd.data import DataConfig, prepare, read_prompts, write_outputs


def test_jsonl_source_and_outputs_on_s3(s3_root):
    rows = [{"question": f"What is {i} + 1?", "answer": str(i + 1)} for i in range(20)]
    rows.append({"question": "no answer here", "answer": ""})  # a reject, not a silent drop
    source = storage.join(s3_root, "raw", "task.jsonl")
    storage.write_bytes("\n".join(json.dumps(r) for r in rows).encode(), source)

    config = DataConfig(source=source, prompt_field="question", answer_field="answer",
                        verifier="numeric", n_eval=5, max_reject_fraction=0.1)
    result = prepare(config)
    out = storage.join(s3_root, "prepared")
    write_outputs(result, out)

    train = read_prompts(storage.join(out, "train.parquet"))
    evaluation = read_prompts(storage.join(out, "eval.parquet"))
    assert (train.num_rows, evaluation.num_rows) == (15, 5)
    rejects = storage.read_bytes(storage.join(out, "rejects.jsonl")).decode().splitlines()
    assert len(rejects) == 1 and "answer" in json.loads(rejects[0])["reason"]
    summary = json.loads(storage.read_bytes(storage.join(out, "summary.json")))
    assert summary["rejects_by_reason"] == {"empty answer": 1}
