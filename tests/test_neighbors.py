"""UserKNN / ItemKNN: the formulas by hand, fast == readable twin, fallbacks, the contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import tiny_ratings

from recsys_helpers.baselines import BiasedBaseline
from recsys_helpers.neighbors import ItemKNN, RecentItemKNN, UserKNN
from recsys_helpers.synthetic import make_ratings


def pairs(*rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


@pytest.fixture(scope="module")
def world():
    ratings = make_ratings(n_users=60, n_items=80, n_ratings=1500, seed=7).ratings
    test = ratings.sample(200, random_state=1)
    return ratings.drop(test.index), test


# --- by hand -----------------------------------------------------------------------------


def test_user_based_prediction_with_mean_centring_by_hand():
    # Tiny table (conftest): user 1 rated items 1,2,3 with 5,3,4 (mean 4). Who rated item 4?
    # Users 2 (rating 2, mean 7/3) and 3 (rating 4, mean 4). Pearson with user 1 on co-rated
    # items: user 2 shares items 1,3 -> (5,4) vs (4,1): +1; user 3 shares item 2 only:
    # undefined -> 0, so only user 2 votes.
    model = UserKNN(k=40, similarity="pearson", centering="mean").fit(tiny_ratings())
    expected = 4 + 1.0 * (2 - 7 / 3) / 1.0
    assert model.predict(pairs((1, 4)))[0] == pytest.approx(expected)
    details = model.predict_details(pairs((1, 4)))
    assert details.loc[0, "n_neighbors"] == 1 and details.loc[0, "fallback"] == ""


def test_item_based_prediction_without_centring_by_hand():
    # Cosine between items on co-rated users. User 1 rated items 1 (5), 2 (3), 3 (4); predict
    # item 5, rated by users 3 (3) and 4 (5). Co-rated with item 1: user 4 -> (2 vs 5): cos 1;
    # with item 2: user 3 -> (5 vs 3): cos 1; with item 3: user 4 -> (3 vs 5): cos 1.
    # All three weigh 1: prediction = (5 + 3 + 4) / 3 = 4.
    model = ItemKNN(similarity="cosine", centering=None, shrinkage=0).fit(tiny_ratings())
    assert model.predict(pairs((1, 5)))[0] == pytest.approx(4.0)
    explanation = model.explain(1, 5)
    assert sorted(explanation["item_id"]) == [1, 2, 3]
    assert explanation["weight"].sum() == pytest.approx(1.0)


# --- the readable twin ------------------------------------------------------------------


def reference_predictions(model, train, test):
    """Loop over test pairs and apply the documented formula literally."""
    user_based = isinstance(model, UserKNN)
    mean = train.rating.mean()
    by_user = {u: dict(zip(g.item_id, g.rating, strict=True)) for u, g in train.groupby("user_id")}
    by_item = {i: dict(zip(g.user_id, g.rating, strict=True)) for i, g in train.groupby("item_id")}
    x_of = by_user if user_based else by_item
    pos_x = model.users_ if user_based else model.items_
    baseline = BiasedBaseline().fit(train)
    bu = dict(zip(baseline.users_.ids, baseline.user_bias_, strict=True))
    bi = dict(zip(baseline.items_.ids, baseline.item_bias_, strict=True))

    def b(u, i):
        return baseline.global_mean_ + bu.get(u, 0.0) + bi.get(i, 0.0)

    def stats(x):
        values = np.array(list(x_of[x].values()))
        sigma = values.std()
        return values.mean(), sigma if sigma > 0 else 1.0

    out = []
    for u, i in zip(test.user_id, test.item_id, strict=True):
        x, y = (u, i) if user_based else (i, u)
        known = u in by_user and i in by_item
        if model.centering is None:
            base = mean
        elif model.centering in ("mean", "zscore"):
            base = stats(x)[0] if x in x_of else mean
        else:
            base = b(u, i)
        if not known:
            out.append(base)
            continue
        raters = (by_item[i] if user_based else by_user[u]).items()  # (other x, rating)
        cands = []
        for x2, r in raters:
            s = model.similarity_[pos_x.index([x])[0], pos_x.index([x2])[0]]
            cands.append((s, x2, r))
        cands.sort(key=lambda t: (-t[0], t[1]))  # ties: the smaller id first
        num = den = used = 0
        for s, x2, r in cands[: model.k]:
            if s <= 0:
                continue
            if model.centering is None:
                c = r
            elif model.centering == "mean":
                c = r - stats(x2)[0]
            elif model.centering == "zscore":
                c = (r - stats(x2)[0]) / stats(x2)[1]
            else:
                c = r - (b(u, x2) if not user_based else b(x2, i))
            num, den, used = num + s * c, den + s, used + 1
        if used < model.min_k or den == 0:
            out.append(base)
        elif model.centering is None:
            out.append(num / den)
        elif model.centering == "zscore":
            out.append(base + stats(x)[1] * num / den)
        else:
            out.append(base + num / den)
    return np.clip(out, *model.rating_scale_)


@pytest.mark.parametrize("cls", [UserKNN, ItemKNN])
@pytest.mark.parametrize("centering", [None, "mean", "zscore", "baseline"])
def test_fast_predictions_equal_the_formula(world, cls, centering):
    train, test = world
    model = cls(k=5, min_k=2, similarity="pearson", centering=centering).fit(train)
    np.testing.assert_allclose(model.predict(test), reference_predictions(model, train, test),
                               atol=1e-9)  # fmt: skip


def test_pearson_baseline_with_shrinkage_runs_through(world):
    train, test = world
    model = ItemKNN(similarity="pearson_baseline", shrinkage=100, centering="baseline").fit(train)
    np.testing.assert_allclose(model.predict(test), reference_predictions(model, train, test),
                               atol=1e-9)  # fmt: skip


# --- fallbacks, clipping, the contract ---------------------------------------------------


def test_fallbacks_are_reported_and_use_the_documented_base():
    train = tiny_ratings()
    model = UserKNN(similarity="pearson", centering="mean", shrinkage=0).fit(train)
    details = model.predict_details(pairs((1, 99), (99, 1), (99, 98), (1, 4)))
    assert details["fallback"].tolist() == ["unknown item", "unknown user",
                                            "unknown user and item", ""]  # fmt: skip
    mu = train.rating.mean()
    assert details["prediction"].tolist()[:3] == pytest.approx([4.0, mu, mu])

    baseline = ItemKNN(centering="baseline").fit(train)
    expected = BiasedBaseline().fit(train).predict(pairs((1, 99), (99, 1)))
    np.testing.assert_allclose(baseline.predict(pairs((1, 99), (99, 1))), expected)


def test_too_few_neighbours_falls_back():
    model = UserKNN(k=3, min_k=3, similarity="pearson", centering="mean",
                    shrinkage=0).fit(tiny_ratings())
    details = model.predict_details(pairs((1, 4)))  # only one positive neighbour exists
    assert details.loc[0, "fallback"] == "too few neighbours"
    assert details.loc[0, "prediction"] == pytest.approx(4.0)  # user 1's mean


def test_predictions_are_clipped_to_the_rating_scale(world):
    train, test = world
    preds = UserKNN(k=3, centering="zscore").fit(train).predict(test)
    assert preds.min() >= train.rating.min() and preds.max() <= train.rating.max()


def test_negative_neighbours_only_when_asked(world):
    train, test = world
    a = UserKNN(k=10).fit(train).predict(test)
    b = UserKNN(k=10, positive_only=False).fit(train).predict(test)
    assert not np.allclose(a, b)


def test_recommend_returns_unseen_top_items_in_order(world):
    train, _ = world
    model = ItemKNN(k=10).fit(train)
    recs = model.recommend([1, 2, 12345], k=5)
    assert list(recs.columns) == ["user_id", "item_id", "score", "rank"]
    assert recs.groupby("user_id").size().tolist() == [5, 5, 5]
    assert recs["user_id"].tolist()[:5] == [1] * 5
    for user, group in recs.groupby("user_id"):
        assert group["rank"].tolist() == [1, 2, 3, 4, 5]
        assert group["score"].is_monotonic_decreasing
        seen = set(train.loc[train.user_id == user, "item_id"])
        assert not seen & set(group["item_id"])
    # Scores are the (unclipped) predictions of those pairs.
    top = recs[recs.user_id == 1]
    clipped = model.predict(top[["user_id", "item_id"]])
    np.testing.assert_allclose(np.clip(top["score"], *model.rating_scale_), clipped)
    pd.testing.assert_frame_equal(recs, model.recommend([1, 2, 12345], k=5))


def test_recommend_with_seen_items_and_large_k():
    train = tiny_ratings()
    recs = UserKNN().fit(train).recommend([1], k=50, exclude_seen=False)
    assert len(recs) == 5 and sorted(recs.item_id) == [1, 2, 3, 4, 5]
    unseen = UserKNN().fit(train).recommend([1], k=50)
    assert sorted(unseen.item_id) == [4, 5]


def test_explain_reproduces_the_prediction(world):
    train, test = world
    model = ItemKNN(k=10, similarity="pearson", centering="mean").fit(train)
    user, item = test.user_id.iloc[0], test.item_id.iloc[0]
    why = model.explain(user, item)
    assert (why["similarity"] > 0).all() and len(why) <= 10
    assert why["similarity"].is_monotonic_decreasing
    rated = set(train.loc[train.user_id == user, "item_id"])
    assert set(why["item_id"]) <= rated
    item_mean = model.means_[model.items_.index([item])[0]]
    raw = item_mean + (why["weight"] * why["contribution"]).sum()
    assert model.predict(pairs((user, item)))[0] == pytest.approx(np.clip(raw, 1, 5))
    with pytest.raises(KeyError, match="item_id 1000000 was not in the training data"):
        model.explain(user, 10**6)
    with pytest.raises(KeyError, match="user_id 1000000 was not in the training data"):
        model.explain(10**6, item)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"k": 0}, "k must be a positive integer"),
     ({"k": 5, "min_k": 6}, "min_k"),
     ({"similarity": "manhattan"}, "unknown similarity"),
     ({"centering": "median"}, "centering must be")],
)  # fmt: skip
def test_bad_parameters_raise_at_fit(kwargs, message):
    with pytest.raises(ValueError, match=message):
        UserKNN(**kwargs).fit(tiny_ratings())


def test_contract_errors():
    with pytest.raises(RuntimeError, match="not fitted"):
        ItemKNN().predict(pairs((1, 1)))
    model = ItemKNN().fit(tiny_ratings())
    with pytest.raises(ValueError, match="lacks the column"):
        model.predict(pd.DataFrame({"user": [1], "item": [1]}))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        model.recommend([1], k=0)
    with pytest.raises(ValueError, match="empty"):
        ItemKNN().fit(tiny_ratings().iloc[:0])


def test_hyper_parameters_are_stored_as_given():
    model = ItemKNN(k=20, similarity="cosine", shrinkage=10.0)
    assert (model.k, model.similarity, model.shrinkage) == (20, "cosine", 10.0)
    assert repr(model).startswith("ItemKNN(k=20, min_k=1, similarity='cosine'")


def test_defaults_are_the_book_recommendations():
    from recsys_helpers.neighbors import UserItemKNN

    user, item, blend = UserKNN(), ItemKNN(), UserItemKNN()
    assert (user.k, user.similarity, user.centering, user.shrinkage) == (
        40, "pearson_baseline", "baseline", 100.0)
    assert (item.k, item.similarity, item.centering, item.shrinkage) == (
        80, "adjusted_cosine", "baseline", 200.0)
    assert (blend.item_weight, blend.k, blend.item_similarity, blend.shrinkage) == (
        0.6, 40, "adjusted_cosine", 200.0)


def test_user_item_blend_is_the_weighted_average_of_its_parts(world):
    from recsys_helpers.neighbors import UserItemKNN

    train, test = world
    blend = UserItemKNN(item_weight=0.3, k=10, user_similarity="pearson",
                        item_similarity="cosine", centering="mean", shrinkage=0).fit(train)  # fmt: skip
    user = UserKNN(k=10, similarity="pearson", centering="mean", shrinkage=0).fit(train)
    item = ItemKNN(k=10, similarity="cosine", centering="mean", shrinkage=0).fit(train)
    raw_u = user._predict_index(*user._pair_index(test))
    raw_i = item._predict_index(*item._pair_index(test))
    np.testing.assert_allclose(blend.predict(test), np.clip(0.3 * raw_i + 0.7 * raw_u, 1, 5))
    np.testing.assert_allclose(UserItemKNN(item_weight=1.0, k=10, item_similarity="cosine",
                                           centering="mean", shrinkage=0).fit(train).predict(test),
                               item.predict(test))  # fmt: skip
    with pytest.raises(ValueError, match="item_weight"):
        UserItemKNN(item_weight=1.5).fit(train)


def sequence_ratings():
    """Four users, items in time order; item 'c' always follows 'a' and 'd' follows 'b'."""
    rows = [("u1", "a", 1), ("u1", "c", 2), ("u1", "b", 3), ("u2", "b", 1), ("u2", "d", 2),
            ("u3", "a", 1), ("u3", "c", 2), ("u4", "b", 1), ("u4", "d", 2), ("u4", "a", 3)]
    return pd.DataFrame([(u, i, 4.0, t) for u, i, t in rows],
                        columns=["user_id", "item_id", "rating", "timestamp"])  # fmt: skip


def test_recent_item_knn_by_hand():
    model = RecentItemKNN(n_recent=2, decay=0.5).fit(sequence_ratings())
    # Cosine over who interacted: a = {u1,u3,u4}, b = {u1,u2,u4}, c = {u1,u3}, d = {u2,u4}.
    s = model.similarity_
    ix = {item: n for n, item in enumerate(model.items_.ids)}
    assert s[ix["a"], ix["c"]] == pytest.approx(2 / np.sqrt(3 * 2))
    assert s[ix["a"], ix["b"]] == pytest.approx(2 / 3)
    assert s[ix["c"], ix["d"]] == 0 and s[ix["a"], ix["a"]] == 0
    # u4's last two items: a (most recent, weight 1) and d (weight 0.5).
    scores = model.score(pd.DataFrame({"user_id": "u4", "item_id": ["c", "b"]}))
    expected_c = s[ix["c"], ix["a"]] + 0.5 * s[ix["c"], ix["d"]]
    expected_b = s[ix["b"], ix["a"]] + 0.5 * s[ix["b"], ix["d"]]
    np.testing.assert_allclose(scores, [expected_c, expected_b])
    assert model.recommend(["u4"], k=1).item_id.tolist() == ["c"]  # the only unseen item


def test_recent_item_knn_uses_only_the_most_recent_items():
    ratings = sequence_ratings()
    last_only = RecentItemKNN(n_recent=1).fit(ratings)
    # u1's last item is b: d (always after b) must outrank everything unseen.
    assert last_only.recommend(["u1"], k=1).item_id.tolist() == ["d"]
    # Unknown users get popularity; bad parameters are refused.
    stranger = last_only.recommend(["nobody"], k=2).item_id.tolist()
    assert stranger == ["a", "b"]
    with pytest.raises(ValueError, match="decay"):
        RecentItemKNN(decay=0).fit(ratings)
    with pytest.raises(ValueError, match="n_recent"):
        RecentItemKNN(n_recent=0).fit(ratings)


def test_recent_item_knn_counts_a_zero_rating_as_an_interaction():
    # A reader's CSV may hold 0-star ratings: the user still interacted with the item, so it
    # must count in "who interacted" (the similarity) as it does in the history.
    ratings = sequence_ratings()
    zero = ratings.assign(rating=np.where(ratings.item_id == "a", 0.0, ratings.rating))
    np.testing.assert_array_equal(RecentItemKNN().fit(zero).similarity_,
                                  RecentItemKNN().fit(ratings).similarity_)  # fmt: skip


def test_similar_items_and_kept_neighbours_on_the_toy_table():
    """ItemKNN's similar items are its similarity row, best first; ``keep_neighbors`` stores
    each item's top positive similarities only, exactly as ``keep_top_k`` does."""
    from recsys_helpers.scale import keep_top_k

    nan = np.nan
    toy = pd.DataFrame([[5, 3, 4, 4, nan], [3, 1, 2, 3, 3], [4, 3, 4, 3, 5], [3, 3, 1, 5, 4],
                        [1, 5, 5, 2, 1]], columns=pd.Index(range(1, 6), name="item_id"))  # fmt: skip
    ratings = (toy.stack().dropna().rename("rating").rename_axis(["user_id", "item_id"])
               .reset_index())  # fmt: skip
    model = ItemKNN(k=2, similarity="pearson", centering="mean", shrinkage=0).fit(ratings)
    row = model.similarity_[model.items_.index([5])[0]]
    similar = model.similar_items(5, k=2)
    by_hand = sorted(((s, -j) for j, s in zip(range(1, 5), row[:4], strict=True)), reverse=True)[:2]
    assert list(similar.item_id) == [-j for _, j in by_hand]
    assert similar.similarity.tolist() == pytest.approx([s for s, _ in by_hand])
    pruned = ItemKNN(k=2, similarity="pearson", centering="mean", shrinkage=0,
                     keep_neighbors=1).fit(ratings)  # fmt: skip
    np.testing.assert_array_equal(pruned.similarity_, keep_top_k(model.similarity_, 1).toarray())
    assert ((pruned.similarity_ > 0).sum(axis=1) <= 1).all()
    for bad in (0, -1, 1.5):
        with pytest.raises(ValueError, match="keep_neighbors must be a positive integer"):
            ItemKNN(keep_neighbors=bad).fit(ratings)
