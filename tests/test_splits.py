"""Splits: sizes, determinism, no overlap between train and test."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import ml100k_files, write_folder

from recsys_helpers.datasets import load_movielens
from recsys_helpers.splits import (
    leave_last_out,
    official_folds,
    random_split,
    rating_folds,
    stratified_split,
    temporal_split,
)
from recsys_helpers.synthetic import make_ratings


def test_random_split_sizes_disjointness_and_seed():
    ratings = make_ratings(n_ratings=1000).ratings
    train, test = random_split(ratings, test_size=0.25, seed=3)
    assert (len(train), len(test)) == (750, 250)
    key = ["user_id", "item_id"]
    assert train.merge(test, on=key).empty
    union = pd.concat([train, test]).sort_values(key, ignore_index=True)
    pd.testing.assert_frame_equal(union, ratings.sort_values(key, ignore_index=True))
    again = random_split(ratings, test_size=0.25, seed=3)
    pd.testing.assert_frame_equal(test, again.test)
    assert not test.equals(random_split(ratings, test_size=0.25, seed=4).test)


@pytest.mark.parametrize("size", [0, 1, 1.5, 0.0001])
def test_random_split_rejects_degenerate_sizes(size):
    with pytest.raises(ValueError, match="test_size"):
        random_split(make_ratings(n_ratings=100).ratings, test_size=size)


def test_official_folds(tmp_path, monkeypatch):
    import dataclasses

    from recsys_helpers import datasets

    spec = dataclasses.replace(datasets.DATASETS["ml-100k"], counts=(12, 4, 5), sha256=None)
    monkeypatch.setitem(datasets.DATASETS, "ml-100k", spec)
    write_folder(tmp_path / "ml-100k", ml100k_files())
    data = load_movielens(data_home=tmp_path)
    folds = official_folds(data)
    assert len(folds) == 5 and folds[0] is data.folds["u1"]
    assert official_folds(data, ["ua"])[0] is data.folds["ua"]
    with pytest.raises(ValueError, match="unknown fold"):
        official_folds(data, ["u9"])
    with pytest.raises(ValueError, match="no official folds"):
        official_folds(dataclasses.replace(data, folds={}))
    # rating_folds: the official folds when there are some, else disjoint seeded random folds.
    assert rating_folds(data)[2] is data.folds["u3"]
    other = dataclasses.replace(data, folds={})
    folds = rating_folds(other, n_folds=3, seed=1)
    tests = pd.concat([test for _, test in folds])
    assert len(folds) == 3 and len(tests) == len(data.ratings)
    assert not tests.duplicated(KEY).any()  # every rating held out exactly once
    for train, test in folds:
        assert len(train) + len(test) == len(data.ratings)
        assert train.merge(test, on=KEY).empty
    again = rating_folds(other, n_folds=3, seed=1)
    pd.testing.assert_frame_equal(again[0].test, folds[0].test)
    with pytest.raises(ValueError, match="n_folds"):
        rating_folds(other, n_folds=1)
    # With official folds, a number other than theirs would test only some ratings: refused.
    with pytest.raises(ValueError, match="5 official folds"):
        rating_folds(data, n_folds=3)


KEY = ["user_id", "item_id"]


def assert_partition(parts, ratings):
    for a in range(len(parts)):
        for b in range(a + 1, len(parts)):
            assert parts[a].merge(parts[b], on=KEY).empty
    union = pd.concat(parts).sort_values(KEY, ignore_index=True)
    pd.testing.assert_frame_equal(union, ratings.sort_values(KEY, ignore_index=True))


def test_stratified_split_refuses_to_hold_out_nothing():
    one_each = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [1, 2, 3], "rating": 4.0})
    with pytest.raises(ValueError, match="holds out nothing"):
        stratified_split(one_each, test_size=0.25)


def test_stratified_split_holds_out_a_share_of_every_user():
    ratings = make_ratings(n_ratings=3000, seed=2).ratings
    train, test = stratified_split(ratings, test_size=0.25, seed=1)
    assert_partition([train, test], ratings)
    per_user = ratings.groupby("user_id").size()
    held = test.groupby("user_id").size().reindex(per_user.index, fill_value=0)
    expected = np.minimum(np.floor(per_user * 0.25 + 0.5), per_user - 1)
    assert (held == expected).all()
    assert set(test.user_id) <= set(train.user_id)  # every test user is known
    pd.testing.assert_frame_equal(test, stratified_split(ratings, 0.25, seed=1).test)
    assert not test.equals(stratified_split(ratings, 0.25, seed=2).test)


def test_temporal_split_puts_the_future_in_test():
    ratings = make_ratings(n_ratings=2000, seed=3).ratings
    train, test = temporal_split(ratings, test_size=0.2)
    assert (len(train), len(test)) == (1600, 400)
    assert_partition([train, test], ratings)
    assert train.timestamp.max() <= test.timestamp.min()


def test_leave_last_out_holds_out_each_users_last_two_in_time_order():
    ratings = make_ratings(n_ratings=2000, seed=4).ratings
    ratings = pd.concat([ratings, pd.DataFrame(  # a user with only two ratings stays in train
        {"user_id": [999, 999], "item_id": [1, 2], "rating": [3.0, 4.0],
         "timestamp": [10, 20]})], ignore_index=True)  # fmt: skip
    train, validation, test = leave_last_out(ratings)
    assert_partition([train, validation, test], ratings)
    assert not test.user_id.duplicated().any() and not validation.user_id.duplicated().any()
    assert 999 not in set(test.user_id) and (train.user_id == 999).sum() == 2
    last = ratings.groupby("user_id").timestamp.max()
    assert (test.set_index("user_id").timestamp == last.reindex(test.user_id)).all()
    # No leakage: for every user, train <= validation <= test in time.
    latest_train = train.groupby("user_id").timestamp.max()
    val = validation.set_index("user_id").timestamp
    tst = test.set_index("user_id").timestamp
    assert (latest_train.reindex(val.index) <= val).all() and (val <= tst.reindex(val.index)).all()


def test_leave_last_out_breaks_time_ties_by_item_id():
    ratings = pd.DataFrame({"user_id": [1, 1, 1, 1], "item_id": [9, 7, 8, 6],
                            "rating": [1.0] * 4, "timestamp": [5, 5, 5, 1]})  # fmt: skip
    train, validation, test = leave_last_out(ratings)
    assert (train.item_id.tolist(), validation.item_id.tolist(), test.item_id.tolist()) == (
        [7, 6], [8], [9])


def test_time_based_splits_need_timestamps():
    ratings = make_ratings(n_ratings=100).ratings.drop(columns="timestamp")
    for split in (temporal_split, leave_last_out):
        with pytest.raises(ValueError, match="timestamp"):
            split(ratings)


def test_splits_work_on_a_frame_with_repeated_index_labels():
    # pd.concat's default keeps both inputs' labels: 0, 1, ... twice. Splits go by position.
    ratings = make_ratings(n_users=40, n_ratings=600, seed=2).ratings
    halves = [ratings.iloc[:300].reset_index(drop=True), ratings.iloc[300:].reset_index(drop=True)]
    repeated = pd.concat(halves)
    assert repeated.index.has_duplicates
    for split in (stratified_split, leave_last_out, random_split, temporal_split):
        for got, expected in zip(split(repeated), split(ratings), strict=True):
            pd.testing.assert_frame_equal(got, expected)
