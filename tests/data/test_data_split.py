"""The seeded train/eval split: sizes, determinism, disjointness, order independence."""

from __future__ import annotations

import pytest

from rlsd.config import ConfigError
from rlsd.data import DataConfig, DataError, FieldMapping, prepare, source_from_rows
from rlsd.data.split import split_indices, split_sizes


@pytest.mark.parametrize("n_valid, n_train, n_eval, fraction, expected", [
    (100, None, None, 0.2, (80, 20)),
    (100, None, 5, 0.2, (95, 5)),      # n_eval wins over the fraction
    (100, 10, 5, 0.2, (10, 5)),        # n_train caps train
    (3, None, None, 0.1, (2, 1)),      # a positive fraction holds out at least one row
    (1, None, None, 0.1, (1, 0)),      # ... unless there is only one
    (10, None, None, 0.0, (10, 0)),
    (10, 0, None, 1.0, (0, 10)),       # an eval-only set
    (10, 0, 10, 0.2, (0, 10)),         # ... asked for with n_train=0
])
def test_split_sizes(n_valid, n_train, n_eval, fraction, expected):
    assert split_sizes(n_valid, n_train, n_eval, fraction) == expected


def test_asking_for_more_rows_than_valid_is_one_error():
    with pytest.raises(DataError, match="asked for n_train=90 and n_eval=20 but only 100 valid rows"):
        split_sizes(100, 90, 20, 0.2)


@pytest.mark.parametrize("n_eval", [784, 800])
def test_an_n_eval_that_leaves_no_training_rows_is_one_error(n_eval):
    with pytest.raises(DataError, match=f"n_eval={n_eval} leaves no training rows: only 784"):
        split_sizes(784, None, n_eval, 0.2)


def test_synthetic_sizes_beyond_the_level_are_refused_by_validate():
    with pytest.raises(ConfigError, match="synthetic level 2 has only 784 distinct problems"):
        DataConfig(synthetic_difficulty=2, synthetic_n=785).validate()
    with pytest.raises(ConfigError, match="'n_eval' .100. leaves no training rows"):
        DataConfig(synthetic_n=100, n_eval=100).validate()


def test_split_is_seeded_disjoint_and_independent_of_row_order():
    ids = [f"id{i}" for i in range(200)]
    train, held = split_indices(ids, n_train=None, n_eval=30, eval_fraction=0.0, seed=5)
    assert len(held) == 30 and len(train) == 170
    assert not set(train) & set(held) and set(train) | set(held) == set(range(200))
    assert (train, held) == split_indices(ids, n_train=None, n_eval=30, eval_fraction=0.0, seed=5)
    _, other = split_indices(ids, n_train=None, n_eval=30, eval_fraction=0.0, seed=6)
    assert {ids[i] for i in other} != {ids[i] for i in held}

    reversed_ids = ids[::-1]
    _, held_rev = split_indices(reversed_ids, n_train=None, n_eval=30, eval_fraction=0.0, seed=5)
    assert [reversed_ids[i] for i in held_rev] == [ids[i] for i in held]


def test_prepared_splits_have_no_id_overlap_and_repeat_exactly():
    config = DataConfig(synthetic_n=60, synthetic_difficulty=3, seed=3, n_train=40, n_eval=15)
    a, b = prepare(config), prepare(config)
    assert a.train.equals(b.train) and a.eval.equals(b.eval)
    train_ids = set(a.train.column("id").to_pylist())
    eval_ids = set(a.eval.column("id").to_pylist())
    assert len(train_ids) == 40 and len(eval_ids) == 15 and not train_ids & eval_ids
    c = prepare(DataConfig(synthetic_n=60, synthetic_difficulty=3, seed=4, n_train=40, n_eval=15))
    assert set(c.eval.column("prompt").to_pylist()) != set(a.eval.column("prompt").to_pylist())


def test_split_sizes_count_valid_rows_only():
    rows = [{"id": f"r{i}", "prompt": "q", "answer": "1"} for i in range(20)]
    rows.append({"id": "bad", "prompt": "q", "answer": ""})
    result = prepare(DataConfig(eval_fraction=0.25, max_reject_fraction=0.1),
                     source=source_from_rows(rows, FieldMapping(), "t"))
    assert (result.train.num_rows, result.eval.num_rows) == (15, 5)
