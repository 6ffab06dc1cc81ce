r"""One evaluation code path for every model in the book (chapter 09, "One protocol, one table").

* :func:`evaluate_ratings` fits each model on each fold's training part and scores its rating
  predictions on the test part (RMSE, MAE).
* :func:`evaluate_next_item` is the sequential protocol of chapters 07–09: per-user
  leave-last-out by time, each user's last item ranked against every item they have not
  interacted with, HR@k and NDCG@k with bootstrap intervals.
* :func:`evaluate_topn` fits each model once and scores its top-k lists: every item the user
  has not interacted with in training is a candidate (**full ranking**).
* :func:`evaluate_sampled` is the sampled protocol: each held-out item is ranked against only
  ``n`` random items the user never interacted with — a common shortcut that inflates the
  numbers and can change which model looks best (Krichene & Rendle, 2020); it is here to
  demonstrate that.

:func:`select_on_validation` chooses a model's settings on validation splits, never on test data.

The four protocols return one tidy DataFrame: ``model, metric, value, fit_seconds, predict_seconds``
(plus ``fold`` for ratings, and a 95% bootstrap interval ``low, high`` for ranking metrics), so
results of different models and protocols can be concatenated and
compared. Models are given as a dict of *factories* — a class or a zero-argument function that
returns a fresh, unfitted model — so that every fold starts from scratch.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Hashable, Mapping, Sequence

import numpy as np
import pandas as pd

from . import metrics as m
from .base import Recommender, check_positive_int, clone
from .interactions import validate_ratings
from .progress import task

__all__ = ["bootstrap_interval", "evaluate_next_item", "evaluate_ratings", "evaluate_sampled",
           "evaluate_topn", "select_on_validation",
           "item_ranks", "paired_difference", "per_item_metrics", "results_board",
           "sampled_ranks"]  # fmt: skip

RANKING_METRICS: dict[str, Callable] = {
    "precision": m.precision_at_k,
    "recall": m.recall_at_k,
    "ndcg": m.ndcg_at_k,
    "map": m.map_at_k,
    "mrr": m.mrr,
    "hit_rate": m.hit_rate,
}


def _fresh(factory):
    """A new, unfitted model from a class, a function, or an instance (its :func:`clone`)."""
    if isinstance(factory, Recommender):
        return clone(factory)
    if hasattr(factory, "fit") and not isinstance(factory, type):
        return copy.deepcopy(factory)  # a model of another library's making
    if callable(factory):
        return factory()
    raise ValueError(f"cannot make a model from {factory!r}: pass a class or a function")


def _check_models(models) -> None:
    if not isinstance(models, Mapping) or not models:
        raise ValueError("models must be a non-empty dict {name: model class or factory}")


def evaluate_ratings(models: Mapping[str, Callable], folds: Sequence) -> pd.DataFrame:
    """RMSE and MAE of each model on each ``(train, test)`` fold.

    Returns a DataFrame with columns ``model, fold, metric, value, fit_seconds,
    predict_seconds`` (one row per model, fold and metric; ``fold`` counts from 1).
    """
    _check_models(models)
    if not folds:
        raise ValueError("folds is empty")
    rows = []
    with task("rating protocol") as shown:
        for position, (name, factory) in enumerate(models.items(), start=1):
            for number, (train, test) in enumerate(folds, start=1):
                shown.update(f"{name} ({position} of {len(models)}), fold {number} of {len(folds)}")
                rows += _rating_rows(name, factory, number, train, test)
    return pd.DataFrame(rows)


def _rating_rows(name, factory, number, train, test) -> list[dict]:
    """One model's RMSE and MAE rows on one fold (:func:`evaluate_ratings`)."""
    validate_ratings(test)
    model = _fresh(factory)
    start = time.perf_counter()
    model.fit(train)
    fitted = time.perf_counter()
    prediction = model.predict(test)
    predicted = time.perf_counter()
    return [{"model": name, "fold": number, "metric": metric,
             "value": function(test["rating"], prediction), "fit_seconds": fitted - start,
             "predict_seconds": predicted - fitted}
            for metric, function in (("rmse", m.rmse), ("mae", m.mae))]  # fmt: skip


def _rank_among(positive_scores, negative_scores):
    """1 + the number of negatives (each row) scored above its positive; ties count half.
    Negatives marked NaN (not competitors) never count."""
    p = np.asarray(positive_scores, dtype=float)[:, None]
    return 1 + (negative_scores > p).sum(axis=1) + 0.5 * (negative_scores == p).sum(axis=1)


def sampled_ranks(model, train: pd.DataFrame, test: pd.DataFrame, n_negatives: int = 100,
                  seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Rank of each held-out item among ``n_negatives`` random items its user never touched.

    For every test row, ``n_negatives`` items are drawn uniformly (without replacement) from
    the training catalogue minus everything the user interacted with in ``train`` or ``test``.
    The rank is 1 + the number of negatives scored higher (ties count half). Returns the test
    pairs with a ``rank`` column.
    """
    rng = np.random.default_rng(seed)
    catalogue = model.items_.ids
    touched = pd.concat([train[["user_id", "item_id"]], test[["user_id", "item_id"]]])
    touched_by = touched.groupby("user_id")["item_id"].unique()
    positives = test[["user_id", "item_id"]].reset_index(drop=True)
    negatives = np.empty((len(positives), n_negatives), dtype=catalogue.dtype)
    for user, rows in positives.groupby("user_id").indices.items():  # one draw per user
        allowed = np.setdiff1d(catalogue, touched_by[user])
        if len(allowed) < n_negatives:
            raise ValueError(f"user {user!r} has fewer than {n_negatives} untouched items")
        # n_negatives distinct items per test pair: the first columns of random permutations.
        keys = rng.random((len(rows), len(allowed)))
        negatives[rows] = allowed[np.argpartition(keys, n_negatives - 1, axis=1)[:, :n_negatives]]
    users = np.repeat(positives["user_id"].to_numpy(), n_negatives)
    neg_scores = model.score(pd.DataFrame({"user_id": users, "item_id": negatives.ravel()}))
    neg_scores = neg_scores.reshape(len(positives), n_negatives)
    return positives.assign(rank=_rank_among(model.score(positives), neg_scores))


def item_ranks(model, train: pd.DataFrame, test: pd.DataFrame, n_negatives: int | None = None,
               seed: int = 0, chunk_users: int = 256) -> pd.DataFrame:  # fmt: skip
    """Rank of each held-out item among the items its user never touched — all of them, or a
    random sample.

    The negatives of a test pair are the items of the training catalogue that its user did not
    interact with in ``train`` or ``test``. With ``n_negatives=None`` (**full ranking**) every
    one of them is a negative; with ``n_negatives=n`` only ``n`` drawn at random, exactly as
    :func:`sampled_ranks` (which this then calls). Either way the rank is 1 + the number of
    negatives scored higher (ties count half), so both protocols measure the same thing — where
    each held-out item lands against items the user never chose — and differ only in how many
    competitors it meets. Returns the test pairs with a ``rank`` column.
    """
    if n_negatives is not None:
        return sampled_ranks(model, train, test, n_negatives, seed)
    catalogue = model.items_.ids
    touched = pd.concat([train[["user_id", "item_id"]], test[["user_id", "item_id"]]])
    positives = test[["user_id", "item_id"]].reset_index(drop=True)
    pos_scores = model.score(positives)
    if np.isnan(pos_scores).any():
        raise ValueError(f"the model scored {int(np.isnan(pos_scores).sum())} held-out pair(s) "
                         "as NaN; a NaN cannot be ranked")
    check_positive_int("chunk_users", chunk_users)
    rank = np.empty(len(positives))
    users = pd.unique(positives["user_id"])
    column = pd.Index(catalogue)
    for start in range(0, len(users), chunk_users):
        chunk = users[start:start + chunk_users]
        grid = model.score(pd.DataFrame({"user_id": np.repeat(chunk, len(catalogue)),
                                         "item_id": np.tile(catalogue, len(chunk))}))
        grid = grid.reshape(len(chunk), len(catalogue)).astype(float)
        if np.isnan(grid).any():
            raise ValueError("the model scored some (user, item) pairs as NaN; a NaN cannot be "
                             "ranked")
        row_of = pd.Index(chunk)
        mine = touched[touched["user_id"].isin(chunk)]
        col = column.get_indexer(mine["item_id"])
        keep = col >= 0
        grid[row_of.get_indexer(mine["user_id"])[keep], col[keep]] = np.nan  # not a negative
        rows = np.flatnonzero(positives["user_id"].isin(chunk).to_numpy())
        scores = grid[row_of.get_indexer(positives["user_id"].to_numpy()[rows])]
        rank[rows] = _rank_among(pos_scores[rows], scores)
    return positives.assign(rank=rank)


def per_item_metrics(ranks: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    r"""Per-user HR@k and NDCG@k of held-out items ranked one at a time (:func:`item_ranks`).

    For each held-out item with rank :math:`r`: hit :math:`= [r \le k]` and, since the item is
    the only relevant one in its ranking (ideal DCG 1), NDCG@k :math:`= [r \le k]/\log_2(r+1)`.
    Each user's value is the mean over their held-out items. Returns a DataFrame indexed by
    ``user_id`` with columns ``hit_rate, ndcg``; the same numbers under full or sampled ranking
    differ only by the protocol.
    """
    check_positive_int("k", k)
    rank = ranks["rank"].to_numpy(dtype=float)
    hit = rank <= k
    gain = np.where(hit, 1.0 / np.log2(rank + 1), 0.0)
    frame = pd.DataFrame({"user_id": ranks["user_id"].to_numpy(), "hit_rate": hit.astype(float),
                          "ndcg": gain})  # fmt: skip
    return frame.groupby("user_id")[["hit_rate", "ndcg"]].mean()


def paired_difference(a: pd.Series, b: pd.Series, n_resamples: int = 1000, level: float = 0.95,
                      seed: int = 0) -> tuple[float, float, float]:  # fmt: skip
    """Mean of ``a - b`` over users and its percentile bootstrap interval, resampling *users*
    (the same users for both models, so what every user shares cancels out).

    ``a`` and ``b`` are per-user values indexed by user (e.g. a column of
    :func:`per_item_metrics`, or a metric with ``per_user=True``); they must cover the same
    users. Returns ``(mean difference, low, high)``: an interval that excludes 0 says ``a`` and
    ``b`` differ beyond what other users would change.
    """
    a, b = pd.Series(a), pd.Series(b)
    if a.index.has_duplicates or b.index.has_duplicates or set(a.index) != set(b.index):
        raise ValueError("a and b must be per-user values for the same users")
    difference = (a - b.reindex(a.index)).to_numpy(dtype=float)
    low, high = bootstrap_interval(difference, n_resamples, level, seed)
    return float(difference.mean()), low, high


def evaluate_topn(
    models: Mapping[str, Callable],
    train: pd.DataFrame,
    test: pd.DataFrame,
    k: int = 10,
    metrics: Sequence[str] = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate"),
    relevance_threshold: float | None = None,
    beyond_accuracy: bool = True,
    item_features: pd.DataFrame | None = None,
    seed: int = 0,
    keep_lists: dict | None = None,
) -> pd.DataFrame:
    """Fit each model on ``train`` and score its top-``k`` lists against ``test``.

    Parameters
    ----------
    models : dict {name: model class or factory}
    train, test : ratings tables
    k : int
        List length.
    metrics : names from ``precision, recall, ndcg, map, mrr, hit_rate``
    relevance_threshold : float, optional
        Only test ratings ``>=`` this count as relevant; by default every test item does.
    beyond_accuracy : bool
        Also report ``coverage`` (of the training catalogue), ``novelty`` and
        ``personalization``, and ``diversity`` when ``item_features`` are given.
    keep_lists : dict, optional
        If given, each model's top-``k`` recommendations are stored in it under the model's
        name, for analyses that need the lists themselves without refitting.
    seed : int
        Seeds the bootstrap.

    Returns
    -------
    DataFrame with columns ``model, metric, value, low, high, fit_seconds, predict_seconds``.
    Ranking metrics are means over test users with at least one relevant item (see
    :mod:`recsys_helpers.metrics`), with a 95% bootstrap interval over those users
    (:func:`bootstrap_interval`) in ``low, high``; beyond-accuracy metrics describe all the
    lists together and have no interval (NaN).
    """
    unknown = [name for name in metrics if name not in RANKING_METRICS]
    if unknown:
        raise ValueError(f"unknown metric(s) {unknown}; choose from {list(RANKING_METRICS)}")
    relevant = _relevant(models, train, test, relevance_threshold)
    users = np.unique(relevant["user_id"].to_numpy())

    def predict(name, model):
        recs = model.recommend(users, k=k)
        if keep_lists is not None:
            keep_lists[name] = recs
        return recs

    def scores(model, recs):
        values = {metric: RANKING_METRICS[metric](recs, relevant, k=k, per_user=True)
                  for metric in metrics}  # fmt: skip
        if beyond_accuracy:
            values["coverage"] = m.catalog_coverage(recs, model.items_.ids, k=k)
            values["novelty"] = m.novelty(recs, train, k=k)
            values["personalization"] = m.personalization(recs, k=k)
            if item_features is not None:
                values["diversity"] = m.intra_list_diversity(recs, item_features, k=k)
        return values

    return _protocol("top-N protocol", models, lambda model: model.fit(train), predict, scores,
                     seed)  # fmt: skip


def evaluate_sampled(models: Mapping[str, Callable], train: pd.DataFrame, test: pd.DataFrame,
                     n_negatives: int, k: int = 10, relevance_threshold: float | None = None,
                     seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """The **sampled** protocol, for demonstration: fit each model on ``train`` and rank each
    relevant test item among only ``n_negatives`` random items its user never interacted with
    (:func:`sampled_ranks`), instead of the whole catalogue.

    Reports ``hit_rate`` and ``ndcg`` at ``k`` (:func:`per_item_metrics`), means over the users
    with a relevant test item the model knows, with 95% bootstrap intervals; ``seed`` seeds the
    negatives and the bootstrap. The table has the columns of :func:`evaluate_topn`. Sampled
    numbers are higher than full-ranking ones and can order models differently (Krichene &
    Rendle, 2020): use :func:`evaluate_topn` to compare models.
    """
    check_positive_int("n_negatives", n_negatives)
    relevant = _relevant(models, train, test, relevance_threshold)

    def predict(name, model):
        known = relevant[np.isin(relevant["item_id"], model.items_.ids)]
        return sampled_ranks(model, train, known, n_negatives, seed)

    def scores(model, ranks):
        per_user = per_item_metrics(ranks, k)
        return {"hit_rate": per_user["hit_rate"], "ndcg": per_user["ndcg"]}

    return _protocol("sampled protocol", models, lambda model: model.fit(train), predict, scores,
                     seed)  # fmt: skip


def _relevant(models, train, test, relevance_threshold) -> pd.DataFrame:
    """Check the arguments shared by the top-N protocols; the relevant test ratings."""
    _check_models(models)
    validate_ratings(train)
    validate_ratings(test)
    relevant = test if relevance_threshold is None else test[test["rating"] >= relevance_threshold]
    if relevant.empty:
        raise ValueError("no test rating is relevant at this threshold")
    return relevant


def _protocol(label: str, models, fit, predict, scores, seed: int) -> pd.DataFrame:
    """The loop every ranking protocol shares, shown on the progress line: for each model, a
    fresh instance, ``fit(model)`` (timed: ``fit_seconds``), ``predict(name, model)`` (timed:
    ``predict_seconds``) and ``scores(model, predicted) -> {metric: per-user Series or one
    number}``. Per-user values become their mean and a bootstrap interval; a single number
    (beyond accuracy) has no interval."""
    rows = []
    with task(label) as shown:
        for position, (name, factory) in enumerate(models.items(), start=1):
            shown.update(f"{name} ({position} of {len(models)})")
            model = _fresh(factory)
            start = time.perf_counter()
            fit(model)
            fitted = time.perf_counter()
            prediction = predict(name, model)
            predicted = time.perf_counter()
            for metric, value in scores(model, prediction).items():
                low = high = np.nan
                if isinstance(value, pd.Series):
                    low, high = bootstrap_interval(value.to_numpy(), seed=seed)
                    value = value.mean()
                rows.append({"model": name, "metric": metric, "value": float(value),
                             "low": low, "high": high, "fit_seconds": fitted - start,
                             "predict_seconds": predicted - fitted})  # fmt: skip
    return pd.DataFrame(rows)


def select_on_validation(candidates: Mapping[Hashable, Callable], splits: Sequence,
                         metric: str = "ndcg", k: int = 10,
                         ) -> tuple[Hashable, pd.Series]:  # fmt: skip
    """Choose a setting on validation data: fit every candidate on the training part of each
    ``(train, validation)`` split, score it on the validation part, and average over the splits.

    Parameters
    ----------
    candidates : dict {key: model class or factory}
        The settings to choose among, e.g. ``{λ: lambda: EASE(regularization=λ)}``.
    splits : sequence of ``(train, validation)`` ratings tables
        Never the test data: the choice must not see it.
    metric : ``"rmse"``, ``"mae"`` or a ranking metric (``ndcg``, ``hit_rate``, ...)
        Rating metrics score ``predict`` on the validation ratings (lower is better); ranking
        metrics score ``recommend(k)`` for the validation users against their validation items,
        every unseen item a candidate (higher is better).

    Returns
    -------
    ``(best key, scores)``: the key of the best mean score (ties go to the earlier candidate)
    and every candidate's mean score, a Series in the candidates' order.
    """
    _check_models(candidates)
    if metric not in ("rmse", "mae", *RANKING_METRICS):
        raise ValueError(f"unknown metric {metric!r}; choose rmse, mae or one of "
                         f"{list(RANKING_METRICS)}")
    check_positive_int("k", k)
    if len(splits) == 0:
        raise ValueError("splits is empty: give at least one (train, validation) pair")
    scores = {key: [] for key in candidates}
    with task("choosing on validation") as shown:
        for number, (train, validation) in enumerate(splits, start=1):
            validate_ratings(validation)
            for position, (key, factory) in enumerate(candidates.items(), start=1):
                shown.update(f"split {number} of {len(splits)}, setting {position} of "
                             f"{len(candidates)}: {key}")
                model = _fresh(factory)
                model.fit(train)
                if metric in ("rmse", "mae"):
                    function = m.rmse if metric == "rmse" else m.mae
                    scores[key].append(function(validation["rating"], model.predict(validation)))
                else:
                    recs = model.recommend(validation["user_id"].unique(), k=k)
                    scores[key].append(RANKING_METRICS[metric](recs, validation, k=k))
    keys, means = list(scores), [np.mean(values) for values in scores.values()]
    # The key itself, from the dict (a Series index would turn None into NaN, ints into floats).
    best = keys[int(np.argmin(means) if metric in ("rmse", "mae") else np.argmax(means))]
    return best, pd.Series(dict(zip(keys, means, strict=True)))


def bootstrap_interval(values, n_resamples: int = 1000, level: float = 0.95,
                       seed: int = 0) -> tuple[float, float]:  # fmt: skip
    """Percentile bootstrap interval for the mean of per-user values (resampling users)."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0 or not np.isfinite(values).all():
        raise ValueError("values must be a non-empty array of finite numbers")
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1, got {level!r}")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (n_resamples, len(values)))].mean(axis=1)
    tail = (1 - level) / 2
    low, high = np.quantile(means, [tail, 1 - tail])
    return float(low), float(high)


def evaluate_next_item(models: Mapping[str, Callable], split, k: int = 10, seed: int = 0,
                       keep_models: dict | None = None) -> pd.DataFrame:  # fmt: skip
    """The sequential protocol (chapters 07–09): predict each user's last interaction.

    ``split`` is :func:`recsys_helpers.splits.leave_last_out`'s ``(train, validation, test)``.
    Models whose class sets ``uses_validation_as_context`` (the sequence models) are fitted as
    ``fit(train, validation=validation)``: they may use the validation items for early stopping
    and then as the latest items of each history. Every other model is fitted on ``train`` and
    ``validation`` together. Either way each model knows everything before the test item, and
    nothing after. Each test user's top-``k`` list ranks every item they have not interacted
    with (full ranking); HR@k and NDCG@k are averaged over test users, with a 95% bootstrap
    interval over users.

    Returns a DataFrame with columns ``model, metric, value, low, high, fit_seconds,
    predict_seconds``; ``keep_models``, if given, receives each fitted model by name.
    """
    _check_models(models)
    train, validation, test = split
    for part in (train, validation, test):
        validate_ratings(part)
    if test.empty:
        raise ValueError("the split has no test items (every user has fewer than 3 ratings?)")
    history = pd.concat([train, validation], ignore_index=True)
    users = np.unique(test["user_id"].to_numpy())

    def fit(model):
        if getattr(model, "uses_validation_as_context", False):
            model.fit(train, validation=validation)
        else:
            model.fit(history)

    def predict(name, model):
        if keep_models is not None:
            keep_models[name] = model
        return model.recommend(users, k=k)

    def scores(model, recs):
        return {"hit_rate": m.hit_rate(recs, test, k=k, per_user=True),
                "ndcg": m.ndcg_at_k(recs, test, k=k, per_user=True)}

    return _protocol("next-item protocol", models, fit, predict, scores, seed)


def results_board(runs: pd.DataFrame, columns: Mapping[str, str],
                  intervals: Sequence[str] = ()) -> pd.DataFrame:  # fmt: skip
    """A leaderboard from the rows of :func:`evaluate_topn` or :func:`evaluate_next_item`.

    Parameters
    ----------
    runs : DataFrame with ``model, metric, value`` (and ``low, high`` for ``intervals``)
    columns : dict {metric: column label}
        Which metrics to show, in this order, under which labels (e.g. ``{"ndcg": "NDCG@10"}``).
    intervals : metrics
        Each of these gets a text column "<label> 95% interval" (``low–high``, three decimals)
        right after its value.

    Returns
    -------
    DataFrame indexed by model, in the order the models first appear in ``runs``.
    """
    missing = [c for c in ("model", "metric", "value") if c not in runs.columns]
    if missing:
        raise ValueError(f"runs lacks the column(s) {missing}")
    unknown = [metric for metric in intervals if metric not in columns]
    if unknown:
        raise ValueError(f"intervals {unknown} are not among the columns {list(columns)}")
    absent = [metric for metric in columns if metric not in set(runs["metric"])]
    if absent:
        raise ValueError(f"runs has no rows for the metric(s) {absent}")
    if runs.duplicated(["model", "metric"]).any():
        raise ValueError("runs has several rows for one model and metric (several folds or "
                         "seeds?): aggregate them first")  # fmt: skip
    models = pd.unique(runs["model"])
    by = runs.set_index(["metric", "model"])
    board = pd.DataFrame(index=pd.Index(models, name="model"))
    for metric, label in columns.items():
        board[label] = by.loc[metric, "value"].reindex(models).to_numpy()
        if metric in intervals:
            rows = by.loc[metric].reindex(models)
            board[f"{label} 95% interval"] = [f"{lo:.3f}–{hi:.3f}" for lo, hi in
                                              zip(rows["low"], rows["high"], strict=True)]
    return board
