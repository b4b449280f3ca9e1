"""Parquet tables on local disk and on a real S3-protocol server (moto), with schema checks."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rlsd.storage import (
    BucketNotFoundError,
    CredentialsError,
    NotFoundError,
    SchemaMismatchError,
    exists,
    join,
    list_files,
    read_table,
    write_table,
)

SCHEMA = pa.schema(
    [
        pa.field("prompt_id", pa.int64(), nullable=False),
        pa.field("prompt", pa.string()),
        pa.field("reward", pa.float32()),
        pa.field("tokens", pa.list_(pa.int32())),
    ],
    metadata={b"rlsd.table": b"rollouts"},
)


def _rows() -> pa.Table:
    # Narrower/other-flavour types than SCHEMA on purpose: the schema casts them.
    return pa.table({
        "prompt_id": pa.array([0, 1, 2], pa.int32()),
        "prompt": pa.array(["2+2?", "3*3?", "ok"], pa.large_string()),
        "reward": pa.array([1.0, 0.0, 0.5], pa.float64()),
        "tokens": pa.array([[1, 2], [], [7]], pa.list_(pa.int32())),
    })


def test_local_round_trip_with_schema(tmp_path: Path) -> None:
    uri = str(tmp_path / "out" / "rollouts.parquet")
    write_table(_rows(), uri, schema=SCHEMA)
    back = read_table(uri, schema=SCHEMA)
    assert back.schema.equals(SCHEMA, check_metadata=True)
    assert back.column("prompt_id").to_pylist() == [0, 1, 2]
    assert back.column("prompt").to_pylist() == ["2+2?", "3*3?", "ok"]
    assert back.column("reward").to_pylist() == [1.0, 0.0, 0.5]
    assert back.column("tokens").to_pylist() == [[1, 2], [], [7]]
    # The file itself carries the schema: a plain pyarrow reader sees int64 and float32.
    assert pq.read_schema(uri).field("prompt_id").type == pa.int64()
    # No temporary file left next to the table.
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["rollouts.parquet"]


def test_s3_round_trip_with_schema(s3_root: str) -> None:
    uri = join(s3_root, "tables", "rollouts.parquet")
    write_table(_rows(), uri, schema=SCHEMA)
    assert list_files(join(s3_root, "tables")) == [uri]  # no folder-marker objects
    back = read_table(uri, schema=SCHEMA)
    assert back.schema.equals(SCHEMA, check_metadata=True)
    assert back.column("tokens").to_pylist() == [[1, 2], [], [7]]
    assert read_table(uri, columns=["prompt"]).column_names == ["prompt"]
    # Overwrite in place: readers now see the new table.
    write_table(_rows().slice(0, 1), uri, schema=SCHEMA)
    assert read_table(uri).num_rows == 1


def _write_shards(root: str) -> None:
    write_table(pa.table({"x": [1, 2]}), join(root, "part-0.parquet"))
    write_table(pa.table({"x": [3]}), join(root, "sub", "part-1.parquet"))


def test_read_folder_of_shards_local_and_s3(tmp_path: Path, s3_root: str) -> None:
    local_root = str(tmp_path / "ds")
    s3_ds = join(s3_root, "ds")
    for root in (local_root, s3_ds):
        _write_shards(root)
    (tmp_path / "ds" / "manifest.json").write_text("{}")
    (tmp_path / "ds" / "_SUCCESS").write_text("")
    (tmp_path / "ds" / ".hidden.parquet").write_text("not parquet")
    for root in (local_root, s3_ds):
        assert sorted(read_table(root).column("x").to_pylist()) == [1, 2, 3]


def test_hive_partitions_become_columns(tmp_path: Path) -> None:
    root = str(tmp_path / "ds")
    write_table(pa.table({"x": [1]}), join(root, "split=train", "a.parquet"))
    write_table(pa.table({"x": [2]}), join(root, "split=test", "a.parquet"))
    table = read_table(root).sort_by("x")
    assert table.column("split").to_pylist() == ["train", "test"]


def test_schema_errors_name_every_problem(tmp_path: Path) -> None:
    uri = str(tmp_path / "bad.parquet")
    bad = pa.table({
        "prompt_id": pa.array([1, None], pa.int64()),
        "prompt": pa.array([1, 2], pa.int64()),
        "tokens": pa.array([[1], [2]], pa.list_(pa.int32())),
    })
    write_table(bad, uri)  # no schema: written as is
    with pytest.raises(SchemaMismatchError) as info:
        read_table(uri, schema=SCHEMA)
    message = str(info.value)
    assert message.startswith(f"{uri} does not match the expected schema: ")
    assert "missing column(s) ['reward']" in message
    assert "column 'prompt' has type int64, expected string" in message
    assert "non-nullable column(s) ['prompt_id'] hold nulls" in message


def test_write_with_schema_rejects_extra_columns_and_writes_nothing(tmp_path: Path) -> None:
    uri = str(tmp_path / "t.parquet")
    extra = _rows().append_column("debug", pa.array(["a", "b", "c"]))
    with pytest.raises(SchemaMismatchError, match=r"unexpected column\(s\) \['debug'\]"):
        write_table(extra, uri, schema=SCHEMA)
    assert not exists(uri)


def test_reading_with_schema_drops_extra_columns(tmp_path: Path) -> None:
    uri = str(tmp_path / "t.parquet")
    write_table(_rows().append_column("debug", pa.array(["a", "b", "c"])), uri)
    assert read_table(uri, schema=SCHEMA).column_names == SCHEMA.names


def test_values_that_overflow_the_schema_type_are_named(tmp_path: Path) -> None:
    uri = str(tmp_path / "t.parquet")
    write_table(pa.table({"n": pa.array([1, 2**40], pa.int64())}), uri)
    narrow = pa.schema([pa.field("n", pa.int32())])
    with pytest.raises(SchemaMismatchError, match="column 'n' values do not fit int32"):
        read_table(uri, schema=narrow)


def test_missing_requested_column_is_an_error(tmp_path: Path) -> None:
    uri = str(tmp_path / "t.parquet")
    write_table(pa.table({"x": [1]}), uri)
    with pytest.raises(SchemaMismatchError,
                       match=r"missing column\(s\) \['y'\]; the table has \['x'\]"):
        read_table(uri, columns=["x", "y"])


def test_missing_table_errors(tmp_path: Path, s3_root: str) -> None:
    for uri in (str(tmp_path / "nope.parquet"), join(s3_root, "nope.parquet")):
        with pytest.raises(NotFoundError) as info:
            read_table(uri)
        assert str(info.value) == f"{uri} does not exist"
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(NotFoundError, match="is a folder with no .parquet files"):
        read_table(str(empty))
    uri = "s3://no-such-bucket-rlsd/t.parquet"
    for call in (lambda: read_table(uri), lambda: write_table(pa.table({"x": [1]}), uri)):
        with pytest.raises(BucketNotFoundError) as bucket_info:
            call()
        assert str(bucket_info.value) == (
            f"bucket 'no-such-bucket-rlsd' does not exist (accessing {uri})")


def test_missing_credentials_for_tables(s3_root: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    uri = join(s3_root, "t.parquet")
    with pytest.raises(CredentialsError, match="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        write_table(pa.table({"x": [1]}), uri)
