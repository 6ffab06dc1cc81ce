"""The shared evaluation code: same numbers as computing by hand, tidy output, sampled ranks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_helpers.base import Recommender
from recsys_helpers.baselines import BiasedBaseline, GlobalMean, Popularity
from recsys_helpers.evaluation import (
    bootstrap_interval,
    evaluate_next_item,
    evaluate_ratings,
    evaluate_sampled,
    evaluate_topn,
    item_ranks,
    paired_difference,
    per_item_metrics,
    results_board,
    sampled_ranks,
    select_on_validation,
)
from recsys_helpers.factorization import EASE
from recsys_helpers.metrics import ndcg_at_k, rmse
from recsys_helpers.splits import leave_last_out, random_split, stratified_split
from recsys_helpers.synthetic import make_ratings


@pytest.fixture(scope="module")
def world():
    return make_ratings(n_users=200, n_items=150, n_ratings=6_000, selection_bias=3.0,
                        popularity_exponent=0.5, seed=8).ratings  # fmt: skip


def test_evaluate_ratings_is_tidy_and_matches_direct_computation(world):
    folds = [random_split(world, 0.2, seed=s) for s in (0, 1)]
    table = evaluate_ratings({"mean": GlobalMean, "biases": BiasedBaseline}, folds)
    assert list(table.columns) == ["model", "fold", "metric", "value", "fit_seconds",
                                   "predict_seconds"]  # fmt: skip
    assert len(table) == 2 * 2 * 2 and set(table.fold) == {1, 2}
    train, test = folds[1]
    direct = rmse(test.rating, BiasedBaseline().fit(train).predict(test))
    got = table.query("model == 'biases' and fold == 2 and metric == 'rmse'").value.item()
    assert got == pytest.approx(direct)
    assert (table.fit_seconds >= 0).all()


def test_evaluate_topn_matches_the_metrics_on_recommend(world):
    train, test = stratified_split(world, 0.25, seed=0)
    lists = {}
    models = {"pop": Popularity, "ease": lambda: EASE(regularization=50.0)}
    table = evaluate_topn(models, train, test, k=5,
                          keep_lists=lists)  # fmt: skip
    recs = EASE(regularization=50.0).fit(train).recommend(test.user_id.unique(), k=5)
    pd.testing.assert_frame_equal(lists["ease"], recs)
    assert set(lists) == {"pop", "ease"}
    got = table.query("model == 'ease' and metric == 'ndcg'").value.item()
    assert got == pytest.approx(ndcg_at_k(recs, test, k=5))
    assert set(table.metric) == {"precision", "recall", "ndcg", "map", "mrr", "hit_rate",
                                 "coverage", "novelty", "personalization"}  # fmt: skip
    values = table.set_index(["model", "metric"]).value
    # Popularity gives everybody the same ranking (less what each has seen): less personal.
    assert values["pop", "personalization"] < values["ease", "personalization"]
    # Ranking metrics carry a bootstrap interval over users around their mean; the
    # beyond-accuracy ones describe all lists at once and have none.
    ranking = table[table.metric.isin(["precision", "ndcg", "hit_rate"])]
    assert (ranking.low < ranking.value).all() and (ranking.value < ranking.high).all()
    per_user = ndcg_at_k(recs, test, k=5, per_user=True)
    low, high = bootstrap_interval(per_user.to_numpy(), seed=0)
    row = table.query("model == 'ease' and metric == 'ndcg'")
    assert (row.low.item(), row.high.item()) == (low, high)
    assert table[table.metric == "coverage"][["low", "high"]].isna().all().all()


def test_relevance_threshold_and_diversity(world):
    train, test = stratified_split(world, 0.25, seed=0)
    features = pd.DataFrame(np.eye(150)[:, :3], index=np.arange(1, 151))
    features.iloc[:, 0] = 1  # every item shares one feature, so no distance is undefined
    table = evaluate_topn({"pop": Popularity}, train, test, relevance_threshold=4,
                          item_features=features, metrics=["recall"])  # fmt: skip
    assert set(table.metric) == {"recall", "coverage", "novelty", "personalization",
                                 "diversity"}  # fmt: skip
    with pytest.raises(ValueError, match="no test rating is relevant"):
        evaluate_topn({"pop": Popularity}, train, test, relevance_threshold=6)


class ItemIdScorer(Recommender):
    """A stub ranker whose score is the item id: ranks are then easy to compute by hand."""

    predicts_ratings = False

    def fit(self, ratings):
        self._fit_matrix(ratings)
        return self

    def _predict_index(self, u, i):
        return np.where(i >= 0, self.items_.ids[np.maximum(i, 0)], 0).astype(float)


def test_sampled_ranks_by_hand():
    train = pd.DataFrame({"user_id": [1] * 3 + [2] * 10, "item_id": [1, 2, 3] + list(range(1, 11)),
                          "rating": 1.0})  # fmt: skip
    test = pd.DataFrame({"user_id": [1], "item_id": [5], "rating": [1.0]})
    model = ItemIdScorer().fit(train)
    # User 1 touched 1, 2, 3 (train) and 5 (test): the negatives are drawn from 4, 6, ..., 10.
    # With all 6 of them sampled, 5 negatives (6..10) score above item 5: rank 6.
    ranks = sampled_ranks(model, train, test, n_negatives=6, seed=0)
    assert ranks["rank"].tolist() == [6.0]
    with pytest.raises(ValueError, match="fewer than 7 untouched"):
        sampled_ranks(model, train, test, n_negatives=7)


def test_fewer_sampled_negatives_flatter_the_same_model():
    world = make_ratings(n_users=200, n_items=600, n_ratings=6_000, selection_bias=3.0,
                         popularity_exponent=0.5, seed=8).ratings  # fmt: skip
    train, test = stratified_split(world, 0.25, seed=0)
    ease = {"ease": lambda: EASE(regularization=50.0)}
    easy = evaluate_sampled(ease, train, test, n_negatives=20).set_index("metric").value
    hard = evaluate_sampled(ease, train, test, n_negatives=200).set_index("metric").value
    assert set(easy.index) == {"hit_rate", "ndcg"}
    assert easy["hit_rate"] > hard["hit_rate"] and easy["ndcg"] > hard["ndcg"]
    again = evaluate_sampled(ease, train, test, n_negatives=20).set_index("metric").value
    pd.testing.assert_series_equal(easy, again)
    with pytest.raises(ValueError, match="n_negatives must be a positive integer"):
        evaluate_sampled(ease, train, test, n_negatives=0)


def test_bootstrap_interval():
    values = np.random.default_rng(0).normal(1.0, 1.0, 400)
    low, high = bootstrap_interval(values, seed=1)
    assert low < values.mean() < high
    wide = bootstrap_interval(values[:40], seed=1)
    assert wide[1] - wide[0] > high - low
    with pytest.raises(ValueError, match="level"):
        bootstrap_interval(values, level=1.5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="non-empty dict"):
        evaluate_ratings({}, [])
    data = make_ratings(n_ratings=300).ratings
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_topn({"pop": Popularity}, data, data, metrics=["auc"])
    with pytest.raises(ValueError, match="cannot make a model"):
        evaluate_topn({"pop": 42}, data, data)


class Recorder(Popularity):
    """Popularity that remembers what it was fitted on."""

    def fit(self, ratings, validation=None):
        self.fitted_on = (len(ratings), None if validation is None else len(validation))
        return super().fit(ratings if validation is None else pd.concat([ratings, validation]))


class ContextRecorder(Recorder):
    uses_validation_as_context = True


def test_evaluate_next_item_fits_each_kind_of_model_on_everything_before_the_test_item():
    world = make_ratings(n_users=60, n_items=40, n_ratings=900, seed=3)
    split = leave_last_out(world.ratings)
    train, validation, test = split
    kept = {}
    table = evaluate_next_item({"plain": Recorder, "context": ContextRecorder}, split, k=5,
                               keep_models=kept)  # fmt: skip
    assert kept["plain"].fitted_on == (len(train) + len(validation), None)
    assert kept["context"].fitted_on == (len(train), len(validation))
    # Both saw the same interactions, so both give the same lists and numbers.
    values = table.pivot(index="model", columns="metric", values="value")
    np.testing.assert_allclose(values.loc["plain"], values.loc["context"])
    # HR@5 by hand: is each user's test item among their 5 most popular unseen items?
    recs = kept["plain"].recommend(test.user_id.unique(), k=5)
    hits = recs.merge(test, on=["user_id", "item_id"])
    assert values.loc["plain", "hit_rate"] == pytest.approx(len(hits) / test.user_id.nunique())
    row = table[(table.model == "plain") & (table.metric == "hit_rate")].iloc[0]
    assert row.low <= row.value <= row.high
    assert set(table.columns) == {"model", "metric", "value", "low", "high", "fit_seconds",
                                  "predict_seconds"}  # fmt: skip


def test_results_board_by_hand():
    runs = pd.DataFrame({
        "model": ["b", "b", "a", "a", "b"],
        "metric": ["ndcg", "hit_rate", "ndcg", "hit_rate", "coverage"],
        "value": [0.2, 0.5, 0.1, 0.3, 0.9],
        "low": [0.15, 0.4, 0.05, 0.2, np.nan],
        "high": [0.25, 0.6, 0.1504, 0.4, np.nan],
    })  # fmt: skip
    board = results_board(runs, {"hit_rate": "HR@10", "ndcg": "NDCG@10"}, intervals=["hit_rate"])
    assert board.index.tolist() == ["b", "a"]  # order of first appearance
    assert board.columns.tolist() == ["HR@10", "HR@10 95% interval", "NDCG@10"]
    assert board.loc["a", "HR@10"] == 0.3 and board.loc["b", "NDCG@10"] == 0.2
    assert board.loc["b", "HR@10 95% interval"] == "0.400–0.600"
    both = results_board(runs, {"ndcg": "NDCG"}, intervals=["ndcg"])
    assert both.loc["a", "NDCG 95% interval"] == "0.050–0.150"
    with pytest.raises(ValueError, match="not among the columns"):
        results_board(runs, {"ndcg": "NDCG"}, intervals=["hit_rate"])
    with pytest.raises(ValueError, match="no rows for the metric"):
        results_board(runs, {"mrr": "MRR"})
    with pytest.raises(ValueError, match="aggregate them first"):
        results_board(pd.concat([runs, runs]), {"ndcg": "NDCG"})
    with pytest.raises(ValueError, match="lacks the column"):
        results_board(runs.drop(columns="value"), {"ndcg": "NDCG"})


class _FixedScores:
    """A stand-in model whose scores are a fixed table (user, item) -> score."""

    def __init__(self, table):
        self.table = table
        self.items_ = type("Items", (), {"ids": np.array(sorted({i for _, i in table}))})()

    def score(self, pairs):
        return np.array([self.table[(u, i)] for u, i in zip(pairs.user_id, pairs.item_id,
                                                              strict=True)], dtype=float)


def test_item_ranks_full_ranking_by_hand():
    # User 1 touched item 1 in training; held out 2 and 4. Negatives: 3 and 5 (never touched).
    # Scores 1:9, 2:5, 3:7, 4:3, 5:5. Item 2: 1 + one higher (3) + half a tie (5) = 2.5.
    # Item 4: 1 + two higher (3, 5) = 3. Item 1 (touched, score 9) is no negative.
    scores = {(1, 1): 9, (1, 2): 5, (1, 3): 7, (1, 4): 3, (1, 5): 5}
    train = pd.DataFrame({"user_id": [1], "item_id": [1], "rating": [4.0]})
    test = pd.DataFrame({"user_id": [1, 1], "item_id": [2, 4], "rating": [5.0, 3.0]})
    ranks = item_ranks(_FixedScores(scores), train, test)
    assert ranks["rank"].tolist() == [2.5, 3.0]
    # k = 2: neither is in the top 2. k = 3: both are; NDCG = mean(1/log2(3.5), 1/log2(4)).
    assert per_item_metrics(ranks, k=2).loc[1].tolist() == [0.0, 0.0]
    by_hand = (1 / np.log2(3.5) + 1 / np.log2(4)) / 2
    np.testing.assert_allclose(per_item_metrics(ranks, k=3).loc[1], [1.0, by_hand])


def test_item_ranks_refuses_nan_scores_instead_of_ranking_them_first():
    train = pd.DataFrame({"user_id": [1], "item_id": [1], "rating": [4.0]})
    test = pd.DataFrame({"user_id": [1], "item_id": [2], "rating": [5.0]})
    nan_positive = {(1, 1): 9, (1, 2): np.nan, (1, 3): 7}
    with pytest.raises(ValueError, match="held-out pair.*NaN"):
        item_ranks(_FixedScores(nan_positive), train, test)
    nan_negative = {(1, 1): 9, (1, 2): 5, (1, 3): np.nan}
    with pytest.raises(ValueError, match="NaN cannot be ranked"):
        item_ranks(_FixedScores(nan_negative), train, test)
    with pytest.raises(ValueError, match="chunk_users"):
        item_ranks(_FixedScores({(1, 1): 9, (1, 2): 5}), train, test, chunk_users=0)


def test_full_ranks_equal_sampled_ranks_with_every_untouched_item_sampled(world):
    train, test = stratified_split(world, 0.25, seed=0)
    model = EASE(regularization=50.0).fit(train)
    some = test[test.user_id.isin(test.user_id.unique()[:20])]
    full = item_ranks(model, train, some, chunk_users=7)
    catalogue = set(model.items_.ids)
    touched = pd.concat([train, test]).groupby("user_id").item_id.agg(
        lambda items: len(catalogue & set(items)))
    n_all = len(catalogue) - touched[some.user_id.unique()].max()
    # A user with exactly n_all untouched catalogue items gets all of them as "sampled" negatives.
    user = touched[some.user_id.unique()].idxmax()
    mine = some[some.user_id == user]
    sampled = item_ranks(model, train, mine, n_negatives=n_all, seed=3)
    np.testing.assert_allclose(sampled["rank"], full[full.user_id == user]["rank"])
    # More competitors can only push a held-out item down.
    fewer = item_ranks(model, train, some, n_negatives=10, seed=0)
    assert (fewer["rank"].to_numpy() <= full["rank"].to_numpy()).all()


def test_per_item_metrics_match_evaluate_sampled(world):
    train, test = stratified_split(world, 0.25, seed=0)
    ease = {"ease": lambda: EASE(regularization=50.0)}
    table = evaluate_sampled(ease, train, test, n_negatives=20,
                             seed=4)  # fmt: skip
    model = EASE(regularization=50.0).fit(train)
    mine = per_item_metrics(item_ranks(model, train, test, n_negatives=20, seed=4), k=10)
    values = table.set_index("metric").value
    assert values["hit_rate"] == pytest.approx(mine.hit_rate.mean())
    assert values["ndcg"] == pytest.approx(mine.ndcg.mean())


def test_paired_difference_by_hand_and_alignment():
    a = pd.Series([0.5, 0.2, 0.9], index=["u", "v", "w"])
    b = pd.Series([0.1, 0.4, 0.4], index=["w", "u", "v"])  # other order: aligned by user
    mean, low, high = paired_difference(a, b)
    # Differences: u 0.1, v -0.2, w 0.8; mean 0.7/3.
    assert mean == pytest.approx(0.7 / 3)
    assert -0.2 - 1e-12 <= low <= mean <= high <= 0.8 + 1e-12
    const = paired_difference(pd.Series([1.0, 2.0]), pd.Series([0.5, 1.5]))
    assert const == pytest.approx((0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match="same users"):
        paired_difference(a, b.iloc[:2])


def test_bootstrap_interval_agrees_with_scipy():
    # The readable version against scipy.stats.bootstrap's percentile interval: different random
    # draws, so they agree to within the Monte-Carlo error of 20,000 resamples, not exactly.
    from scipy import stats

    values = np.random.default_rng(3).binomial(1, 0.3, size=400).astype(float)
    ours = bootstrap_interval(values, n_resamples=20_000, seed=0)
    theirs = stats.bootstrap((values,), np.mean, n_resamples=20_000, method="percentile",
                             confidence_level=0.95, rng=np.random.default_rng(1))  # fmt: skip
    standard_error = values.std() / np.sqrt(len(values))
    np.testing.assert_allclose(ours, [theirs.confidence_interval.low,
                                      theirs.confidence_interval.high],
                               atol=0.1 * standard_error)  # fmt: skip


def test_select_on_validation_by_hand():
    """Two folds of a tiny table: the mean validation score of each setting, computed by hand."""
    train = pd.DataFrame({"user_id": [1, 1, 2, 2, 3], "item_id": [10, 20, 10, 30, 20],
                          "rating": [5.0, 3.0, 4.0, 2.0, 1.0], "timestamp": 0})  # fmt: skip
    validation = pd.DataFrame({"user_id": [1, 3], "item_id": [30, 10], "rating": [4.0, 2.0],
                               "timestamp": 1})  # fmt: skip
    # GlobalMean predicts 3.0 for both: errors 1 and 1 -> RMSE 1. BiasedBaseline, unregularised,
    # one round (items first): b_10 = 1.5, b_20 = -1, b_30 = -1; then b_1 = 0.75, b_3 = -1, so
    # it predicts 3 + 0.75 - 1 = 2.75 for (1, 30) and 3 - 1 + 1.5 = 3.5 for (3, 10): errors
    # 1.25 and 1.5, RMSE sqrt((1.5625 + 2.25) / 2).
    expected = np.sqrt((1.25**2 + 1.5**2) / 2)
    best, scores = select_on_validation(
        {"mean": GlobalMean, "baseline": lambda: BiasedBaseline(regularization_user=0,
                                                                regularization_item=0, n_epochs=1)},
        [(train, validation), (train, validation)], metric="rmse")  # fmt: skip
    assert list(scores.index) == ["mean", "baseline"]
    assert scores["mean"] == pytest.approx(1.0) and scores["baseline"] == pytest.approx(expected)
    assert best == "mean"
    # The key is returned as given, even where a Series index would change it (None -> NaN).
    best, _ = select_on_validation({None: GlobalMean, 3: lambda: BiasedBaseline(n_epochs=3)},
                                   [(train, validation)], metric="rmse")  # fmt: skip
    assert best is None
    # Ranking: popularity ranks 10 and 20 (two raters each) before 30; user 1 has seen 10 and 20,
    # so 30 is first: NDCG@1 = 1; user 3 has seen 20: 10 is first: NDCG@1 = 1.
    best, scores = select_on_validation({"pop": Popularity, "pop again": Popularity},
                                        [(train, validation)], metric="ndcg", k=1)  # fmt: skip
    assert scores.tolist() == [1.0, 1.0] and best == "pop"  # a tie goes to the earlier setting


def test_select_on_validation_refuses_bad_arguments(world):
    split = [random_split(world, 0.2, seed=0)]
    with pytest.raises(ValueError, match="unknown metric 'auc'"):
        select_on_validation({"pop": Popularity}, split, metric="auc")
    with pytest.raises(ValueError, match="splits is empty"):
        select_on_validation({"pop": Popularity}, [])
    with pytest.raises(ValueError, match="k must be a positive integer"):
        select_on_validation({"pop": Popularity}, split, k=0)
    with pytest.raises(ValueError, match="non-empty dict"):
        select_on_validation({}, split)
