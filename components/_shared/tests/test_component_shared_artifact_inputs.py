"""Inputs that come from other pipelines' steps: a Model artifact that is a model folder
(``artifact_policy``) and a Dataset artifact that is one jsonl or parquet file
(``dataset_input``)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from components._shared.dataset_input import artifact_format, artifact_source
from components._shared.model_pointer import (
    KIND_REFERENCE,
    PointerError,
    artifact_policy,
    reference_pointer,
    write_pointer,
)
from rlsd.data import DataConfig, DataError
from rlsd.storage import write_table
from rlsd.storage.errors import IncompleteCheckpointError


def _model_folder(path):
    """A folder check_model_folder accepts: config.json and a safetensors file whose
    header says it holds no tensors."""
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    header = b"{}"
    (path / "model.safetensors").write_bytes(len(header).to_bytes(8, "little") + header)
    return path


def test_a_pointer_file_is_read_as_a_pointer(tmp_path):
    write_pointer(reference_pointer("org/name"), tmp_path / "policy")
    assert artifact_policy(tmp_path / "policy", "s3://b/run/policy").uri == "org/name"


def test_a_model_folder_read_here_is_its_local_copy(tmp_path):
    folder = _model_folder(tmp_path / "model")
    pointer = artifact_policy(folder, "s3://bucket/other-run/model")
    assert (pointer.kind, pointer.uri) == (KIND_REFERENCE, str(folder))


def test_a_folder_that_is_no_model_is_refused(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(PointerError, match="is a folder but not a usable model: .*no config"):
        artifact_policy(tmp_path / "junk", "s3://bucket/junk")


def test_other_pods_get_the_s3_folder_when_it_has_a_manifest(tmp_path, monkeypatch):
    folder = _model_folder(tmp_path / "model")
    seen = []
    monkeypatch.setattr("rlsd.storage.verify_manifest", seen.append)
    pointer = artifact_policy(folder, "minio://bucket/other-run/model", remote=True)
    assert pointer.uri == "s3://bucket/other-run/model" == seen[0]


def test_without_a_manifest_it_is_copied_once_or_refused(tmp_path, monkeypatch):
    folder = _model_folder(tmp_path / "model")

    def no_manifest(uri):
        raise IncompleteCheckpointError(f"{uri} has no manifest")

    uploads = []
    monkeypatch.setattr("rlsd.storage.verify_manifest", no_manifest)
    monkeypatch.setattr("rlsd.storage.upload_dir",
                        lambda src, dst, metadata: uploads.append((src, dst, metadata)))
    with pytest.raises(PointerError, match="pass it through the base_model component"):
        artifact_policy(folder, "s3://bucket/m", remote=True)
    pointer = artifact_policy(folder, "s3://bucket/m", remote=True,
                              copy_to="s3://bucket/run/base-model/policy-checkpoint")
    assert pointer.uri == "s3://bucket/run/base-model/policy-checkpoint"
    assert uploads == [(folder, pointer.uri, {"kind": "model", "source": "s3://bucket/m"})]
    with pytest.raises(PointerError, match="is not on S3"):
        artifact_policy(folder, "gs://bucket/m", remote=True)
    assert pointer.kind == KIND_REFERENCE


# --- Dataset artifacts ------------------------------------------------------------------------

ROWS = [{"question": "1 + 1?", "answer": "so 2\n#### 2"}, {"question": "2 + 2?", "answer": "#### 4"}]


@pytest.mark.parametrize(("name", "metadata", "fmt"), [
    ("rows.jsonl", {}, "jsonl"), ("rows.parquet", {}, "parquet"),
    ("rows", {"format": "parquet"}, "parquet"), ("rows", {}, "parquet"), ("rows", {}, "jsonl"),
])
def test_the_format_from_name_metadata_or_content(tmp_path, name, metadata, fmt):
    path = tmp_path / name
    if fmt == "parquet":
        write_table(pa.Table.from_pylist(ROWS), str(path))
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    assert artifact_format(path, f"s3://b/{name}", metadata) == fmt
    config = DataConfig(prompt_field="question", answer_after="####")
    source = artifact_source(path, f"s3://b/up/{name}", metadata, config)
    assert (source.n_read, source.label, source.id_prefix) == (2, f"artifact:s3://b/up/{name}",
                                                               "rows")


def test_a_declared_unknown_format_and_an_empty_file_are_refused(tmp_path):
    path = tmp_path / "rows"
    path.write_text("")
    with pytest.raises(DataError, match="declares format 'csv'; data prep reads jsonl or parquet"):
        artifact_format(path, "s3://b/rows", {"format": "csv"})
    with pytest.raises(DataError, match="has no rows"):
        artifact_source(path, "s3://b/rows", {}, DataConfig())
    with pytest.raises(DataError, match="is not a readable parquet file"):
        artifact_source(path, "s3://b/rows", {"format": "parquet"}, DataConfig())
