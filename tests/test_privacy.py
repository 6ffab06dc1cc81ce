"""LDP mechanisms and neighbour-list exposure: by hand, the privacy guarantee, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_helpers.privacy import (
    keep_probability,
    laplace_mechanism,
    neighbor_list_exposure,
    privatize_ratings,
    randomized_response,
    unbias_randomized_response,
    user_level_epsilon,
)

STARS = [1, 2, 3, 4, 5]


def test_keep_probability_by_hand():
    # eps = ln 4, k = 5: p = 4 / (4 + 4) = 0.5; eps -> 0 gives 1/k.
    assert keep_probability(np.log(4), 5) == pytest.approx(0.5)
    assert keep_probability(1e-9, 5) == pytest.approx(0.2)
    assert keep_probability(np.log(9), 2) == pytest.approx(0.9)


def test_randomized_response_frequencies_give_exactly_e_to_the_epsilon():
    eps = np.log(4)  # p = 0.5, each other star 0.125: ratio 4 = e^eps
    reports = randomized_response(np.full(200_000, 3.0), STARS, eps, seed=0)
    share = pd.Series(reports).value_counts(normalize=True).sort_index()
    assert share.index.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    np.testing.assert_allclose(share.to_numpy(), [0.125, 0.125, 0.5, 0.125, 0.125], atol=0.005)


def test_randomized_response_is_seeded_and_keeps_values_in_the_categories():
    values = np.array([1, 5, 3, 3, 2] * 100, dtype=float)
    a = randomized_response(values, STARS, 1.0, seed=7)
    np.testing.assert_array_equal(a, randomized_response(values, STARS, 1.0, seed=7))
    assert not np.array_equal(a, randomized_response(values, STARS, 1.0, seed=8))
    assert set(np.unique(a)) <= set(STARS)
    # a large budget reports (almost) the truth
    np.testing.assert_array_equal(randomized_response(values, STARS, 50.0), values)


def test_unbias_by_hand_and_in_expectation():
    # eps = ln 4, k = 5: p = 0.5, q = 0.125, S = 15: r_hat = (r_tilde - 1.875) / 0.375.
    np.testing.assert_allclose(unbias_randomized_response([1, 5], STARS, np.log(4)),
                               [(1 - 1.875) / 0.375, (5 - 1.875) / 0.375])  # fmt: skip
    # Exact expectation over the five possible reports, for each true star.
    p = keep_probability(0.7, 5)
    q = (1 - p) / 4
    estimates = unbias_randomized_response(STARS, STARS, 0.7)
    for true in STARS:
        probabilities = np.where(np.array(STARS) == true, p, q)
        assert probabilities @ estimates == pytest.approx(true)


def test_laplace_noise_has_the_scale_delta_over_epsilon():
    noisy = laplace_mechanism(np.zeros(200_000), epsilon=2.0, sensitivity=4.0, seed=0)
    assert abs(noisy.mean()) < 0.02
    assert np.abs(noisy).mean() == pytest.approx(2.0, rel=0.02)  # E|Laplace(0, b)| = b = 4/2
    np.testing.assert_array_equal(noisy, laplace_mechanism(np.zeros(200_000), 2.0, 4.0, seed=0))


def test_privatize_ratings_keeps_ids_and_changes_only_ratings():
    ratings = pd.DataFrame({"user_id": [1, 1, 2, 2] * 50, "item_id": np.arange(200),
                            "rating": [5.0, 1.0, 3.0, 4.0] * 50, "timestamp": np.arange(200)})
    for mechanism in ("randomized_response", "laplace"):
        out = privatize_ratings(ratings, 1.0, mechanism=mechanism, seed=3)
        pd.testing.assert_frame_equal(out.drop(columns="rating"), ratings.drop(columns="rating"))
        assert not np.array_equal(out.rating, ratings.rating)
    raw = privatize_ratings(ratings, 1.0, unbias=False)
    assert set(raw.rating.unique()) <= set(STARS)
    assert ratings.rating.tolist()[:4] == [5.0, 1.0, 3.0, 4.0]  # the input is not modified


@pytest.mark.parametrize("kwargs, message", [
    ({"epsilon": 0}, "epsilon"),
    ({"epsilon": np.inf}, "epsilon"),
    ({"epsilon": 1, "mechanism": "gaussian"}, "mechanism"),
    ({"epsilon": 1, "rating_scale": (1, 4)}, "outside rating_scale"),
    ({"epsilon": 1, "rating_scale": (5, 1)}, "low < high"),
])  # fmt: skip
def test_privatize_ratings_errors(kwargs, message):
    ratings = pd.DataFrame({"user_id": [1, 2], "item_id": [1, 1], "rating": [5.0, 3.0]})
    with pytest.raises(ValueError, match=message):
        privatize_ratings(ratings, **kwargs)


def test_mechanism_errors():
    with pytest.raises(ValueError, match="not one of the categories"):
        randomized_response([2.5], STARS, 1.0)
    with pytest.raises(ValueError, match="distinct"):
        randomized_response([1], [1, 1], 1.0)
    with pytest.raises(ValueError, match="sensitivity"):
        laplace_mechanism([1.0], 1.0, 0.0)
    with pytest.raises(ValueError, match="n_categories"):
        keep_probability(1.0, 1)


def test_neighbor_list_exposure_by_hand():
    # Raters: item 1 {Ann, Bob, Cy}, 2 {Ann, Bob}, 3 {Ann}, 4 {Bob, Cy}, 9 {Ann}.
    ratings = pd.DataFrame({
        "user_id": ["Ann"] * 4 + ["Bob"] * 3 + ["Cy"] * 2,
        "item_id": [1, 2, 3, 9, 1, 2, 4, 1, 4],
    })  # fmt: skip
    table = neighbor_list_exposure(ratings, k=2).set_index("item_id")
    assert table.n_raters.to_dict() == {1: 3, 2: 2, 3: 1, 4: 2, 9: 1}
    # Item 9: Jaccard with 3 is 1, with 2 is 1/2, with 1 is 1/3 -> list [3, 2], both Ann's.
    assert table.loc[9, "exposure"] == 1.0
    # Item 1: Jaccard 2/3 with 2 and with 4, 1/3 with 3 and 9 -> list [2, 4];
    # 2 of its 3 raters rated item 2, 2 of 3 rated item 4: (2/3 + 2/3) / 2.
    assert table.loc[1, "exposure"] == pytest.approx(2 / 3)
    # Item 4: Jaccard 2/3 with 1, 1/3 with 2, 0 with 3 and 9 -> list [1, 2];
    # both its raters rated 1, one rated 2: (2/2 + 1/2) / 2.
    assert table.loc[4, "exposure"] == pytest.approx(0.75)
    assert (table.list_length == 2).all()
    # Base rates (3 users): item 9's list [3, 2] is rated by 1 and 2 users: (1/3 + 2/3) / 2.
    assert table.loc[9, "base_rate"] == pytest.approx(0.5)
    assert table.loc[1, "base_rate"] == pytest.approx(2 / 3)  # [2, 4]: (2/3 + 2/3) / 2
    assert table.loc[4, "base_rate"] == pytest.approx(5 / 6)  # [1, 2]: (3/3 + 2/3) / 2


def test_neighbor_list_exposure_falls_as_items_get_more_raters():
    from recsys_helpers.synthetic import make_ratings

    ratings = make_ratings(n_users=300, n_items=2_000, n_ratings=12_000, seed=0).ratings
    table = neighbor_list_exposure(ratings, k=10)
    assert (table.n_raters == 1).sum() >= 10
    assert (table[table.n_raters == 1].exposure == 1.0).all()  # one rater: their own items
    assert (table[table.n_raters == 2].exposure >= 0.5).all()  # two: each listed item is one's
    lift = table.exposure / table.base_rate
    assert lift[table.n_raters == 1].mean() > 5  # a rare item's list reveals its rater
    assert lift[table.n_raters >= 50].mean() < 2  # a popular item's list says little more
    with pytest.raises(ValueError, match="user_id"):
        neighbor_list_exposure(ratings.rename(columns={"user_id": "user"}))


def test_user_level_epsilon_by_hand():
    # Sequential composition: user "a" sends 3 reports at eps = 0.5, so 1.5 for the profile.
    ratings = pd.DataFrame({"user_id": ["a", "a", "a", "b"], "item_id": [1, 2, 3, 1],
                            "rating": [4.0, 3.0, 5.0, 1.0]})
    budget = user_level_epsilon(ratings, 0.5)
    assert budget.to_dict() == {"a": 1.5, "b": 0.5}
    with pytest.raises(ValueError, match="epsilon"):
        user_level_epsilon(ratings, 0.0)


def test_privatize_ratings_reads_the_levels_from_the_data():
    # Half stars (ml-latest-small's scale): the levels are the data's own, 0.5 ... 5.0; the
    # reports stay on them, and an explicit whole-star scale refuses the half stars by name.
    levels = np.arange(0.5, 5.01, 0.5)
    ratings = pd.DataFrame({"user_id": np.arange(400), "item_id": 1,
                            "rating": np.resize(levels, 400)})  # fmt: skip
    noisy = privatize_ratings(ratings, 0.5, unbias=False, seed=1)
    assert set(noisy.rating) <= set(levels) and set(noisy.rating) != {0.5}
    assert noisy.rating.ne(ratings.rating).any()
    with pytest.raises(ValueError, match=r"outside rating_scale \(1, 5\)"):
        privatize_ratings(ratings, 1.0, rating_scale=(1, 5))
    with pytest.raises(ValueError, match="whole steps"):
        privatize_ratings(ratings, 1.0, rating_scale=(0.5, 5))
    # Laplace takes any rating within a declared range, half stars included.
    inside = ratings[ratings.rating >= 1]
    assert len(privatize_ratings(inside, 1.0, mechanism="laplace", rating_scale=(1, 5))) == len(inside)
    with pytest.raises(ValueError, match="same value"):
        privatize_ratings(ratings.assign(rating=3.0), 1.0)
