r"""How good are the recommendations? Chapter 03 introduces the rating metrics, chapter 09 the
ranking and beyond-accuracy ones ("Metrics, defined exactly").

**Rating metrics** compare predicted ratings :math:`\hat r_{ui}` with held-out true ratings
:math:`r_{ui}` over the test pairs :math:`\mathcal T`: :func:`rmse`, :func:`mae`.

**Ranking metrics** share one signature, ``metric(recommendations, relevant, k=10)``:

* ``recommendations``: a DataFrame with ``user_id, item_id, rank`` (rank 1 is best), as returned
  by every model's ``recommend``; only ranks ``<= k`` count.
* ``relevant``: a DataFrame with ``user_id, item_id`` of the held-out items that count as hits
  (plus ``rating`` for graded NDCG).
* The result is the **mean over the users who have at least one relevant item**. Such a user
  with no recommendation at all scores 0; users with recommendations but nothing relevant are
  not counted (there is nothing to find). ``per_user=True`` returns the per-user values instead.

Write :math:`L_u` for user :math:`u`'s top-:math:`k` list, :math:`T_u` for their relevant items,
:math:`\mathrm{rel}_u(r) \in \{0, 1\}` for "the item at rank :math:`r` is relevant".

**Beyond-accuracy metrics** describe the lists themselves: :func:`catalog_coverage`,
:func:`novelty`, :func:`intra_list_diversity`, :func:`personalization`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import check_positive_int

__all__ = [
    "catalog_coverage",
    "hit_rate",
    "intra_list_diversity",
    "mae",
    "map_at_k",
    "mrr",
    "ndcg_at_k",
    "novelty",
    "personalization",
    "precision_at_k",
    "recall_at_k",
    "rmse",
]


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}"
        )
    if len(y_true) == 0:
        raise ValueError("cannot score an empty set of predictions")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} has {int((~np.isfinite(values)).sum())} NaN or infinite value(s)")
    return y_true, y_pred


def rmse(y_true, y_pred) -> float:
    r"""Root mean squared error, :math:`\sqrt{\frac{1}{|\mathcal T|}\sum_{(u,i)\in\mathcal T}
    (r_{ui} - \hat r_{ui})^2}`, in stars. Squaring makes large errors count more than in
    :func:`mae`."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    r"""Mean absolute error, :math:`\frac{1}{|\mathcal T|}\sum_{(u,i)\in\mathcal T}
    |r_{ui} - \hat r_{ui}|`, in stars."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))


# --------------------------------------------------------------------------------------------
# Ranking metrics


def _check_frame(frame, name: str, columns) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the column(s) {missing}; it has {list(frame.columns)}")


def _top_k(recommendations: pd.DataFrame, k: int) -> pd.DataFrame:
    check_positive_int("k", k)
    _check_frame(recommendations, "recommendations", ["user_id", "item_id", "rank"])
    ranks = recommendations["rank"]
    if not pd.api.types.is_integer_dtype(ranks.dtype) or (ranks < 1).any():
        raise ValueError("recommendations.rank must hold integers >= 1")
    top = recommendations[ranks <= k]
    if top.duplicated(["user_id", "rank"]).any():
        raise ValueError("recommendations has two items at the same rank for one user")
    if top.duplicated(["user_id", "item_id"]).any():
        raise ValueError("recommendations lists the same item twice for one user")
    return top


def _gains(recommendations, relevant, k, graded=False):
    """Per user with a relevant item: gains at ranks 1..k (0 = not relevant), the number of
    relevant items, and the ideal gains (sorted, top k)."""
    top = _top_k(recommendations, k)
    _check_frame(relevant, "relevant", ["user_id", "item_id"] + (["rating"] if graded else []))
    if relevant.duplicated(["user_id", "item_id"]).any():
        raise ValueError("relevant lists the same (user_id, item_id) twice")
    rel = relevant[["user_id", "item_id"]].copy()
    rel["gain"] = relevant["rating"].to_numpy(dtype=float) if graded else 1.0
    if graded and not (np.isfinite(rel["gain"]).all() and (rel["gain"] >= 0).all()):
        raise ValueError("relevant.rating must be finite and >= 0 to serve as a graded gain")
    users = np.unique(rel["user_id"].to_numpy())
    if len(users) == 0:
        raise ValueError("relevant is empty: no user has anything to find")
    row = pd.Series(np.arange(len(users)), index=users)

    hits = top.merge(rel, on=["user_id", "item_id"], how="inner")
    gains = np.zeros((len(users), k))
    gains[row.loc[hits["user_id"]].to_numpy(), hits["rank"].to_numpy() - 1] = hits["gain"].to_numpy()

    rel = rel.assign(row=row.loc[rel["user_id"]].to_numpy())
    n_relevant = np.bincount(rel["row"], minlength=len(users))
    # The ideal list: each user's k largest gains, best first.
    ordered = rel.sort_values(["row", "gain"], ascending=[True, False])
    position = ordered.groupby("row").cumcount().to_numpy()
    keep = position < k
    ideal = np.zeros((len(users), k))
    ideal[ordered["row"].to_numpy()[keep], position[keep]] = ordered["gain"].to_numpy()[keep]
    return users, gains, n_relevant, ideal


def _result(users, values, per_user):
    values = pd.Series(values, index=pd.Index(users, name="user_id"))
    return values if per_user else float(values.mean())


def precision_at_k(recommendations, relevant, k: int = 10, per_user: bool = False):
    r"""Precision@k: :math:`|L_u \cap T_u| / k`, averaged over users.

    The denominator is always :math:`k`, also when the list is shorter or the user has fewer
    than :math:`k` relevant items (so a perfect score may be impossible for such a user).
    """
    users, gains, _, _ = _gains(recommendations, relevant, k)
    return _result(users, (gains > 0).sum(axis=1) / k, per_user)


def recall_at_k(recommendations, relevant, k: int = 10, per_user: bool = False):
    r"""Recall@k: :math:`|L_u \cap T_u| / |T_u|`, averaged over users.

    The denominator is the number of relevant items, so a user with more than :math:`k` of them
    cannot reach 1.
    """
    users, gains, n_relevant, _ = _gains(recommendations, relevant, k)
    return _result(users, (gains > 0).sum(axis=1) / n_relevant, per_user)


def hit_rate(recommendations, relevant, k: int = 10, per_user: bool = False):
    r"""Hit rate@k (HR@k): the share of users with at least one relevant item in the top k."""
    users, gains, _, _ = _gains(recommendations, relevant, k)
    return _result(users, (gains > 0).any(axis=1).astype(float), per_user)


def mrr(recommendations, relevant, k: int = 10, per_user: bool = False):
    r"""Mean reciprocal rank: :math:`1 / r_u` with :math:`r_u` the rank of the first relevant
    item in the top :math:`k`, or 0 if there is none; averaged over users."""
    users, gains, _, _ = _gains(recommendations, relevant, k)
    hit = gains > 0
    first = hit.argmax(axis=1) + 1
    return _result(users, np.where(hit.any(axis=1), 1.0 / first, 0.0), per_user)


def map_at_k(recommendations, relevant, k: int = 10, per_user: bool = False):
    r"""Mean average precision@k.

    .. math:: \mathrm{AP@k}(u) = \frac{1}{\min(k, |T_u|)} \sum_{r=1}^{k}
              \mathrm{P@r}(u)\,\mathrm{rel}_u(r)

    The normaliser :math:`\min(k, |T_u|)` is the largest number of hits possible, so a perfect
    list scores 1 whatever the number of relevant items.
    """
    users, gains, n_relevant, _ = _gains(recommendations, relevant, k)
    hit = (gains > 0).astype(float)
    precision_at_r = np.cumsum(hit, axis=1) / np.arange(1, k + 1)
    ap = (precision_at_r * hit).sum(axis=1) / np.minimum(k, n_relevant)
    return _result(users, ap, per_user)


def ndcg_at_k(recommendations, relevant, k: int = 10, graded: bool = False,
              per_user: bool = False):  # fmt: skip
    r"""Normalised discounted cumulative gain@k.

    .. math:: \mathrm{DCG@k}(u) = \sum_{r=1}^{k} \frac{g_u(r)}{\log_2(r + 1)}, \qquad
              \mathrm{NDCG@k}(u) = \frac{\mathrm{DCG@k}(u)}{\mathrm{IDCG@k}(u)}

    where :math:`g_u(r)` is the gain of the item at rank :math:`r`: 1 if it is relevant
    (binary, the default) or its held-out rating with ``graded=True`` (``relevant`` then needs a
    ``rating`` column; linear gains, as ``sklearn.metrics.ndcg_score``). IDCG is the DCG of the
    best possible list: the user's :math:`\min(k, |T_u|)` highest gains, best first. A user with
    fewer than :math:`k` relevant items can still reach 1.
    """
    users, gains, _, ideal = _gains(recommendations, relevant, k, graded=graded)
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    dcg, idcg = gains @ discount, ideal @ discount
    values = np.divide(dcg, idcg, out=np.zeros_like(dcg), where=idcg > 0)
    return _result(users, values, per_user)


# --------------------------------------------------------------------------------------------
# Beyond accuracy


def catalog_coverage(recommendations, catalog, k: int = 10) -> float:
    r"""Share of the catalogue that appears in at least one top-k list:
    :math:`|\bigcup_u L_u| / |I|`. ``catalog`` is the array of all item ids."""
    top = _top_k(recommendations, k)
    catalog = np.unique(np.asarray(catalog))
    if len(catalog) == 0:
        raise ValueError("catalog is empty")
    shown = np.unique(top["item_id"].to_numpy())
    outside = np.setdiff1d(shown, catalog)
    if len(outside):
        raise ValueError(f"{len(outside)} recommended item(s) are not in the catalog, e.g. "
                         f"{outside[:5].tolist()}")  # fmt: skip
    return len(shown) / len(catalog)


def novelty(recommendations, train: pd.DataFrame, k: int = 10) -> float:
    r"""Mean self-information of the recommended items (Zhou et al., 2010), in bits.

    .. math:: \mathrm{novelty} = \frac{1}{|U|} \sum_u \frac{1}{|L_u|} \sum_{i \in L_u}
              -\log_2 p_i, \qquad p_i = \frac{|\{u : u \text{ interacted with } i\}|}{|U_{train}|}

    with :math:`p_i` measured on the training data. Recommending an item everybody has seen adds
    about 0 bits; one seen by 1 user in 1,000 adds about 10. Every recommended item must occur in
    ``train`` (an unseen item has no defined popularity).
    """
    top = _top_k(recommendations, k)
    _check_frame(train, "train", ["user_id", "item_id"])
    if top.empty:
        raise ValueError("recommendations is empty: novelty is the mean over recommended items")
    popularity = train.groupby("item_id")["user_id"].nunique() / train["user_id"].nunique()
    p = popularity.reindex(top["item_id"].to_numpy()).to_numpy()
    if np.isnan(p).any():
        missing = top["item_id"].to_numpy()[np.isnan(p)][:5].tolist()
        raise ValueError(f"recommended item(s) never seen in train, e.g. {missing}")
    info = pd.Series(-np.log2(p), index=top["user_id"].to_numpy())
    return float(info.groupby(level=0).mean().mean())


def intra_list_diversity(recommendations, item_features: pd.DataFrame, k: int = 10) -> float:
    r"""Mean pairwise dissimilarity of the items within each list (Ziegler et al., 2005).

    .. math:: \mathrm{ILD}(u) = \frac{2}{|L_u|(|L_u|-1)} \sum_{i < j \in L_u}
              \bigl(1 - \cos(\mathbf f_i, \mathbf f_j)\bigr)

    averaged over users with at least two items. ``item_features`` is indexed by ``item_id``,
    one column per feature (for MovieLens, ``MovieLens.genre_matrix()``). Two items of exactly
    the same genres are at distance 0; items with no genre in common at distance 1 (an item
    without any feature is at distance 1 from everything).
    """
    top = _top_k(recommendations, k)
    if not isinstance(item_features, pd.DataFrame):
        raise ValueError("item_features must be a DataFrame indexed by item_id")
    features = item_features.reindex(top["item_id"].to_numpy())
    if features.isna().any(axis=None):
        missing = top["item_id"].to_numpy()[features.isna().any(axis=1).to_numpy()][:5].tolist()
        raise ValueError(f"item_features has no row for recommended item(s) {missing}")
    f = features.to_numpy(dtype=float)
    norms = np.linalg.norm(f, axis=1)
    f = np.divide(f, norms[:, None], out=np.zeros_like(f), where=norms[:, None] > 0)
    values = []
    users = pd.factorize(top["user_id"])[0]
    order = np.argsort(users, kind="stable")
    bounds = np.flatnonzero(np.diff(users[order])) + 1
    for group in np.split(order, bounds):
        n = len(group)
        if n < 2:
            continue
        sim = f[group] @ f[group].T
        values.append(1.0 - (sim.sum() - np.trace(sim)) / (n * (n - 1)))
    if not values:
        raise ValueError("no list has two or more items")
    return float(np.mean(values))


def personalization(recommendations, k: int = 10) -> float:
    r"""How different the users' lists are: 1 minus the mean cosine similarity of every pair of
    users' top-k lists, seen as 0/1 vectors over the items.

    .. math:: \mathrm{personalization} = 1 - \frac{2}{|U|(|U|-1)} \sum_{u < v}
              \frac{|L_u \cap L_v|}{\sqrt{|L_u|\,|L_v|}}

    0 when everybody gets the same list (e.g. the most popular items); close to 1 when lists
    rarely overlap. Needs at least two users.
    """
    top = _top_k(recommendations, k)
    users, user_pos = np.unique(top["user_id"].to_numpy(), return_inverse=True)
    if len(users) < 2:
        raise ValueError("personalization needs the lists of at least two users")
    _, item_pos = np.unique(top["item_id"].to_numpy(), return_inverse=True)
    lists = sp.csr_matrix((np.ones(len(top)), (user_pos, item_pos)))
    sizes = np.asarray(lists.sum(axis=1)).ravel()
    overlap = (lists @ lists.T).toarray()
    cosine = overlap / np.sqrt(np.outer(sizes, sizes))
    n = len(users)
    mean_similarity = (cosine.sum() - np.trace(cosine)) / (n * (n - 1))
    return float(1.0 - mean_similarity)
