"""Plumbing shared by every model: the book's estimator contract, written once.

The contract, in the scikit-learn habit: hyper-parameters in ``__init__`` (stored as given),
learning in ``fit(ratings) -> self``, learned state in attributes ending in ``_``;
``predict(pairs)`` returns a rating for each ``(user_id, item_id)`` row, falling back to a
documented baseline for unknown users or items; ``recommend(user_ids, k, exclude_seen)`` returns
``user_id, item_id, score, rank`` sorted by user, then rank.

A model subclasses :class:`Recommender` and implements ``fit`` (calling :meth:`_fit_matrix`
first) and ``_predict_index(u, i)``, which scores aligned arrays of user and item *positions*
(``-1`` for an id unseen in training) and must handle ``-1`` by falling back to its documented
baseline. The base class turns that into ``predict`` (clipped to the rating scale) and
``recommend`` (a ranked top-k table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .interactions import rating_matrix, validate_ratings


def check_positive_int(name: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 1 (parameters like k, n_epochs)."""
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


class Recommender:
    """Base class: id maps, the training matrix, ``predict``, ``score`` and ``recommend``."""

    #: False for models that rank items but do not model ratings (Popularity, EASE, ALS):
    #: their ``predict`` raises, and ``score``/``recommend`` are what they offer.
    predicts_ratings = True

    # -- to be provided by subclasses --------------------------------------------------------
    def fit(self, ratings: pd.DataFrame):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_index(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_")
                           and not k.startswith("_"))  # fmt: skip
        return f"{type(self).__name__}({params})"

    def _fit_matrix(self, ratings: pd.DataFrame) -> sp.csr_matrix:
        """Validate the training ratings and remember what every model needs from them."""
        validate_ratings(ratings)
        if len(ratings) == 0:
            raise ValueError("cannot fit on an empty ratings table")
        matrix, self.users_, self.items_ = rating_matrix(ratings)
        self.train_matrix_ = matrix
        self.global_mean_ = float(matrix.data.mean())
        self.rating_scale_ = (float(matrix.data.min()), float(matrix.data.max()))
        return matrix

    def _check_fitted(self) -> None:
        if not hasattr(self, "train_matrix_"):
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit(ratings)")

    def _pair_index(self, pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        validate_ratings(pairs, require_rating=False, allow_duplicates=True)
        u = self.users_.index(pairs["user_id"].to_numpy(), unknown="ignore")
        i = self.items_.index(pairs["item_id"].to_numpy(), unknown="ignore")
        return u, i

    def predict(self, pairs: pd.DataFrame) -> np.ndarray:
        """Predicted rating for each ``(user_id, item_id)`` row of ``pairs``, clipped to the
        training data's rating scale. Unknown users or items get the model's fallback."""
        if not self.predicts_ratings:
            raise TypeError(
                f"{type(self).__name__} ranks items; it does not predict ratings. "
                "Use score(pairs) or recommend(user_ids)."
            )
        u, i = self._pair_index(pairs)
        return np.clip(self._predict_index(u, i), *self.rating_scale_)

    def score(self, pairs: pd.DataFrame) -> np.ndarray:
        """The model's raw score for each ``(user_id, item_id)`` row (higher = better): the
        unclipped predicted rating for rating models, a ranking score for the others. This is
        what ``recommend`` sorts by."""
        u, i = self._pair_index(pairs)
        return self._predict_index(u, i)

    def _score_users(self, u: np.ndarray) -> np.ndarray:
        """Scores of every training item for the user positions ``u`` (rows) — unclipped, so
        that items predicted above the top of the scale stay ordered."""
        n_items = len(self.items_)
        users = np.repeat(u, n_items)
        items = np.tile(np.arange(n_items), len(u))
        return self._predict_index(users, items).reshape(len(u), n_items)

    def _pair_scores_from_users(self, u: np.ndarray, i: np.ndarray,
                                unknown_item: float) -> np.ndarray:  # fmt: skip
        """``_predict_index`` for models that score a user's whole catalogue at once: each
        distinct user is scored once by ``_score_users``, then the pairs are read off; an
        unknown item (``i == -1``) gets ``unknown_item``."""
        users, row = np.unique(u, return_inverse=True)
        scores = self._score_users(users)
        return np.where(i >= 0, scores[row, np.maximum(i, 0)], unknown_item)

    def recommend(self, user_ids, k: int = 10, exclude_seen: bool = True) -> pd.DataFrame:
        """Top-``k`` items for each user, best first.

        Returns a DataFrame with columns ``user_id, item_id, score, rank`` (rank 1 is best),
        sorted by user then rank. Items the user rated in training are left out when
        ``exclude_seen``. An unknown user gets the model's fallback ranking. Ties are broken by
        item id, so the result is deterministic.
        """
        self._check_fitted()
        check_positive_int("k", k)
        user_ids = np.asarray(user_ids).ravel()
        u = self.users_.index(user_ids, unknown="ignore")
        scores = self._score_users(u).astype(np.float64)
        if exclude_seen:
            known = np.flatnonzero(u >= 0)
            seen = self.train_matrix_[u[known]].tocoo()
            scores[known[seen.row], seen.col] = -np.inf
        k_eff = min(k, scores.shape[1])
        # Sort by (-score, item position): stable and deterministic under ties.
        order = np.argsort(-scores, axis=1, kind="stable")[:, :k_eff]
        top = np.take_along_axis(scores, order, axis=1)
        frame = pd.DataFrame(
            {
                "user_id": np.repeat(user_ids, k_eff),
                "item_id": self.items_.ids[order.ravel()],
                "score": top.ravel(),
                "rank": np.tile(np.arange(1, k_eff + 1), len(user_ids)),
            }
        )
        return frame[np.isfinite(frame["score"])].reset_index(drop=True)

