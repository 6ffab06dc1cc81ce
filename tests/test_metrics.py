"""Metrics: hand-computed values, independent implementations, sklearn, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from recsys_helpers.metrics import (
    catalog_coverage,
    hit_rate,
    intra_list_diversity,
    mae,
    map_at_k,
    mrr,
    ndcg_at_k,
    novelty,
    personalization,
    precision_at_k,
    recall_at_k,
    rmse,
)


def test_rmse_and_mae_by_hand():
    # errors: 1, -2, 0, 1 -> squared 1, 4, 0, 1 (mean 1.5); absolute mean 1
    y, p = [4, 3, 5, 2], [3, 5, 5, 1]
    assert rmse(y, p) == pytest.approx(np.sqrt(1.5))
    assert mae(y, p) == pytest.approx(1.0)
    assert rmse(y, y) == 0.0


def test_rmse_weighs_large_errors_more_than_mae():
    small, large = [1, 1, 1, 1], [0, 0, 0, 4]  # the same total absolute error
    assert mae([0] * 4, small) == mae([0] * 4, large)
    assert rmse([0] * 4, large) > rmse([0] * 4, small)


@pytest.mark.parametrize("metric", [rmse, mae])
@pytest.mark.parametrize(
    "y, p, message",
    [([1, 2], [1], "same length"), ([], [], "empty"), ([1, np.nan], [1, 2], "y_true has 1 NaN"),
     ([1, 2], [1, np.inf], "y_pred has 1 NaN or infinite")],
)  # fmt: skip
def test_bad_input_raises(metric, y, p, message):
    with pytest.raises(ValueError, match=message):
        metric(y, p)


# --- ranking metrics ----------------------------------------------------------------------

LOG = np.log2


def lists(mapping):
    """{user: [items best first]} -> recommendations frame."""
    rows = [(u, i, r) for u, items in mapping.items() for r, i in enumerate(items, start=1)]
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rank"])


def pairs(mapping, ratings=None):
    rows = [(u, i) for u, items in mapping.items() for i in items]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    if ratings is not None:
        frame["rating"] = [ratings[(u, i)] for u, i in rows]
    return frame


# User A: hits at ranks 2 and 5 out of 3 relevant items; user B: a hit at rank 1 (its only
# relevant item) in a list of 2; user C: a relevant item but no list; user D: a list but nothing
# relevant (not counted).
RECS = lists({"A": [1, 2, 3, 4, 5], "B": [1, 3], "D": [7, 8]})
REL = pairs({"A": [2, 5, 9], "B": [1], "C": [4]})


def test_ranking_metrics_by_hand():
    assert precision_at_k(RECS, REL, k=5) == pytest.approx((2 / 5 + 1 / 5 + 0) / 3)
    assert recall_at_k(RECS, REL, k=5) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert hit_rate(RECS, REL, k=5) == pytest.approx(2 / 3)
    assert mrr(RECS, REL, k=5) == pytest.approx((1 / 2 + 1 + 0) / 3)
    ap_a = (1 / 2 + 2 / 5) / 3  # P@2 and P@5 at the hits, over min(k, |T|) = 3
    assert map_at_k(RECS, REL, k=5) == pytest.approx((ap_a + 1 + 0) / 3)
    ndcg_a = (1 / LOG(3) + 1 / LOG(6)) / (1 + 1 / LOG(3) + 1 / LOG(4))
    assert ndcg_at_k(RECS, REL, k=5) == pytest.approx((ndcg_a + 1 + 0) / 3)


def test_cutoff_k_drops_lower_ranks_and_per_user_values():
    per_user = recall_at_k(RECS, REL, k=2, per_user=True)
    assert per_user.to_dict() == pytest.approx({"A": 1 / 3, "B": 1.0, "C": 0.0})
    assert ndcg_at_k(RECS, REL, k=1) == pytest.approx((0 + 1 + 0) / 3)


def test_graded_ndcg_by_hand():
    ratings = {("A", 2): 5, ("A", 5): 3, ("A", 9): 4}
    rel = pairs({"A": [2, 5, 9]}, ratings)
    dcg = 5 / LOG(3) + 3 / LOG(6)
    idcg = 5 + 4 / LOG(3) + 3 / LOG(4)
    assert ndcg_at_k(RECS, rel, k=5, graded=True) == pytest.approx(dcg / idcg)


def reference_metrics(recs_by_user, rel_by_user, k):
    """Readable twins: plain Python over sets and lists."""
    out = {"precision": [], "recall": [], "hit": [], "mrr": [], "map": [], "ndcg": []}
    for user, relevant in rel_by_user.items():
        ranked = recs_by_user.get(user, [])[:k]
        hits = [item in relevant for item in ranked]
        out["precision"].append(sum(hits) / k)
        out["recall"].append(sum(hits) / len(relevant))
        out["hit"].append(float(any(hits)))
        out["mrr"].append(next((1 / (r + 1) for r, h in enumerate(hits) if h), 0.0))
        precisions = [sum(hits[: r + 1]) / (r + 1) for r in range(len(hits)) if hits[r]]
        out["map"].append(sum(precisions) / min(k, len(relevant)))
        dcg = sum(1 / np.log2(r + 2) for r, h in enumerate(hits) if h)
        idcg = sum(1 / np.log2(r + 2) for r in range(min(k, len(relevant))))
        out["ndcg"].append(dcg / idcg)
    return {name: float(np.mean(v)) for name, v in out.items()}


@pytest.mark.parametrize("seed", range(5))
def test_ranking_metrics_equal_an_independent_implementation(seed):
    rng = np.random.default_rng(seed)
    recs_by_user, rel_by_user = {}, {}
    for user in range(30):
        if rng.random() < 0.9:
            recs_by_user[user] = rng.choice(60, size=rng.integers(1, 15), replace=False).tolist()
        if rng.random() < 0.8:
            rel_by_user[user] = set(rng.choice(60, size=rng.integers(1, 20), replace=False).tolist())
    recs, rel = lists(recs_by_user), pairs({u: sorted(v) for u, v in rel_by_user.items()})
    expected = reference_metrics(recs_by_user, rel_by_user, k=10)
    got = {"precision": precision_at_k(recs, rel), "recall": recall_at_k(recs, rel),
           "hit": hit_rate(recs, rel), "mrr": mrr(recs, rel), "map": map_at_k(recs, rel),
           "ndcg": ndcg_at_k(recs, rel)}  # fmt: skip
    for name in expected:
        assert got[name] == pytest.approx(expected[name], abs=1e-9), name


@pytest.mark.parametrize("graded", [False, True])
def test_ndcg_equals_sklearn(graded):
    rng = np.random.default_rng(42)
    n_items, k = 40, 10
    y_true, y_score, recs, rel = [], [], {}, []
    for user in range(25):
        ranked = rng.permutation(n_items)[:15]  # a list longer than k
        relevance = np.where(rng.random(n_items) < 0.2, rng.integers(1, 6, n_items), 0)
        relevance[ranked[0]] = max(relevance[ranked[0]], 1)  # at least one relevant item
        scores = np.zeros(n_items)
        scores[ranked] = np.arange(len(ranked), 0, -1)
        y_true.append(relevance if graded else (relevance > 0).astype(int))
        y_score.append(scores)
        recs[user] = ranked.tolist()
        rel += [(user, i, relevance[i]) for i in np.flatnonzero(relevance)]
    relevant = pd.DataFrame(rel, columns=["user_id", "item_id", "rating"])
    ours = ndcg_at_k(lists(recs), relevant, k=k, graded=graded)
    assert ours == pytest.approx(ndcg_score(np.array(y_true), np.array(y_score), k=k), abs=1e-9)


@pytest.mark.parametrize(
    "recs, rel, kwargs, message",
    [(RECS.drop(columns="rank"), REL, {}, r"lacks the column\(s\) \['rank'\]"),
     (RECS, REL.rename(columns={"item_id": "item"}), {}, "relevant lacks"),
     (RECS, REL, {"k": 0}, "k must be a positive integer"),
     (pd.concat([RECS, RECS.iloc[[0]].assign(item_id=99)]), REL, {}, "same rank"),
     (pd.concat([RECS, RECS.iloc[[0]].assign(rank=9)]), REL, {}, "same item twice"),
     (RECS.assign(rank=RECS["rank"] * 1.0), REL, {}, "rank must hold integers"),
     (RECS, REL, {"graded": True}, r"relevant lacks the column\(s\) \['rating'\]"),
     (RECS, REL.iloc[:0], {}, "relevant is empty")],
)  # fmt: skip
def test_ranking_metric_errors(recs, rel, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ndcg_at_k(recs, rel, **kwargs)


# --- beyond accuracy ----------------------------------------------------------------------


def test_catalog_coverage_by_hand():
    recs = lists({"A": [1, 2], "B": [2, 3]})
    assert catalog_coverage(recs, catalog=[1, 2, 3, 4, 5]) == pytest.approx(3 / 5)
    assert catalog_coverage(recs, catalog=[1, 2, 3, 4, 5], k=1) == pytest.approx(2 / 5)
    with pytest.raises(ValueError, match="not in the catalog"):
        catalog_coverage(recs, catalog=[1, 2])


def test_novelty_by_hand():
    # 4 users; item 1 seen by all (p = 1: 0 bits), item 2 by one (p = 1/4: 2 bits)
    train = pd.DataFrame({"user_id": [1, 2, 3, 4, 1], "item_id": [1, 1, 1, 1, 2]})
    recs = lists({"A": [1, 2], "B": [2]})
    assert novelty(recs, train) == pytest.approx((1.0 + 2.0) / 2)
    with pytest.raises(ValueError, match="never seen in train"):
        novelty(lists({"A": [3]}), train)
    with pytest.raises(ValueError, match="recommendations is empty"):
        novelty(lists({"A": [3]}).iloc[:0], train)


def test_intra_list_diversity_by_hand():
    features = pd.DataFrame({"x": [1, 0, 1], "y": [0, 1, 1]}, index=[1, 2, 3])
    recs = lists({"A": [1, 2, 3], "B": [1, 3], "C": [2]})  # C has one item: skipped
    ild_a = (1 + 2 * (1 - 1 / np.sqrt(2))) / 3
    ild_b = 1 - 1 / np.sqrt(2)
    assert intra_list_diversity(recs, features) == pytest.approx((ild_a + ild_b) / 2)
    with pytest.raises(ValueError, match="no row for recommended"):
        intra_list_diversity(lists({"A": [1, 9]}), features)


def test_personalization_by_hand():
    recs = lists({"A": [1, 2], "B": [1, 2], "C": [3, 4]})
    assert personalization(recs) == pytest.approx(1 - (1 + 0 + 0) / 3)
    assert personalization(lists({"A": [1, 2], "B": [1, 2]})) == pytest.approx(0.0)
    with pytest.raises(ValueError, match="at least two users"):
        personalization(lists({"A": [1]}))
