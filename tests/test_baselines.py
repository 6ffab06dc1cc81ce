"""Baselines: ALS biases by hand, the regularisation effect, fallbacks for unknown ids."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_ratings

from recsys_helpers.baselines import BiasedBaseline, GlobalMean
from recsys_helpers.synthetic import make_ratings


def test_global_mean():
    model = GlobalMean().fit(tiny_ratings())
    pairs = pd.DataFrame({"user_id": [1, 99], "item_id": [1, 1]})
    np.testing.assert_allclose(model.predict(pairs), [41 / 12] * 2)  # 5+3+4+4+1+2+5+4+3+2+5+3


def test_one_als_round_by_hand():
    # Two users, two items: user 1 rated item 1 with 5 and item 2 with 3; user 2 item 1 with 4.
    ratings = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [1, 2, 1], "rating": [5, 3, 4]})
    mu = 4.0
    model = BiasedBaseline(regularization_user=1, regularization_item=2, n_epochs=1).fit(ratings)
    # items first, with b_u = 0: b_1 = (1 + 0) / (2 + 2), b_2 = (-1) / (2 + 1)
    b1, b2 = 1 / 4, -1 / 3
    np.testing.assert_allclose(model.item_bias_, [b1, b2])
    # then users: b_u1 = ((5-4-b1) + (3-4-b2)) / (1 + 2), b_u2 = (4-4-b1) / (1 + 1)
    np.testing.assert_allclose(model.user_bias_, [((1 - b1) + (-1 - b2)) / 3, (-b1) / 2])
    assert model.global_mean_ == mu


def test_biases_recover_the_planted_ones():
    world = make_ratings(n_users=300, n_items=300, n_ratings=20_000, noise=0.3, seed=2)
    model = BiasedBaseline().fit(world.ratings)
    planted = world.item_bias[model.items_.ids - 1]
    assert np.corrcoef(planted, model.item_bias_)[0, 1] > 0.8


def test_regularisation_shrinks_rarely_rated_items():
    ratings = pd.DataFrame({"user_id": [1, 2, 3], "item_id": [1, 1, 2], "rating": [5.0, 5.0, 1.0]})
    loose = BiasedBaseline(regularization_user=0, regularization_item=0).fit(ratings).item_bias_
    tight = BiasedBaseline(regularization_user=0, regularization_item=100).fit(ratings).item_bias_
    assert (np.abs(tight) < np.abs(loose)).all()


def test_unknown_ids_get_zero_bias():
    model = BiasedBaseline().fit(tiny_ratings())
    pairs = pd.DataFrame({"user_id": [99, 1], "item_id": [1, 99]})
    expected = [model.global_mean_ + model.item_bias_[0], model.global_mean_ + model.user_bias_[0]]
    np.testing.assert_allclose(model.predict(pairs), expected)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"regularization_user": -1}, "regularization_user"), ({"n_epochs": 0}, "n_epochs")],
)
def test_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BiasedBaseline(**kwargs).fit(tiny_ratings())


def test_popularity_counts_users_and_recommends_unseen_items():
    from recsys_helpers.baselines import Popularity

    ratings = tiny_ratings()  # items 1, 3 rated by 3 users; 2, 4, 5 by 2
    model = Popularity().fit(ratings)
    np.testing.assert_array_equal(model.counts_, [3, 2, 3, 2, 2])
    recs = model.recommend([1, 3], k=2)
    # user 1 has seen 1, 2, 3: left are 4 and 5 (tie, smaller id first)
    assert recs[recs.user_id == 1].item_id.tolist() == [4, 5]
    assert recs[recs.user_id == 3].item_id.tolist() == [1, 3]
    pairs = pd.DataFrame({"user_id": [1, 1], "item_id": [3, 99]})
    np.testing.assert_array_equal(model.score(pairs), [3, 0])
    with pytest.raises(TypeError, match="ranks items; it does not predict ratings"):
        model.predict(pairs)
