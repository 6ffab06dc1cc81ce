r"""Learned models: matrix factorisation and learned item–item weights (chapter 05).

* :class:`BiasedMF` — explicit ratings: :math:`\hat r_{ui} = \mu + b_u + b_i + \mathbf p_u^\top
  \mathbf q_i`, learned by stochastic gradient descent (Funk, 2006; Koren et al., 2009).
* :class:`ImplicitALS` — implicit feedback: weighted matrix factorisation fitted by alternating
  least squares (Hu, Koren & Volinsky, 2008).
* :class:`EASE` — implicit feedback: an item–item weight matrix learned in closed form (Steck,
  2019): "item-based CF whose similarities are learned instead of computed".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import (
    Recommender,
    TrainingDivergedError,
    check_number,
    check_positive_int,
    check_seed,
)
from .metrics import rmse
from .progress import task

__all__ = ["EASE", "BiasedMF", "ImplicitALS"]


def _scatter_add(target: np.ndarray, index: np.ndarray, values: np.ndarray) -> None:
    """``target[index] += values`` where repeated indices add up, like ``np.add.at`` but fast:
    the rows of ``values`` are summed per distinct index with a sparse 0/1 matrix product."""
    distinct, position = np.unique(index, return_inverse=True)
    summer = sp.csr_matrix((np.ones(len(index)), (position, np.arange(len(index)))),
                           shape=(len(distinct), len(index)))  # fmt: skip
    target[distinct] += summer @ values


def _factor_cosine(factors: np.ndarray, i: int) -> np.ndarray:
    """Cosine between row ``i`` of ``factors`` and every row (0 where a norm is 0)."""
    norms = np.linalg.norm(factors, axis=1)
    cosine = factors @ factors[i]
    return np.divide(cosine, norms * norms[i], out=np.zeros_like(cosine),
                     where=norms * norms[i] > 0)  # fmt: skip


class BiasedMF(Recommender):
    r"""Biased matrix factorisation for explicit ratings, trained by mini-batch SGD.

    Prediction: :math:`\hat r_{ui} = \mu + b_u + b_i + \mathbf p_u^\top \mathbf q_i` with
    :math:`\mathbf p_u, \mathbf q_i \in \mathbb R^f` (``n_factors``). Training minimises

    .. math:: \sum_{(u,i) \in \mathcal R} (r_{ui} - \hat r_{ui})^2
              + \lambda \bigl(b_u^2 + b_i^2 + \|\mathbf p_u\|^2 + \|\mathbf q_i\|^2\bigr)

    by stochastic gradient descent: for each rating, with error :math:`e = r_{ui} - \hat r_{ui}`
    and learning rate :math:`\eta`,

    .. math:: b_u \mathrel{+}= \eta (e - \lambda b_u), \quad
              b_i \mathrel{+}= \eta (e - \lambda b_i), \quad
              \mathbf p_u \mathrel{+}= \eta (e\,\mathbf q_i - \lambda \mathbf p_u), \quad
              \mathbf q_i \mathrel{+}= \eta (e\,\mathbf p_u - \lambda \mathbf q_i) .

    The ratings are visited in a shuffled order each epoch, in small mini-batches whose updates
    are computed together (vectorised; a user or item appearing twice in a batch gets the sum
    of its updates), which behaves like per-rating SGD for small batches.

    With ``fit(ratings, validation=...)`` the validation RMSE is tracked after every epoch;
    training stops once it has not improved for ``patience`` epochs, and the parameters of the
    best epoch are kept (early stopping). ``history_`` holds the curves.

    Unknown users or items get zero biases and factors: the prediction falls back to
    :math:`\mu + b_u` or :math:`\mu + b_i` or :math:`\mu`.

    **Any rating scale.** The learning rate and :math:`\lambda` only mean the same thing on
    every data set if the errors are in the same units, so the model learns on
    :math:`(r_{ui} - \mu) / s` and multiplies its output by :math:`s` again, with :math:`s` =
    ``scale_`` = max(1, (highest − lowest training rating) / 4): one "star" of a five-star
    scale, never less than 1. On 1–5 stars (or any narrower range) :math:`s = 1` exactly and
    nothing changes; on a 20–100 scale :math:`s = 20` and the defaults still converge instead
    of overflowing. Training whose loss or parameters become non-finite (a
    learning rate far too large) raises :class:`~recsys_helpers.base.TrainingDivergedError`.

    Parameters
    ----------
    n_factors : int
        :math:`f`, the length of :math:`\mathbf p_u` and :math:`\mathbf q_i`.
    n_epochs : int
        Passes over the training ratings (at most, with ``validation``).
    learning_rate : float > 0
        :math:`\eta`.
    regularization : float >= 0
        :math:`\lambda`.
    init_std : float >= 0
        Standard deviation of the normal draws that start the factors (biases start at 0).
    batch_size : int
        Ratings whose updates are computed together.
    patience : int
        Epochs without a better validation RMSE before training stops.
    seed : int
        Initialisation and shuffling; the same seed gives the same model.

    Defaults are the values chapter 05 selects on validation splits of the ML-100K base files.
    """

    def __init__(
        self,
        n_factors: int = 200,
        n_epochs: int = 40,
        learning_rate: float = 0.01,
        regularization: float = 0.1,
        init_std: float = 0.05,
        batch_size: int = 1024,
        patience: int = 5,
        seed: int = 0,
    ):
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.init_std = init_std
        self.batch_size = batch_size
        self.patience = patience
        self.seed = seed

    def fit(self, ratings: pd.DataFrame, validation: pd.DataFrame | None = None) -> BiasedMF:
        for name in ("n_factors", "n_epochs", "batch_size", "patience"):
            check_positive_int(name, getattr(self, name))
        check_number("learning_rate", self.learning_rate, above=0)
        check_number("regularization", self.regularization, minimum=0)
        check_number("init_std", self.init_std, minimum=0)
        check_seed(self.seed)
        coo = self._fit_matrix(ratings).tocoo()
        users, items = coo.row.astype(np.int64), coo.col.astype(np.int64)
        low, high = self.rating_scale_
        self.scale_ = max(1.0, (high - low) / 4)
        r = (coo.data - self.global_mean_) / self.scale_
        rng = np.random.default_rng(self.seed)
        n_users, n_items = coo.shape
        self.user_factors_ = rng.normal(0, self.init_std, (n_users, self.n_factors))
        self.item_factors_ = rng.normal(0, self.init_std, (n_items, self.n_factors))
        self.user_bias_ = np.zeros(n_users)
        self.item_bias_ = np.zeros(n_items)
        if validation is not None:
            val_u, val_i = self._pair_index(validation)
            val_r = validation["rating"].to_numpy(dtype=float)

        history, best, best_score, waited = [], None, np.inf, 0
        with task("BiasedMF") as shown:
            for epoch in range(1, self.n_epochs + 1):
                shown.update(f"epoch {epoch} of {self.n_epochs}")
                with np.errstate(over="ignore", invalid="ignore"):  # divergence is reported below
                    train_rmse = self._epoch(users, items, r, rng) * self.scale_
                    row = {"epoch": epoch, "train_rmse": train_rmse}
                if not (np.isfinite(row["train_rmse"])
                        and all(np.isfinite(p).all() for p in self._parameters())):  # fmt: skip
                    raise TrainingDivergedError(
                        f"BiasedMF diverged in epoch {epoch}: the training error became "
                        f"{row['train_rmse']!r}; lower learning_rate (now {self.learning_rate!r})")
                if validation is not None:
                    row["validation_rmse"] = rmse(val_r, np.clip(self._predict_index(val_u, val_i),
                                                                 *self.rating_scale_))  # fmt: skip
                    if row["validation_rmse"] < best_score - 1e-6:
                        best_score, waited = row["validation_rmse"], 0
                        best = self._parameters(copy=True)
                    else:
                        waited += 1
                history.append(row)
                if validation is not None and waited >= self.patience:
                    break
        if best is not None:
            (self.user_bias_, self.item_bias_, self.user_factors_, self.item_factors_) = best
        self.history_ = pd.DataFrame(history)
        self.best_epoch_ = (int(self.history_["validation_rmse"].idxmin()) + 1
                            if validation is not None else len(history))  # fmt: skip
        return self

    def _parameters(self, copy=False):
        params = (self.user_bias_, self.item_bias_, self.user_factors_, self.item_factors_)
        return tuple(p.copy() for p in params) if copy else params

    def _epoch(self, users, items, r, rng) -> float:
        """One pass over the shuffled ratings; returns the running training RMSE (each rating's
        error just before its own update, the usual SGD training curve)."""
        lr, reg = self.learning_rate, self.regularization
        bu, bi, P, Q = self._parameters()
        order = rng.permutation(len(r))
        squared_error = 0.0
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            u, i = users[batch], items[batch]
            pu, qi = P[u], Q[i]
            e = r[batch] - bu[u] - bi[i] - np.einsum("nf,nf->n", pu, qi)
            squared_error += float(e @ e)
            bu += np.bincount(u, lr * (e - reg * bu[u]), len(bu))
            bi += np.bincount(i, lr * (e - reg * bi[i]), len(bi))
            _scatter_add(P, u, lr * (e[:, None] * qi - reg * pu))
            _scatter_add(Q, i, lr * (e[:, None] * pu - reg * qi))
        return float(np.sqrt(squared_error / len(r)))

    def _item_similarities(self, i):
        """Cosine of the learned item factors (biases left out); used by
        :meth:`~recsys_helpers.base.Recommender.similar_items`."""
        return _factor_cosine(self.item_factors_, i)

    def _predict_index(self, u, i):
        ku, ki = u >= 0, i >= 0
        uu, ii = np.maximum(u, 0), np.maximum(i, 0)
        dot = np.einsum("nf,nf->n", self.user_factors_[uu], self.item_factors_[ii])
        return self.global_mean_ + self.scale_ * (np.where(ku, self.user_bias_[uu], 0.0)
                + np.where(ki, self.item_bias_[ii], 0.0) + np.where(ku & ki, dot, 0.0))  # fmt: skip


class EASE(Recommender):
    r"""Embarrassingly Shallow Autoencoder (Steck, 2019): learned item–item weights.

    With :math:`X` the binary users × items interaction matrix, EASE scores user :math:`u`'s
    items as :math:`\mathbf s_u = \mathbf x_u B`: a weighted sum of the items the user interacted
    with, like item-based CF — but the weights :math:`B` are *learned* to reconstruct
    :math:`X` from itself, with a zero diagonal so that no item can simply predict itself:

    .. math:: \min_B \|X - XB\|_F^2 + \lambda \|B\|_F^2
              \quad \text{subject to } \operatorname{diag}(B) = 0 .

    The solution is closed-form: with :math:`P = (X^\top X + \Lambda)^{-1}`,
    :math:`B_{ij} = -P_{ij} / P_{jj}` for :math:`i \ne j` and :math:`B_{jj} = 0`.

    ``regularization`` is :math:`\lambda`. ``dropout`` :math:`p` adds Steck's (2020) *emphasised
    denoising* penalty: :math:`\Lambda = \lambda I + \frac{p}{1-p} \operatorname{diagMat}(X^\top
    X)`, the closed form of training with input dropout :math:`p`, which regularises popular
    items more; ``dropout=0`` is plain EASE.

    Parameters
    ----------
    regularization : float > 0
        :math:`\lambda`.
    dropout : float in [0, 1)
        :math:`p`; 0 is plain EASE.

    It ranks items; it does not predict ratings (``predict`` raises). Every rating counts as an
    interaction. Unknown users score 0 everywhere (``recommend`` then falls back to item order).
    Memory grows as items²: fine for thousands of items, not for millions (chapter 10).
    Defaults are the values chapter 05 selects on validation data.

    Attributes: ``weights_`` (items × items :math:`B`).
    """

    predicts_ratings = False

    def __init__(self, regularization: float = 500.0, dropout: float = 0.67):
        self.regularization = regularization
        self.dropout = dropout

    def fit(self, ratings: pd.DataFrame) -> EASE:
        check_number("regularization", self.regularization, above=0)
        check_number("dropout", self.dropout, minimum=0, below=1)
        matrix = self._fit_matrix(ratings)
        x = matrix.copy()
        x.data = np.ones_like(x.data)
        self._interactions = x
        gram = (x.T @ x).toarray()
        diagonal = np.diag(gram).copy()
        penalty = self.regularization + self.dropout / (1 - self.dropout) * diagonal  # of Λ
        gram[np.diag_indices_from(gram)] += penalty
        p = np.linalg.inv(gram)
        weights = -p / np.diag(p)
        np.fill_diagonal(weights, 0.0)
        self.weights_ = weights
        return self

    def _score_users(self, u):
        scores = np.zeros((len(u), len(self.items_)))
        known = u >= 0
        scores[known] = self._interactions[u[known]] @ self.weights_
        return scores

    def _predict_index(self, u, i):
        return self._pair_scores_from_users(u, i, unknown_item=0.0)


class ImplicitALS(Recommender):
    r"""Weighted matrix factorisation for implicit feedback (Hu, Koren & Volinsky, 2008).

    Every (user, item) cell is a preference :math:`p_{ui} = 1` if the user interacted with the
    item, else 0, with a confidence :math:`c_{ui} = 1 + \alpha` for interactions and 1 for the
    rest. Factors minimise

    .. math:: \sum_{u,i} c_{ui} (p_{ui} - \mathbf x_u^\top \mathbf y_i)^2
              + \lambda \Bigl(\sum_u \|\mathbf x_u\|^2 + \sum_i \|\mathbf y_i\|^2\Bigr)

    over *all* cells, by alternating exact least-squares solves:
    :math:`\mathbf x_u = (Y^\top Y + \alpha\, Y_u^\top Y_u + \lambda I)^{-1} (1 + \alpha)
    Y_u^\top \mathbf 1`, where :math:`Y_u` holds the factors of the items :math:`u` interacted
    with (and symmetrically for items). The :math:`Y^\top Y` trick makes each solve cost only
    the user's own interactions. Seeded initialisation; ranks items, does not predict ratings.

    Parameters
    ----------
    n_factors : int
        Length of :math:`\mathbf x_u` and :math:`\mathbf y_i`.
    regularization : float >= 0
        :math:`\lambda`.
    alpha : float > 0
        :math:`\alpha`, how much more an interaction counts than a missing cell.
    n_iterations : int
        Alternations (each solves every user, then every item).
    seed : int
        The random start of the factors.

    Defaults: ``regularization`` and ``n_iterations`` are fixed, not tuned. ``n_factors=32`` and
    ``alpha=2`` were chapter 05's choice on a 2 x 2 grid; its wider grid (8-32 factors, alpha
    0.5-5) now prefers 16 factors and alpha = 1 on validation data, and the chapter uses those.
    The defaults are kept so that chapters 06-10, which use them, keep their stored numbers.
    """

    predicts_ratings = False

    def __init__(self, n_factors: int = 32, regularization: float = 5.0, alpha: float = 2.0,
                 n_iterations: int = 15, seed: int = 0):  # fmt: skip
        self.n_factors = n_factors
        self.regularization = regularization
        self.alpha = alpha
        self.n_iterations = n_iterations
        self.seed = seed

    def fit(self, ratings: pd.DataFrame) -> ImplicitALS:
        check_positive_int("n_factors", self.n_factors)
        check_positive_int("n_iterations", self.n_iterations)
        check_number("alpha", self.alpha, above=0)
        check_number("regularization", self.regularization, minimum=0)
        check_seed(self.seed)
        matrix = self._fit_matrix(ratings)
        x = matrix.copy()
        x.data = np.ones_like(x.data)
        rng = np.random.default_rng(self.seed)
        self.user_factors_ = rng.normal(0, 0.01, (x.shape[0], self.n_factors))
        self.item_factors_ = rng.normal(0, 0.01, (x.shape[1], self.n_factors))
        by_item = x.T.tocsr()
        with task("ImplicitALS") as shown:
            for iteration in range(1, self.n_iterations + 1):
                shown.update(f"iteration {iteration} of {self.n_iterations}")
                self.user_factors_ = self._solve(x, self.item_factors_)
                self.item_factors_ = self._solve(by_item, self.user_factors_)
        return self

    def _solve(self, interactions, other):
        """One half-step: new factors for every row of ``interactions`` given ``other``."""
        f = other.shape[1]
        base = other.T @ other + self.regularization * np.eye(f)
        out = np.zeros((interactions.shape[0], f))
        for row in range(interactions.shape[0]):  # one small f x f solve per user (or item)
            cols = interactions.indices[interactions.indptr[row]:interactions.indptr[row + 1]]
            if len(cols) == 0:
                continue
            y = other[cols]
            out[row] = np.linalg.solve(base + self.alpha * y.T @ y,
                                       (1 + self.alpha) * y.sum(axis=0))  # fmt: skip
        return out

    def _item_similarities(self, i):
        r"""Cosine of the learned item factors, :math:`\mathbf y_i^\top \mathbf y_j /
        (\|\mathbf y_i\| \|\mathbf y_j\|)` (0 for an all-zero factor); used by
        :meth:`~recsys_helpers.base.Recommender.similar_items`."""
        return _factor_cosine(self.item_factors_, i)

    def _predict_index(self, u, i):
        ok = (u >= 0) & (i >= 0)
        dot = np.einsum("nf,nf->n", self.user_factors_[np.maximum(u, 0)],
                        self.item_factors_[np.maximum(i, 0)])  # fmt: skip
        return np.where(ok, dot, 0.0)

    def _score_users(self, u):
        scores = self.user_factors_[np.maximum(u, 0)] @ self.item_factors_.T
        scores[u < 0] = 0.0
        return scores
