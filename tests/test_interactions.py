"""Ratings table <-> rating matrix, centring, implicit feedback, and input validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from conftest import tiny_ratings

from recsys_helpers.interactions import (
    IdMap,
    binarize,
    center,
    density,
    matrix_to_ratings,
    rated_mask,
    rating_matrix,
    validate_ratings,
)


def test_id_map_translates_both_ways_and_flags_unknown_ids():
    ids = IdMap.from_ids([30, 10, 20, 10])
    assert ids.ids.tolist() == [10, 20, 30] and len(ids) == 3
    assert ids.index([30, 10]).tolist() == [2, 0]
    assert 20 in ids and 25 not in ids
    assert ids.index([25, 20], unknown="ignore").tolist() == [-1, 1]
    with pytest.raises(ValueError, match=r"1 id\(s\) are not in the map, e\.g\. \[99\]"):
        ids.index([10, 99])
    with pytest.raises(ValueError, match="unknown must be"):
        ids.index([10], unknown="drop")


def test_id_map_works_with_string_ids():
    ids = IdMap.from_ids(["bob", "alice"])
    assert ids.index(["alice", "bob"]).tolist() == [0, 1]


def test_rating_matrix_by_hand():
    matrix, users, items = rating_matrix(tiny_ratings())
    assert matrix.shape == (4, 5) and matrix.nnz == 12
    expected = np.array([
        [5, 3, 4, 0, 0],
        [4, 0, 1, 2, 0],
        [0, 5, 0, 4, 3],
        [2, 0, 3, 0, 5],
    ], dtype=float)  # fmt: skip
    np.testing.assert_array_equal(matrix.toarray(), expected)
    assert users.ids.tolist() == [1, 2, 3, 4] and items.ids.tolist() == [1, 2, 3, 4, 5]


def test_round_trip_recovers_the_table():
    ratings = tiny_ratings().sample(frac=1, random_state=0)  # order must not matter
    matrix, users, items = rating_matrix(ratings)
    back = matrix_to_ratings(matrix, users, items)
    expected = (ratings[["user_id", "item_id", "rating"]].astype({"rating": float})
                .sort_values(["user_id", "item_id"]).reset_index(drop=True))  # fmt: skip
    pd.testing.assert_frame_equal(back, expected)


def test_matrix_lines_up_with_given_maps_and_handles_unknown_ids():
    ratings = tiny_ratings()
    _, users, items = rating_matrix(ratings[ratings.user_id <= 2])
    with pytest.raises(ValueError, match="not in the map"):
        rating_matrix(ratings, users, items)
    matrix, _, _ = rating_matrix(ratings, users, items, unknown="ignore")
    assert matrix.shape == (2, 4)  # users 1-2 rated items 1-4
    assert matrix.nnz == 6


def test_implicit_matrix_stores_ones():
    matrix, _, _ = rating_matrix(tiny_ratings(), value=None)
    assert set(matrix.data) == {1.0}


def test_matrix_to_ratings_checks_shape():
    with pytest.raises(ValueError, match="shape"):
        matrix_to_ratings(sp.csr_matrix((2, 2)), IdMap.from_ids([1]), IdMap.from_ids([1, 2]))


def test_center_subtracts_each_users_mean_over_rated_items_only():
    matrix, _, _ = rating_matrix(tiny_ratings())
    centred, means = center(matrix)
    # user 1 rated 5, 3, 4: mean 4; user 2 rated 4, 1, 2: mean 7/3
    np.testing.assert_allclose(means[:2], [4.0, 7 / 3])
    np.testing.assert_allclose(centred[0].toarray().ravel(), [1, -1, 0, 0, 0])
    # The 4 that equals user 1's mean is still stored (rated), as an explicit zero.
    assert centred.nnz == matrix.nnz
    assert (rated_mask(centred) != rated_mask(matrix)).nnz == 0


def test_center_by_item_and_empty_rows():
    matrix = sp.csr_matrix(np.array([[4.0, 0.0], [2.0, 0.0], [0.0, 0.0]]))
    centred, means = center(matrix, axis="item")
    np.testing.assert_allclose(centred.toarray(), [[1, 0], [-1, 0], [0, 0]])
    assert means[0] == 3.0 and np.isnan(means[1])
    _, user_means = center(matrix, axis="user")
    assert np.isnan(user_means[2])
    with pytest.raises(ValueError, match="axis"):
        center(matrix, axis="column")


def test_density_by_hand():
    matrix, _, _ = rating_matrix(tiny_ratings())
    assert density(matrix) == pytest.approx(12 / 20)
    with pytest.raises(ValueError, match="empty"):
        density(sp.csr_matrix((0, 3)))


def test_binarize_keeps_all_or_only_liked():
    ratings = tiny_ratings()
    assert len(binarize(ratings)) == 12
    liked = binarize(ratings, threshold=4)
    assert len(liked) == 6 and set(liked["rating"]) == {1.0}
    assert "timestamp" in liked.columns


@pytest.mark.parametrize(
    "change, message",
    [(lambda r: r.drop(columns="rating"), r"lacks the column\(s\) \['rating'\]"),
     (lambda r: r.assign(rating=r.rating.where(r.index != 3)), "rating has 1 missing"),
     (lambda r: r.assign(rating=np.where(r.index == 0, np.inf, r.rating)), "infinite"),
     (lambda r: r.assign(rating=r.rating.astype(str)), "rating must be numeric"),
     (lambda r: r.assign(user_id=r.user_id.astype(float)), "user_id must hold integers"),
     (lambda r: r.assign(item_id=r.item_id.where(r.index != 0)), "item_id has 1 missing"),
     (lambda r: pd.concat([r, r.iloc[[0]]]), r"1 duplicate \(user_id, item_id\) pair"),
     (lambda r: r.to_numpy(), "must be a pandas DataFrame")],
)  # fmt: skip
def test_bad_ratings_raise_a_clear_error(change, message):
    with pytest.raises(ValueError, match=message):
        validate_ratings(change(tiny_ratings()))


def test_timestamp_checked_only_when_required():
    ratings = tiny_ratings().drop(columns="timestamp")
    validate_ratings(ratings)
    with pytest.raises(ValueError, match="timestamp"):
        validate_ratings(ratings, require_timestamp=True)
    with pytest.raises(ValueError, match="timestamp must hold integers"):
        validate_ratings(ratings.assign(timestamp="yesterday"), require_timestamp=True)


def test_id_kinds_and_a_map_refuses_ids_of_another_kind():
    from recsys_helpers.interactions import id_kind

    assert id_kind(np.array([1, 2])) == "int" and id_kind(np.array(["a"])) == "str"
    assert id_kind(np.array(["a", "b"], dtype=object)) == "str"
    assert id_kind(np.array([1, "a"], dtype=object)) == "mixed"
    assert id_kind(np.array([])) == "empty" and id_kind(np.array([1.5])) == "float"
    assert id_kind(np.array([b"a", b"b"], dtype=object)) == "bytes"  # one other type: named
    numbers = IdMap.from_ids([1, 2, 3])
    assert numbers.index([2, 7], unknown="ignore").tolist() == [1, -1]
    with pytest.raises(ValueError, match=r"ids given are str \(e.g. '1'\).*are int"):
        numbers.index(["1"], unknown="ignore")  # "1" is not 1, and is not merely unknown
    words = IdMap.from_ids(["007", "7"])
    with pytest.raises(ValueError, match="ids given are int.*are str"):
        words.contains([7])
    assert words.index(["7", "07"], unknown="ignore").tolist() == [1, -1]


def test_ids_that_mix_types_are_refused_by_name():
    mixed = pd.DataFrame({"user_id": [1, "1"], "item_id": [1, 2], "rating": [3.0, 4.0]})
    with pytest.raises(ValueError, match=r"user_id must hold integers or strings.*mix.*\[1, '1'\]"):
        validate_ratings(mixed)
    raw = pd.DataFrame({"user_id": [b"u1"], "item_id": [1], "rating": [3.0]})
    with pytest.raises(ValueError, match=r"user_id must hold integers or strings .* got bytes values"):
        validate_ratings(raw)
    # An empty table is well formed (a model refuses to fit one, with its own message).
    validate_ratings(pd.DataFrame({"user_id": [], "item_id": [], "rating": []}))
