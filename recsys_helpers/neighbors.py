r"""Neighbourhood collaborative filtering: :class:`UserKNN` (chapter 03), :class:`ItemKNN` (04).

To predict user :math:`u`'s rating of item :math:`i`, a **user-based** model looks at the
:math:`k` users most similar to :math:`u` *among those who rated* :math:`i`, written
:math:`N^k_i(u)`, and averages their opinions of :math:`i`, weighted by similarity. An
**item-based** model does the same with the :math:`k` items most similar to :math:`i` among those
:math:`u` rated, :math:`N^k_u(i)`. Only neighbours with a **positive** similarity take part (a
negatively correlated neighbour's opinion is not evidence of the opposite), unless
``positive_only=False``.

The ``centering`` option chooses what is averaged. Written for the user-based case (swap the
roles of users and items for the item-based one), with :math:`s_{uv}` the similarity:

============  ==============================================================================
centering     prediction :math:`\hat r_{ui}`
============  ==============================================================================
``None``      :math:`\dfrac{\sum_{v \in N} s_{uv}\, r_{vi}}{\sum_{v \in N} s_{uv}}`
``"mean"``    :math:`\bar r_u + \dfrac{\sum_{v} s_{uv}\,(r_{vi} - \bar r_v)}{\sum_{v} s_{uv}}`
``"zscore"``  :math:`\bar r_u + \sigma_u \dfrac{\sum_{v} s_{uv}\,(r_{vi} - \bar r_v)/\sigma_v}{\sum_{v} s_{uv}}`
``"baseline"`` :math:`b_{ui} + \dfrac{\sum_{v} s_{uv}\,(r_{vi} - b_{vi})}{\sum_{v} s_{uv}}`
============  ==============================================================================

where :math:`\bar r_u` and :math:`\sigma_u` are the mean and standard deviation of :math:`u`'s
ratings and :math:`b_{ui} = \mu + b_u + b_i` is the :class:`~recsys_helpers.baselines.BiasedBaseline`
prediction. These are the formulas of Surprise's ``KNNBasic``, ``KNNWithMeans``,
``KNNWithZScore`` and ``KNNBaseline``.

**Fallbacks.** When fewer than ``min_k`` neighbours take part, or the user or item was not in the
training data, the model predicts its *base* value instead: the global mean :math:`\mu` for
``centering=None``; :math:`\bar r_u` (user-based) or :math:`\bar r_i` (item-based) for
``"mean"``/``"zscore"``, or :math:`\mu` if that user or item is unknown; :math:`b_{ui}` for
``"baseline"``, with the unknown side's bias taken as 0. :meth:`predict_details` says which
predictions fell back and why. Predictions are clipped to the training rating scale.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import Recommender, check_number, check_positive_int, top_k
from .baselines import BiasedBaseline
from .interactions import center, item_counts, rated_mask
from .scale import keep_top_k
from .sequences import SequenceEncoder, last_windows, user_histories
from .similarity import METRICS, Metric, pairwise_similarity

__all__ = ["ItemKNN", "RecentItemKNN", "UserItemKNN", "UserKNN"]

CENTERINGS = (None, "mean", "zscore", "baseline")
Centering = Literal["mean", "zscore", "baseline"] | None


def _top_k_mask(key: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the k largest entries of each row; among equal values at the k-th
    place, the leftmost (smallest id) win, so the choice never depends on the sort algorithm."""
    kth = -np.partition(-key, k - 1, axis=1)[:, k - 1 : k]
    above = key > kth
    tied = key == kth
    room = k - above.sum(axis=1, keepdims=True)
    return above | (tied & (np.cumsum(tied, axis=1) <= room))


class _NeighborhoodModel(Recommender):
    """The engine behind UserKNN and ItemKNN: one code path, oriented by ``_user_based``."""

    _user_based: bool

    def __init__(self, k, min_k, similarity, centering, min_support, shrinkage, positive_only,
                 keep_neighbors):  # fmt: skip
        self.k = k
        self.min_k = min_k
        self.similarity = similarity
        self.centering = centering
        self.min_support = min_support
        self.shrinkage = shrinkage
        self.positive_only = positive_only
        self.keep_neighbors = keep_neighbors

    # -- fitting ---------------------------------------------------------------------------
    def _check_params(self) -> None:
        check_positive_int("k", self.k)
        if not (isinstance(self.min_k, (int, np.integer)) and 1 <= self.min_k <= self.k):
            raise ValueError(f"min_k must be an integer in 1..k, got {self.min_k!r}")
        if self.similarity not in METRICS:
            raise ValueError(f"unknown similarity {self.similarity!r}; choose one of {METRICS}")
        if self.centering not in CENTERINGS:
            raise ValueError(f"centering must be one of {CENTERINGS}, got {self.centering!r}")
        check_number("min_support", self.min_support, minimum=1)
        check_number("shrinkage", self.shrinkage, minimum=0)
        if self.keep_neighbors is not None:
            check_positive_int("keep_neighbors", self.keep_neighbors)

    def fit(self, ratings: pd.DataFrame):
        """Learn means (or baselines) and the similarity of every pair of users (items)."""
        self._check_params()
        matrix = self._fit_matrix(ratings)
        # Orient: rows are the things compared ("x"), columns the others ("y").
        oriented = matrix if self._user_based else sp.csr_matrix(matrix.T)
        oriented.sort_indices()
        counts = np.diff(oriented.indptr)
        rows = np.repeat(np.arange(oriented.shape[0]), counts)
        deviations, self.means_ = center(oriented, axis="user")  # rows are users or items
        sigmas = np.sqrt(np.bincount(rows, deviations.data**2, oriented.shape[0]) / counts)
        self.sigmas_ = np.where(sigmas > 0, sigmas, 1.0)

        needs_baseline = self.centering == "baseline" or self.similarity == "pearson_baseline"
        self.baseline_ = BiasedBaseline()._fit_like(self) if needs_baseline else None
        baseline_arg = None
        if self.similarity == "pearson_baseline":
            bx, by = self._biases()
            baseline_arg = (self.baseline_.global_mean_, bx, by)
        self.similarity_ = pairwise_similarity(
            oriented, self.similarity, self.min_support, self.shrinkage, baseline_arg
        )
        if self.keep_neighbors is not None:  # what a model storing a sparse matrix would keep
            self.similarity_ = keep_top_k(self.similarity_, self.keep_neighbors).toarray()

        # Residuals (what neighbours contribute), stored column-wise for fast lookup per column.
        residual = oriented.copy()
        residual.data = self._residual(rows, oriented.indices, oriented.data)
        self._residual_csc = residual.tocsc()
        self._residual_csc.sort_indices()
        return self

    def _biases(self) -> tuple[np.ndarray, np.ndarray]:
        b = self.baseline_
        if self._user_based:
            return b.user_bias_, b.item_bias_
        return b.item_bias_, b.user_bias_

    def _residual(self, x, y, r):
        """What a rating r of row x in column y contributes, before weighting."""
        if self.centering is None:
            return r
        if self.centering == "mean":
            return r - self.means_[x]
        if self.centering == "zscore":
            return (r - self.means_[x]) / self.sigmas_[x]
        bx, by = self._biases()
        return r - (self.baseline_.global_mean_ + bx[x] + by[y])

    def _base(self, x, y):
        """Fallback / starting point for target row x (-1 if unknown) and column y."""
        known = x >= 0
        if self.centering is None:
            return np.full(len(x), self.global_mean_)
        if self.centering in ("mean", "zscore"):
            return np.where(known, self.means_[np.maximum(x, 0)], self.global_mean_)
        bx, by = self._biases()
        return (self.baseline_.global_mean_ + np.where(known, bx[np.maximum(x, 0)], 0.0)
                + np.where(y >= 0, by[np.maximum(y, 0)], 0.0))  # fmt: skip

    # -- predicting ------------------------------------------------------------------------
    def _neighborhood(self, x: np.ndarray, y: np.ndarray):
        """For target rows x and columns y (positions, -1 unknown): base, weighted sum of
        residuals, sum of weights and number of neighbours used, per target."""
        n = len(x)
        weighted = np.zeros(n)
        weights = np.zeros(n)
        used = np.zeros(n, dtype=np.int64)
        valid = np.flatnonzero((x >= 0) & (y >= 0))
        if len(valid):
            # Group the targets by column: each column's raters are looked up once.
            order = valid[np.argsort(y[valid], kind="stable")]
            cols, starts = np.unique(y[order], return_index=True)
            bounds = np.append(starts, len(order))
            csc = self._residual_csc
            for col, lo, hi in zip(cols, bounds[:-1], bounds[1:], strict=True):
                targets = order[lo:hi]
                raters = csc.indices[csc.indptr[col]:csc.indptr[col + 1]]
                if len(raters) == 0:
                    continue
                contrib = csc.data[csc.indptr[col]:csc.indptr[col + 1]]
                sims = self.similarity_[np.ix_(x[targets], raters)]
                # A target never counts as its own neighbour (only possible for a pair that
                # is in the training data).
                itself = x[targets][:, None] == raters[None, :]
                if itself.any():
                    sims[itself] = 0.0
                take = sims > 0 if self.positive_only else sims != 0
                if len(raters) > self.k:
                    take &= _top_k_mask(sims if self.positive_only else np.abs(sims), self.k)
                w = np.where(take, sims, 0.0)
                weighted[targets] = w @ contrib
                weights[targets] = np.abs(w).sum(axis=1)
                used[targets] = take.sum(axis=1)
        return weighted, weights, used

    def _targets(self, u, i):
        return (u, i) if self._user_based else (i, u)

    def predict_details(self, pairs: pd.DataFrame) -> pd.DataFrame:
        """Predictions with how they were made: ``user_id, item_id, prediction, n_neighbors,
        fallback`` where ``fallback`` is ``""``, ``"unknown user"``, ``"unknown item"``,
        ``"unknown user and item"`` or ``"too few neighbours"``."""
        u, i = self._pair_index(pairs)
        raw, used, ok = self._predict_with_counts(u, i)
        reason = np.full(len(u), "", dtype=object)
        reason[~ok] = "too few neighbours"
        reason[u < 0] = "unknown user"
        reason[i < 0] = "unknown item"
        reason[(u < 0) & (i < 0)] = "unknown user and item"
        return pd.DataFrame({
            "user_id": pairs["user_id"].to_numpy(),
            "item_id": pairs["item_id"].to_numpy(),
            "prediction": np.clip(raw, *self.rating_scale_),
            "n_neighbors": used,
            "fallback": reason,
        })  # fmt: skip

    def _predict_with_counts(self, u, i):
        x, y = self._targets(u, i)
        base = self._base(x, y)
        weighted, weights, used = self._neighborhood(x, y)
        ok = (used >= self.min_k) & (weights > 0)
        scale = self.sigmas_[np.maximum(x, 0)] if self.centering == "zscore" else 1.0
        offset = np.divide(weighted, weights, out=np.zeros_like(weighted), where=ok)
        if self.centering is None:
            pred = np.where(ok, offset, base)
        else:
            pred = base + scale * offset
        return pred, used, ok

    def _predict_index(self, u, i):
        return self._predict_with_counts(u, i)[0]


class UserKNN(_NeighborhoodModel):
    """User-based neighbourhood CF: users similar to *u* who rated *i* vote on *i*.

    Parameters
    ----------
    k : int
        Largest number of neighbours that vote.
    min_k : int
        With fewer voting neighbours, fall back (see the module docstring).
    similarity : str
        A :data:`~recsys_helpers.similarity.METRICS` name.
    centering : {None, "mean", "zscore", "baseline"}
        Which prediction formula (module docstring).
    min_support, shrinkage :
        Passed to :func:`~recsys_helpers.similarity.pairwise_similarity`.
    positive_only : bool
        Only positively similar neighbours vote; with ``False`` the ``k`` neighbours of largest
        absolute similarity vote and negative ones push the other way.
    keep_neighbors : int, optional
        Store only each user's (item's) ``keep_neighbors`` largest positive similarities and
        set the rest to 0 (:func:`~recsys_helpers.scale.keep_top_k`), as a model that keeps a
        sparse similarity matrix would (chapter 10); ``None`` keeps them all. Negative
        similarities are never kept, so with ``positive_only=False`` they no longer vote.

    The defaults are the configuration chapter 03 selects on validation splits of the ML-100K
    base files: Koren's baseline-centred Pearson, shrunk with λ = 100, baseline centring, k = 40.

    Attributes: ``similarity_`` (users × users), ``means_`` and ``sigmas_`` (per user),
    ``baseline_`` (a fitted :class:`~recsys_helpers.baselines.BiasedBaseline`, or ``None``).
    """

    _user_based = True

    def __init__(
        self,
        k: int = 40,
        min_k: int = 1,
        similarity: Metric = "pearson_baseline",
        centering: Centering = "baseline",
        min_support: int = 1,
        shrinkage: float = 100.0,
        positive_only: bool = True,
        keep_neighbors: int | None = None,
    ):
        super().__init__(k, min_k, similarity, centering, min_support, shrinkage, positive_only,
                         keep_neighbors)  # fmt: skip


class ItemKNN(_NeighborhoodModel):
    """Item-based neighbourhood CF: items similar to *i* that *u* rated vote on *i*.

    Parameters as :class:`UserKNN`. The defaults are the configuration chapter 04 selects on
    validation splits of the ML-100K base files: adjusted cosine shrunk with λ = 200, baseline
    centring, k = 80. :meth:`explain` lists the neighbours behind one prediction.

    Attributes: ``similarity_`` (items × items), ``means_`` and ``sigmas_`` (per item),
    ``baseline_``.
    """

    _user_based = False

    def __init__(
        self,
        k: int = 80,
        min_k: int = 1,
        similarity: Metric = "adjusted_cosine",
        centering: Centering = "baseline",
        min_support: int = 1,
        shrinkage: float = 200.0,
        positive_only: bool = True,
        keep_neighbors: int | None = None,
    ):
        super().__init__(k, min_k, similarity, centering, min_support, shrinkage, positive_only,
                         keep_neighbors)  # fmt: skip

    def _item_similarities(self, i):
        """Row ``i`` of ``similarity_``; used by
        :meth:`~recsys_helpers.base.Recommender.similar_items`."""
        return self.similarity_[i]

    def explain(self, user_id, item_id) -> pd.DataFrame:
        """The rated items that made ``user_id``'s prediction for ``item_id``, strongest first.

        Columns: ``item_id`` (a neighbour the user rated), ``similarity`` (to ``item_id``),
        ``rating`` (the user's), ``contribution`` (the neighbour's centred rating),
        ``weight`` (similarity / sum of similarities, so weights add up to 1). Empty when the
        prediction fell back (fewer than ``min_k`` neighbours voted). A user or item the model
        never saw raises ``KeyError``, as in :meth:`similar_items`.
        """
        self._check_fitted()
        u, i = self._known_position("user", user_id), self._known_position("item", item_id)
        columns = ["item_id", "similarity", "rating", "contribution", "weight"]
        row = self.train_matrix_[u]
        rated, ratings = row.indices, row.data
        sims = self.similarity_[i, rated].copy()
        sims[rated == i] = 0.0
        key = sims if self.positive_only else np.abs(sims)
        order = top_k(key, self.k)  # ties: the smaller id first
        take = order[sims[order] > 0] if self.positive_only else order[sims[order] != 0]
        if len(take) < self.min_k:
            return pd.DataFrame(columns=columns)
        contrib = self._residual(rated[take], np.full(len(take), u), ratings[take])
        weights = sims[take] / np.abs(sims[take]).sum()
        return pd.DataFrame({
            "item_id": self.items_.ids[rated[take]],
            "similarity": sims[take],
            "rating": ratings[take],
            "contribution": contrib,
            "weight": weights,
        })  # fmt: skip


class UserItemKNN(Recommender):
    r"""A user-based and an item-based neighbourhood, blended: a simple version of the similarity
    fusion of Wang, de Vries & Reinders (2006), who combine both sources inside one predictor.

    .. math:: \hat r_{ui} = w\,\hat r^{\,\text{item}}_{ui} + (1 - w)\,\hat r^{\,\text{user}}_{ui}

    The two models look at different evidence — people like *u* who rated *i*, and movies like
    *i* that *u* rated — so their errors are not perfectly correlated (0.95 on ML-100K's
    validation split), and on ML-100K the average is more accurate than either on every official
    fold (chapter 04, "Two neighbourhoods are better than one"). Both sides share
    ``k``, ``min_k``, ``centering``, ``min_support`` and ``shrinkage``; each has its own
    similarity. Fallbacks are those of the two models.

    Parameters
    ----------
    item_weight : float in [0, 1]
        :math:`w`.
    user_similarity, item_similarity : str
        The measure of each side (:data:`~recsys_helpers.similarity.METRICS`).
    k, min_k, centering, min_support, shrinkage
        Shared by both sides, as in :class:`UserKNN`.

    Defaults are the values chapter 04 selects on validation splits of the ML-100K base files.

    Attributes: ``user_model_``, ``item_model_`` (the fitted :class:`UserKNN` and
    :class:`ItemKNN`).
    """

    def __init__(
        self,
        item_weight: float = 0.6,
        k: int = 40,
        min_k: int = 1,
        user_similarity: Metric = "pearson_baseline",
        item_similarity: Metric = "adjusted_cosine",
        centering: Centering = "baseline",
        min_support: int = 1,
        shrinkage: float = 200.0,
    ):
        self.item_weight = item_weight
        self.k = k
        self.min_k = min_k
        self.user_similarity = user_similarity
        self.item_similarity = item_similarity
        self.centering = centering
        self.min_support = min_support
        self.shrinkage = shrinkage

    def fit(self, ratings: pd.DataFrame) -> UserItemKNN:
        check_number("item_weight", self.item_weight, minimum=0, maximum=1)
        for name in ("user_similarity", "item_similarity"):
            if getattr(self, name) not in METRICS:
                raise ValueError(f"unknown {name} {getattr(self, name)!r}; choose one of {METRICS}")
        shared = {"k": self.k, "min_k": self.min_k, "centering": self.centering,
                  "min_support": self.min_support, "shrinkage": self.shrinkage}  # fmt: skip
        self.user_model_ = UserKNN(similarity=self.user_similarity, **shared).fit(ratings)
        self.item_model_ = ItemKNN(similarity=self.item_similarity, **shared).fit(ratings)
        for name in ("users_", "items_", "train_matrix_", "global_mean_", "rating_scale_"):
            setattr(self, name, getattr(self.item_model_, name))
        return self

    def _predict_index(self, u, i):
        w = self.item_weight
        return (w * self.item_model_._predict_index(u, i)
                + (1 - w) * self.user_model_._predict_index(u, i))  # fmt: skip


class RecentItemKNN(Recommender):
    r"""Next-item baseline: items similar to what the user interacted with **most recently**.

    With :math:`j_1, j_2, \dots` the user's items from the most recent backwards (by timestamp,
    ties by item id) and :math:`s_{ij}` the cosine similarity of items :math:`i` and :math:`j`
    over *who* interacted with them (0/1 vectors, ratings ignored),

    .. math:: \mathrm{score}(u, i) = \sum_{t=1}^{m} \gamma^{\,t-1}\, s_{i j_t},

    over the last :math:`m` = ``n_recent`` items, each older one discounted by ``decay``
    :math:`\gamma`. With :math:`m` = the whole history and :math:`\gamma = 1` this is plain
    item-based top-N; a small :math:`m` makes it *sequential*. Unknown users get the popularity
    ranking. The sequential protocol's simple baseline (chapters 07–09); defaults are the values
    chapter 07 selects on validation data.

    Parameters
    ----------
    n_recent : int
        :math:`m`.
    decay : float in (0, 1]
        :math:`\gamma`.

    Attributes: ``similarity_`` (items x items, zero diagonal), ``histories_``.
    """

    predicts_ratings = False

    def __init__(self, n_recent: int = 3, decay: float = 1.0):
        self.n_recent = n_recent
        self.decay = decay

    def fit(self, ratings: pd.DataFrame) -> RecentItemKNN:
        check_positive_int("n_recent", self.n_recent)
        if not 0 < self.decay <= 1:
            raise ValueError(f"decay must be in (0, 1], got {self.decay!r}")
        matrix = self._fit_matrix(ratings)
        binary = rated_mask(matrix).tocsc()  # a 0 rating is still an interaction
        co = (binary.T @ binary).toarray()
        norms = np.sqrt(np.diag(co))
        with np.errstate(divide="ignore", invalid="ignore"):
            similarity = np.nan_to_num(co / np.outer(norms, norms))
        np.fill_diagonal(similarity, 0.0)
        self.similarity_ = similarity
        self.popularity_ = item_counts(binary)
        self.histories_ = user_histories(ratings)
        self._encoder = SequenceEncoder(self.items_)
        return self

    def _item_similarities(self, i):
        """Row ``i`` of ``similarity_`` (cosine over who interacted); used by
        :meth:`~recsys_helpers.base.Recommender.similar_items`."""
        return self.similarity_[i]

    def _score_users(self, u):
        u = np.asarray(u)
        scores = np.broadcast_to(self.popularity_, (len(u), len(self.popularity_))).copy()
        known = np.flatnonzero(u >= 0)
        if len(known):
            tokens = last_windows(self.histories_.loc[self.users_.ids[u[known]]], self._encoder,
                                  self.n_recent)  # fmt: skip
            weights = self.decay ** np.arange(self.n_recent)[::-1]  # last column = most recent
            padded = np.vstack([np.zeros(len(self.popularity_)), self.similarity_])  # token 0
            for start in range(0, len(known), 256):  # bounded memory: 256 x m x n_items
                block = tokens[start:start + 256]
                scores[known[start:start + 256]] = np.einsum("t,utn->un", weights, padded[block])
        return scores

    def _predict_index(self, u, i):
        return self._pair_scores_from_users(u, i, unknown_item=0.0)
