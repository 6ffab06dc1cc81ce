r"""Baseline predictors: the numbers any cleverer model has to beat.

Chapter 03 uses them as the fallback of the neighbourhood models and chapter 05 introduces them
properly ("Baseline predictors").

* :class:`GlobalMean` predicts :math:`\hat r_{ui} = \mu` for everybody.
* :class:`Popularity` recommends the items most users interacted with — the same list for
  everybody, and a surprisingly strong top-N baseline (chapter 09).
* :class:`BiasedBaseline` predicts :math:`\hat r_{ui} = b_{ui} = \mu + b_u + b_i`: a user who
  rates everything generously gets a positive :math:`b_u`, a movie everybody loves a positive
  :math:`b_i`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .base import Recommender, check_number, check_positive_int
from .interactions import item_counts

__all__ = ["BiasedBaseline", "GlobalMean", "Popularity"]


class GlobalMean(Recommender):
    r"""Predict the mean training rating :math:`\mu` for every pair."""

    def fit(self, ratings: pd.DataFrame) -> GlobalMean:
        self._fit_matrix(ratings)
        return self

    def _predict_index(self, u, i):
        return np.full(len(u), self.global_mean_)


class Popularity(Recommender):
    r"""Rank items by popularity: :math:`\mathrm{score}(u, i) = |U_i|`, the number of training
    users who interacted with item :math:`i`, whoever :math:`u` is.

    It ranks; it does not predict ratings (``predict`` raises). Ties are broken by item id.
    Unknown items score 0. Attributes: ``counts_`` (aligned with ``items_.ids``).
    """

    predicts_ratings = False

    def fit(self, ratings: pd.DataFrame) -> Popularity:
        matrix = self._fit_matrix(ratings)
        self.counts_ = item_counts(matrix)
        return self

    def _predict_index(self, u, i):
        return np.where(i >= 0, self.counts_[np.maximum(i, 0)], 0.0)

    def _score_users(self, u):
        return np.broadcast_to(self.counts_, (len(u), len(self.counts_))).copy()


class BiasedBaseline(Recommender):
    r"""User and item biases, regularised, fitted by alternating least squares.

    Prediction: :math:`\hat r_{ui} = \mu + b_u + b_i`, with :math:`\mu` the mean training rating.
    The biases minimise

    .. math:: \sum_{(u,i) \in \mathcal R} (r_{ui} - \mu - b_u - b_i)^2
              + \lambda_u \sum_u b_u^2 + \lambda_i \sum_i b_i^2 ,

    found by alternating the two closed-form updates (each exact given the other) for
    ``n_epochs`` rounds, items first:

    .. math:: b_i \leftarrow \frac{\sum_{u \in U_i} (r_{ui} - \mu - b_u)}{\lambda_i + |U_i|},
              \qquad
              b_u \leftarrow \frac{\sum_{i \in I_u} (r_{ui} - \mu - b_i)}{\lambda_u + |I_u|} .

    The regulariser shrinks the bias of a user or item with few ratings towards 0: with
    :math:`\lambda_i = 10`, a movie rated once is trusted a tenth as much as its one rating says.
    An unknown user or item has bias 0. Defaults (``regularization_user=15``,
    ``regularization_item=10``, ``n_epochs=10``) are Koren's (2010) and Surprise's.

    Parameters
    ----------
    regularization_user, regularization_item : float >= 0
        :math:`\lambda_u` and :math:`\lambda_i`.
    n_epochs : int
        Rounds of the two alternating updates.

    Attributes
    ----------
    user_bias_, item_bias_ : ndarray
        :math:`b_u` and :math:`b_i`, aligned with ``users_.ids`` and ``items_.ids``.
    """

    def __init__(self, regularization_user: float = 15.0, regularization_item: float = 10.0,
                 n_epochs: int = 10):  # fmt: skip
        self.regularization_user = regularization_user
        self.regularization_item = regularization_item
        self.n_epochs = n_epochs

    def fit(self, ratings: pd.DataFrame) -> BiasedBaseline:
        self._check_params()
        return self._learn(self._fit_matrix(ratings))

    def _check_params(self) -> None:
        check_number("regularization_user", self.regularization_user, minimum=0)
        check_number("regularization_item", self.regularization_item, minimum=0)
        check_positive_int("n_epochs", self.n_epochs)

    def _fit_like(self, fitted) -> BiasedBaseline:
        """Fit on the training data another model has already checked and indexed."""
        self._check_params()
        for name in ("users_", "items_", "train_matrix_", "global_mean_", "rating_scale_"):
            setattr(self, name, getattr(fitted, name))
        return self._learn(self.train_matrix_)

    def _learn(self, matrix) -> BiasedBaseline:
        matrix = matrix.tocoo()
        rows, cols, r = matrix.row, matrix.col, matrix.data - self.global_mean_
        n_users, n_items = matrix.shape
        per_user = np.bincount(rows, minlength=n_users)
        per_item = np.bincount(cols, minlength=n_items)
        bu, bi = np.zeros(n_users), np.zeros(n_items)
        for _ in range(self.n_epochs):
            bi = np.bincount(cols, r - bu[rows], n_items) / (self.regularization_item + per_item)
            bu = np.bincount(rows, r - bi[cols], n_users) / (self.regularization_user + per_user)
        self.user_bias_, self.item_bias_ = bu, bi
        return self

    def baseline_index(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:
        r""":math:`b_{ui}` for user/item positions, with 0 bias where a position is -1."""
        bu = np.where(u >= 0, self.user_bias_[np.maximum(u, 0)], 0.0)
        bi = np.where(i >= 0, self.item_bias_[np.maximum(i, 0)], 0.0)
        return self.global_mean_ + bu + bi

    def _predict_index(self, u, i):
        return self.baseline_index(u, i)
