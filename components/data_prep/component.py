"""Data prep (design.md stage 1) as a component: :func:`rlsd.data.prepare` + write the splits.

The body loads the settings, calls the library and copies its files to the artifacts; all
logic (sources, validation, split) is in :mod:`rlsd.data`.
"""

from kfp.dsl import Dataset, Input, Metrics, Output

from components._shared.image import build_component


def data_prep(
    train: Output[Dataset],
    eval_prompts: Output[Dataset],
    rejects: Output[Dataset],
    summary: Output[Metrics],
    source: str = "synthetic",
    synthetic_difficulty: int = 1,
    synthetic_n: int = 100,
    seed: int = 0,
    prompt_template: str = "",
    n_eval: int = 0,
    settings: dict = None,
    data: Input[Dataset] = None,
):
    """Data prep: load a task data set (the built-in synthetic task, a preset such as gsm8k,
    a Hugging Face id, or parquet/jsonl on disk or S3), normalise it to the prompt schema,
    validate and split. Outputs train and eval prompt tables (parquet), the rejected rows
    (jsonl, each with a reason) and counts. `data`: instead of `source`, a Dataset artifact
    from an upstream step: one .jsonl or .parquet file (format from the file name, else the
    artifact's "format" metadata, else its content; a folder is refused), read with the same
    mappings and row rules; `source` must then stay "synthetic" (its default).
    `prompt_template`: the template every prompt is put in, with one {question} slot (empty:
    the one in `settings`, else rlsd.data's default: think in <thought>, answer in
    <answer>). `n_eval`: held-out eval rows (0: the number in `settings`, else eval_fraction
    of the valid rows). `settings`: any other rlsd.data.DataConfig field (e.g.
    {"prompt_field": "question", "answer_after": "####", "eval_fraction": 0.1}); a setting
    given both there and as an input must have the same value (else the task fails naming
    both)."""
    import json
    import shutil
    import tempfile
    from pathlib import Path

    from components._shared.dataset_input import artifact_source
    from components._shared.overrides import merge_settings
    from rlsd.config import from_dict
    from rlsd.data import (
        EVAL_FILE,
        REJECTS_FILE,
        TRAIN_FILE,
        DataConfig,
        one_line_summary,
        prepare,
        write_outputs,
    )

    if data is not None and (source.strip() not in ("", "synthetic")
                             or "source" in (settings or {})):
        shown = (settings or {}).get("source", source)
        raise ValueError(f"data_prep: give the data once: the data artifact ({data.uri}) or "
                         f"source={shown!r}, not both")
    # 0 and "" mean "not given": the value in settings (or DataConfig's default) stands.
    values = merge_settings(settings, {
        "source": data.uri if data is not None else source,
        "synthetic_difficulty": synthetic_difficulty, "synthetic_n": synthetic_n,
        "seed": seed, "prompt_template": prompt_template or None, "n_eval": n_eval or None},
        "data_prep")
    config = from_dict(DataConfig, values)
    loaded = artifact_source(data.path, data.uri, data.metadata, config) \
        if data is not None else None
    result = prepare(config, loaded)
    for key in ("rows_read", "rows_valid", "rows_rejected", "train_rows", "eval_rows",
                "reject_fraction"):
        summary.log_metric(key, float(result.summary[key]))
    with tempfile.TemporaryDirectory() as tmp:
        try:
            write_outputs(result, tmp)  # raises after writing rejects when too many
        finally:
            if Path(tmp, REJECTS_FILE).exists():
                shutil.copyfile(Path(tmp, REJECTS_FILE), rejects.path)
        shutil.copyfile(Path(tmp, TRAIN_FILE), train.path)
        shutil.copyfile(Path(tmp, EVAL_FILE), eval_prompts.path)
    rejects.metadata["format"] = "jsonl"
    rejects.metadata["by_reason"] = json.dumps(result.summary["rejects_by_reason"])
    for artifact, rows in ((train, "train_rows"), (eval_prompts, "eval_rows")):
        artifact.metadata["rows"] = result.summary[rows]
        artifact.metadata["source"] = result.summary["source"]
    print(one_line_summary(result))


component = build_component(data_prep)
