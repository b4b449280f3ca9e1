"""The Model artifact's pointer: round trip, checks, and where checkpoints go."""

from __future__ import annotations

import json

import pytest

from components._shared.model_pointer import (
    KIND_CHECKPOINT,
    ModelPointer,
    PointerError,
    checkpoint_pointer,
    checkpoint_uri,
    read_pointer,
    reference_pointer,
    remote_uri,
    write_pointer,
)
from rlsd.storage import write_manifest


def test_checkpoint_pointer_carries_the_manifest(tmp_path):
    folder = tmp_path / "ckpt"
    (folder / "deepspeed").mkdir(parents=True)
    (folder / "config.json").write_text("{}")  # 2 bytes
    (folder / "deepspeed" / "latest").write_text("state")  # 5 bytes
    manifest = write_manifest(folder, {"kind": "policy", "round": 2, "step": 6,
                                       "algorithm": "rlsd"})
    pointer = checkpoint_pointer(str(folder), manifest)
    write_pointer(pointer, tmp_path / "artifact" / "policy")
    back = read_pointer(tmp_path / "artifact" / "policy")
    assert back == pointer
    assert (back.kind, back.round, back.step, back.algorithm) == (KIND_CHECKPOINT, 2, 6, "rlsd")
    assert [(f.path, f.size) for f in back.files] == [("config.json", 2),
                                                       ("deepspeed/latest", 5)]
    assert back.total_bytes == 7
    assert back.artifact_metadata() == {"uri": str(folder), "kind": "checkpoint", "round": 2,
                                        "step": 6, "files": 2, "total_bytes": 7,
                                        "algorithm": "rlsd"}


def test_reference_pointer_strips_and_rejects_empty():
    assert reference_pointer("  default ") == ModelPointer(uri="default")
    with pytest.raises(PointerError, match="empty model reference"):
        reference_pointer(" ")


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "not JSON"),
    ('{"format": "other"}', 'missing "format"'),
    ('{"format": "rlsd.components/model-pointer", "version": 7}', "unsupported pointer version 7"),
    ('{"format": "rlsd.components/model-pointer", "version": 1, "uri": ""}', '"uri" must be'),
    ('{"format": "rlsd.components/model-pointer", "version": 1, "uri": "x", "kind": "blob"}',
     '"kind" must be'),
    ('{"format": "rlsd.components/model-pointer", "version": 1, "uri": "x", '
     '"kind": "reference", "files": [{"path": "a"}]}', "malformed field"),
])
def test_malformed_pointers_are_named(tmp_path, text, message):
    path = tmp_path / "policy"
    path.write_text(text)
    with pytest.raises(PointerError, match=message) as info:
        read_pointer(path)
    assert str(path) in str(info.value)


def test_missing_pointer_says_which_components_write_one(tmp_path):
    with pytest.raises(PointerError, match="base_model or update component"):
        read_pointer(tmp_path / "nothing")


def test_pointer_json_is_plain_and_versioned():
    data = json.loads(ModelPointer(uri="s3://b/ckpt", kind=KIND_CHECKPOINT, round=0,
                                   step=1).to_json())
    assert data["format"] == "rlsd.components/model-pointer" and data["version"] == 1
    assert data["files"] == [] and data["total_bytes"] == 0


@pytest.mark.parametrize(("uri", "path", "expected"), [
    ("s3://bucket/run/update/updated_policy", "/s3/bucket/run/update/updated_policy",
     "s3://bucket/run/update/updated_policy-checkpoint"),
    ("minio://mlpipeline/v2/x/updated_policy", "/minio/mlpipeline/v2/x/updated_policy",
     "s3://mlpipeline/v2/x/updated_policy-checkpoint"),
    ("/tmp/kfp/run/update/updated_policy", "/tmp/kfp/run/update/updated_policy",
     "/tmp/kfp/run/update/updated_policy-checkpoint"),
])
def test_checkpoint_lives_next_to_the_artifact(uri, path, expected):
    assert checkpoint_uri(uri, path) == expected


def test_non_s3_stores_cannot_hold_checkpoints_for_remote_pods():
    assert remote_uri("s3://b/k") == "s3://b/k"
    with pytest.raises(PointerError, match="need an s3:// pipeline root"):
        remote_uri("/tmp/kfp/run/update/rollouts")
    with pytest.raises(PointerError, match="is not on S3"):
        checkpoint_uri("gs://bucket/run/policy", "/gcs/bucket/run/policy")
