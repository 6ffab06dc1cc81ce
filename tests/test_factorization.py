"""Learned models: by-hand steps, closed forms against independent solutions, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_ratings

from recsys_helpers.baselines import BiasedBaseline, Popularity
from recsys_helpers.factorization import EASE, BiasedMF, ImplicitALS
from recsys_helpers.interactions import rating_matrix
from recsys_helpers.metrics import recall_at_k, rmse
from recsys_helpers.splits import random_split, stratified_split
from recsys_helpers.synthetic import make_ratings


@pytest.fixture(scope="module")
def world():
    return make_ratings(n_users=300, n_items=200, n_ratings=12_000, noise=0.3, seed=5).ratings


# --- BiasedMF -------------------------------------------------------------------------------


def test_one_sgd_epoch_by_hand():
    # One user, two items: ratings 5 and 3, so mu = 4 and the errors are +1 and -1. With zero
    # initial factors only the biases move; both ratings are in one batch, so the order does not
    # matter: b_u gets lr*(1) + lr*(-1) = 0, b_1 = +lr, b_2 = -lr.
    ratings = pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2], "rating": [5.0, 3.0]})
    model = BiasedMF(n_factors=2, n_epochs=1, learning_rate=0.1, regularization=0.0,
                     init_std=0.0, batch_size=2).fit(ratings)  # fmt: skip
    np.testing.assert_allclose(model.user_bias_, [0.0])
    np.testing.assert_allclose(model.item_bias_, [0.1, -0.1])
    assert (model.user_factors_ == 0).all() and (model.item_factors_ == 0).all()


def test_mf_is_deterministic_for_a_seed(world):
    a = BiasedMF(n_factors=8, n_epochs=3, seed=1).fit(world)
    b = BiasedMF(n_factors=8, n_epochs=3, seed=1).fit(world)
    c = BiasedMF(n_factors=8, n_epochs=3, seed=2).fit(world)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    assert not np.array_equal(a.item_factors_, c.item_factors_)


def test_mf_learns_the_planted_factors_and_early_stopping_keeps_the_best_epoch(world):
    train, test = random_split(world, test_size=0.2, seed=0)
    fit_part, validation = random_split(train, test_size=0.1, seed=1)
    model = BiasedMF(n_factors=10, n_epochs=60, regularization=0.05).fit(fit_part)
    baseline = rmse(test.rating, BiasedBaseline().fit(train).predict(test))
    assert rmse(test.rating, model.predict(test)) < baseline - 0.05
    # Without regularisation many factors overfit: validation error turns up, training stops
    # early and the parameters of the best epoch are restored.
    overfit = BiasedMF(n_factors=50, n_epochs=200, regularization=0.0, learning_rate=0.02,
                       patience=3).fit(fit_part, validation=validation)  # fmt: skip
    history = overfit.history_
    assert len(history) < 200
    assert overfit.best_epoch_ == int(history.validation_rmse.idxmin()) + 1 < len(history)
    assert rmse(validation.rating, overfit.predict(validation)) == pytest.approx(
        history.validation_rmse.min())


def test_mf_unknown_ids_fall_back_to_biases(world):
    model = BiasedMF(n_factors=4, n_epochs=2).fit(world)
    u = model.users_.index([1])[0]
    pairs = pd.DataFrame({"user_id": [1, 10**6], "item_id": [10**6, 10**6]})
    np.testing.assert_allclose(model.predict(pairs),
                               [model.global_mean_ + model.user_bias_[u], model.global_mean_])  # fmt: skip


@pytest.mark.parametrize("kwargs", [{"n_factors": 0}, {"learning_rate": 0}, {"batch_size": 0},
                                    {"regularization": -1}])  # fmt: skip
def test_mf_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        BiasedMF(**kwargs).fit(tiny_ratings())


# --- EASE -----------------------------------------------------------------------------------


def ridge_without_self(x: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """The readable twin: for each item j, a ridge regression of column j on the other columns,
    with penalty[k] on weight k. EASE's closed form must give the same weights."""
    n = x.shape[1]
    weights = np.zeros((n, n))
    for j in range(n):
        others = [k for k in range(n) if k != j]
        a = x[:, others]
        weights[others, j] = np.linalg.solve(a.T @ a + np.diag(penalty[others]), a.T @ x[:, j])
    return weights


@pytest.mark.parametrize("dropout", [0.0, 0.5])
def test_ease_closed_form_equals_ridge_regressions(dropout):
    ratings = make_ratings(n_users=80, n_items=25, n_ratings=600, seed=3).ratings
    model = EASE(regularization=7.0, dropout=dropout).fit(ratings)
    x = rating_matrix(ratings, value=None)[0].toarray()
    penalty = 7.0 + dropout / (1 - dropout) * np.diag(x.T @ x)
    np.testing.assert_allclose(model.weights_, ridge_without_self(x, penalty), atol=1e-9)
    assert (np.diag(model.weights_) == 0).all()


def test_ease_scores_and_recommends_co_occurring_items():
    # Items 1 and 2 always go together; user 9 has item 1 only.
    rows = [(u, i) for u in range(1, 9) for i in (1, 2)] + [(u, 3) for u in range(1, 5)] + [(9, 1)]
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id"]).assign(rating=1.0)
    model = EASE(regularization=1.0, dropout=0.0).fit(ratings)
    assert model.recommend([9], k=1).item_id.tolist() == [2]
    scores = model.score(pd.DataFrame({"user_id": [9, 9, 99], "item_id": [2, 3, 2]}))
    assert scores[0] > scores[1] and scores[2] == 0.0
    with pytest.raises(TypeError, match="does not predict ratings"):
        model.predict(ratings)


@pytest.mark.parametrize("kwargs", [{"regularization": 0}, {"dropout": 1.0}, {"dropout": -0.1}])
def test_ease_bad_parameters(kwargs):
    with pytest.raises(ValueError):
        EASE(**kwargs).fit(tiny_ratings())


# --- ImplicitALS -------------------------------------------------------------------------


def test_als_half_step_equals_naive_weighted_least_squares():
    ratings = make_ratings(n_users=30, n_items=20, n_ratings=150, seed=4).ratings
    model = ImplicitALS(n_factors=3, regularization=0.5, alpha=4.0, n_iterations=1).fit(ratings)
    x = rating_matrix(ratings, value=None)[0]
    items = np.random.default_rng(0).normal(size=(x.shape[1], 3))
    fast = model._solve(x, items)
    dense = x.toarray()
    for u in range(x.shape[0]):
        c = np.diag(1 + 4.0 * dense[u])  # confidence of every item for user u
        expected = np.linalg.solve(items.T @ c @ items + 0.5 * np.eye(3), items.T @ c @ dense[u])
        np.testing.assert_allclose(fast[u], expected, atol=1e-10)


def test_als_is_deterministic_and_beats_popularity():
    # People rate what they like here (selection bias), so there is taste to find beyond
    # popularity; without it the synthetic world's interactions follow popularity alone.
    world = make_ratings(n_users=300, n_items=200, n_ratings=12_000, popularity_exponent=0.5,
                         selection_bias=4.0, seed=5).ratings  # fmt: skip
    train, test = stratified_split(world, test_size=0.25, seed=0)
    small = dict(n_factors=5, regularization=0.1, alpha=1.0, n_iterations=10, seed=3)
    a = ImplicitALS(**small).fit(train)
    b = ImplicitALS(**small).fit(train)
    np.testing.assert_array_equal(a.item_factors_, b.item_factors_)
    users = test.user_id.unique()
    als = recall_at_k(a.recommend(users, k=10), test)
    pop = recall_at_k(Popularity().fit(train).recommend(users, k=10), test)
    assert als > pop


@pytest.mark.parametrize("bad, name", [({"n_factors": 0}, "n_factors"), ({"n_factors": 2.5}, "n_factors"),
                                       ({"n_iterations": 0}, "n_iterations"),
                                       ({"n_iterations": -1}, "n_iterations"), ({"alpha": 0}, "alpha"),
                                       ({"alpha": float("nan")}, "alpha"),
                                       ({"regularization": -1.0}, "regularization")])  # fmt: skip
def test_als_names_a_bad_parameter(bad, name):
    ratings = make_ratings(n_users=10, n_items=8, n_ratings=40, seed=1).ratings
    with pytest.raises(ValueError, match=name):
        ImplicitALS(**bad).fit(ratings)


def test_als_similar_items_by_hand():
    ratings = make_ratings(n_users=30, n_items=20, n_ratings=150, seed=4).ratings
    model = ImplicitALS(n_factors=2, n_iterations=1).fit(ratings)
    ids = model.items_.ids
    factors = np.zeros((len(ids), 2))
    factors[:4] = [[1, 0], [2, 0.1], [0, 1], [-1, 0]]  # the rest are zero: cosine 0
    model.item_factors_ = factors
    near = model.similar_items(ids[0], k=3)
    assert near.item_id.tolist() == [ids[1], ids[2], ids[4]]  # then zero vectors, by position
    np.testing.assert_allclose(near.similarity, [2 / np.hypot(2, 0.1), 0.0, 0.0])
    assert ids[3] not in near.item_id.tolist()  # opposite direction: cosine -1
    with pytest.raises(KeyError, match="not in the training data"):
        model.similar_items(-5)
    with pytest.raises(ValueError, match="positive integer"):
        model.similar_items(ids[0], k=0)


@pytest.mark.parametrize("low, high", [(20, 100), (-1e6, 1e6)])
def test_biased_mf_learns_on_any_rating_scale(world, low, high):
    # The same ratings on another scale: the model learns in units of a quarter of the range,
    # so the defaults converge, and its predictions are the 1-5 model's, rescaled.
    stars = BiasedMF(n_factors=8, n_epochs=5).fit(world)
    assert stars.scale_ == 1.0
    rescale = (high - low) / 4
    other = world.assign(rating=low + (world.rating - 1) * rescale)
    model = BiasedMF(n_factors=8, n_epochs=5).fit(other)
    assert model.scale_ == rescale
    predictions = model.predict(other)
    assert np.isfinite(predictions).all()
    np.testing.assert_allclose(predictions, low + (stars.predict(world) - 1) * rescale,
                               rtol=1e-6, atol=1e-6 * rescale)  # fmt: skip
    assert len(model.recommend(other.user_id.unique()[:3], k=5)) == 15


def test_biased_mf_that_diverges_says_so():
    from recsys_helpers.base import NotFittedError, TrainingDivergedError

    ratings = make_ratings(n_users=50, n_items=40, n_ratings=800, seed=1).ratings
    model = BiasedMF(n_factors=4, n_epochs=20, learning_rate=5.0)
    with pytest.raises(TrainingDivergedError, match="diverged in epoch .*lower learning_rate"):
        model.fit(ratings)
    with pytest.raises(NotFittedError):
        model.predict(ratings)
