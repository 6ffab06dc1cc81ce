"""Splits: sizes, determinism, no overlap between train and test."""

from __future__ import annotations

import pandas as pd
import pytest
from conftest import ml100k_files, write_folder

from recsys_helpers.datasets import load_movielens
from recsys_helpers.splits import official_folds, random_split
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

    spec = dataclasses.replace(datasets.DATASETS["ml-100k"], counts=(12, 4, 5))
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
