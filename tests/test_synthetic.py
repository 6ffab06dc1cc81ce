"""The synthetic world: seeded, shaped like MovieLens, and faithful to its planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_helpers.interactions import validate_ratings
from recsys_helpers.synthetic import make_ratings


def test_same_seed_same_world_other_seed_other_world():
    a, b, c = make_ratings(seed=1), make_ratings(seed=1), make_ratings(seed=2)
    pd.testing.assert_frame_equal(a.ratings, b.ratings)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    assert not a.ratings.equals(c.ratings)


def test_ratings_have_the_book_shape_and_scale():
    world = make_ratings(n_users=200, n_items=300, n_ratings=5_000, seed=0)
    r = world.ratings
    validate_ratings(r, require_timestamp=True)
    assert len(r) == 5_000 and not r.duplicated(["user_id", "item_id"]).any()
    assert r.user_id.between(1, 200).all() and r.item_id.between(1, 300).all()
    assert set(r.rating.unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    start = pd.Timestamp("1997-09-19").timestamp()
    assert r.timestamp.between(start, start + 215 * 86_400).all()


def test_item_popularity_has_a_long_tail_that_the_exponent_controls():
    def head_share(exponent):
        r = make_ratings(n_items=1000, n_ratings=20_000, popularity_exponent=exponent).ratings
        counts = r.item_id.value_counts()
        return counts.iloc[:100].sum() / counts.sum()  # share of the top 10 % of items

    assert head_share(1.0) > 0.5
    assert head_share(0.0) < 0.2


def test_ratings_follow_the_planted_scores_and_biases():
    world = make_ratings(n_users=300, n_items=400, n_ratings=20_000, noise=0.3, seed=3)
    r = world.ratings
    truth = world.true_scores(r.user_id, r.item_id)
    assert np.corrcoef(truth, r.rating)[0, 1] > 0.85
    user_means = r.groupby("user_id").rating.mean()
    planted = world.user_bias[user_means.index - 1]
    assert np.corrcoef(planted, user_means)[0, 1] > 0.5


def test_selection_bias_makes_observed_ratings_more_positive():
    neutral = make_ratings(seed=4).ratings.rating.mean()
    biased = make_ratings(seed=4, selection_bias=3.0).ratings.rating.mean()
    assert biased > neutral + 0.2


def test_true_scores_checks_ids():
    world = make_ratings(n_users=10, n_items=10, n_ratings=20)
    with pytest.raises(ValueError, match=r"user ids must lie in 1\.\.10"):
        world.true_scores([0], [1])
    with pytest.raises(ValueError, match="item ids"):
        world.true_scores([1], [11])


@pytest.mark.parametrize(
    "kwargs, message",
    [({"n_users": 0}, "n_users must be a positive integer"),
     ({"days": float("nan")}, "days must be a finite number > 0"),
     ({"n_ratings": 10**6}, "more than half"),
     ({"noise": -1}, "noise must be a finite number >= 0"),
     ({"rating_scale": (5, 1)}, "low < high")],
)  # fmt: skip
def test_bad_parameters_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_ratings(**kwargs)


def test_response_probabilities_by_hand():
    from recsys_helpers.synthetic import response_probabilities

    p = response_probabilities([3.5, 4.5])
    # s = 3.5: click sigma(0) = 0.5; s = 4.5: click sigma(2), favourite sigma(0.9), purchase 0.5
    assert p["click"].tolist() == pytest.approx([0.5, 1 / (1 + np.exp(-2))])
    assert p["favourite_given_click"][1] == pytest.approx(1 / (1 + np.exp(-0.9)))
    assert p["purchase_given_click"][1] == pytest.approx(0.5)


def test_simulated_responses_follow_the_probabilities_and_the_seed():
    from recsys_helpers.synthetic import response_probabilities, simulate_responses

    world = make_ratings(n_users=50, n_items=40, n_ratings=400, seed=1)
    shown = pd.DataFrame({"user_id": np.repeat(np.arange(1, 51), 40),
                          "item_id": np.tile(np.arange(1, 41), 50)})  # fmt: skip
    out = simulate_responses(world, shown, seed=3)
    assert (out.favourite <= out.click).all() and (out.purchase <= out.click).all()
    expected = response_probabilities(out.true_score)["click"].mean()
    assert abs(out.click.mean() - expected) < 0.03  # 2,000 draws: about 3 standard errors
    pd.testing.assert_frame_equal(out, simulate_responses(world, shown, seed=3))
