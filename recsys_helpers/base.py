"""The book's estimator contract, written once: the base class every model subclasses.

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

Two promises hold for every subclass without it doing anything:

* **A fit is all or nothing.** Each ``fit`` starts from a clean slate (nothing learned from
  earlier data survives a refit), and a ``fit`` that raises — a bad parameter found late, a
  training run that diverges, a ``MemoryError``, a ``KeyboardInterrupt`` in a notebook — leaves
  the model as it was before the call: still unfitted, or still the previous fit. The base
  class wraps each subclass's ``fit`` for this (see :meth:`Recommender.__init_subclass__`).
  Learned state is what ``fit`` stores in attributes ending in ``_`` or starting with ``_``
  (private caches): set private helpers in ``fit``, not in ``__init__``.
* **One error vocabulary.** Using a model before ``fit`` raises :class:`NotFittedError`; a bad
  hyper-parameter raises ``ValueError`` naming it (the ``check_*`` helpers below); training that
  becomes non-finite raises :class:`TrainingDivergedError`; ids of the wrong type (strings for a
  model trained on integers) raise ``ValueError`` saying so. Where an answer is *about* one
  user or item (``similar_items``, ``explain``), an id the model never saw raises ``KeyError``
  naming it; ``predict`` and ``recommend`` fall back instead, as documented.

Models that know how alike two items are (``ItemKNN``'s similarities, the cosine of learned item
factors) implement ``_item_similarities(i)``; the base class turns it into
:meth:`Recommender.similar_items`, one method for every such model (as the ``implicit`` library
does).
"""

from __future__ import annotations

import copy
import functools
import inspect
import math
import numbers
import operator

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .interactions import rating_matrix, validate_ratings

__all__ = [
    "NotFittedError",
    "Recommender",
    "TrainingDivergedError",
    "check_number",
    "check_positive_int",
    "check_seed",
    "clone",
    "top_k",
]


class NotFittedError(RuntimeError):
    """A model was asked to predict, score or recommend before ``fit`` succeeded."""


class TrainingDivergedError(FloatingPointError):
    """Training produced a non-finite loss or parameter (a learning rate too large for the data,
    or a non-finite setting); the model is left as it was before ``fit``."""


def check_positive_int(name: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is an integer >= 1 (parameters like k, n_epochs)."""
    if not (isinstance(value, (int, np.integer)) and not isinstance(value, bool) and value >= 1):
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_seed(seed) -> None:
    """Raise ``ValueError`` unless ``seed`` is an integer >= 0 (what NumPy and Keras accept)."""
    if not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")


def check_number(name: str, value, *, minimum: float | None = None, above: float | None = None,
                 maximum: float | None = None, below: float | None = None) -> None:  # fmt: skip
    """Raise ``ValueError`` unless ``value`` is a finite real number within the bounds:
    ``>= minimum``, ``> above``, ``<= maximum``, ``< below`` (each optional), e.g.
    ``check_number("dropout", p, minimum=0, below=1)``. NaN, infinities, booleans and
    non-numbers are refused whatever the bounds."""
    wanted = [(symbol, test, bound) for symbol, test, bound in
              ((">=", operator.ge, minimum), (">", operator.gt, above),
               ("<=", operator.le, maximum), ("<", operator.lt, below)) if bound is not None]
    ok = (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
          and math.isfinite(value)
          and all(test(value, bound) for _, test, bound in wanted))  # fmt: skip
    if not ok:
        condition = "".join(f" {symbol} {bound}" for symbol, _, bound in wanted[:1]) + "".join(
            f" and {symbol} {bound}" for symbol, _, bound in wanted[1:])
        raise ValueError(f"{name} must be a finite number{condition}, got {value!r}")


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the ``k`` highest ``scores`` along the last axis, best first; ties go to the
    smaller position (a stable sort of ``-scores``), so every ranking in the package is
    deterministic and breaks ties by id (ids are sorted in an :class:`IdMap`)."""
    return np.argsort(-scores, axis=-1, kind="stable")[..., :k]


def clone(model: Recommender) -> Recommender:
    """A new, unfitted model with the same hyper-parameters (copied, so that the two never share
    a mutable setting) — scikit-learn's ``clone``. Evaluation fits clones, never the model it
    was given."""
    if not isinstance(model, Recommender):
        raise TypeError(f"clone expects a Recommender, got {type(model).__name__}")
    return type(model)(**copy.deepcopy(model.get_params()))


def _learned(name: str) -> bool:
    """Learned state, by the contract's naming: ``fitted_`` attributes and private ``_caches``;
    hyper-parameters (plain names) are not. So a model sets private helpers in ``fit``, never
    in ``__init__`` (where ``fit`` would find them cleared)."""
    return name.endswith("_") or name.startswith("_")


#: ids of the models inside a wrapped ``fit`` now: a subclass's ``fit`` that calls
#: ``super().fit(...)`` is one fit, not two (the inner call must not clear what the outer set).
_FITTING: set[int] = set()


def _all_or_nothing(fit):
    """Wrap a ``fit`` method: start from a clean slate; on any exception, restore the model's
    state from before the call, then re-raise. The snapshot is shallow: a ``fit`` must not
    change a hyper-parameter's value in place (the contract stores them as given)."""

    @functools.wraps(fit)
    def wrapper(self, *args, **kwargs):
        if id(self) in _FITTING:  # super().fit(...) inside a wrapped fit
            return fit(self, *args, **kwargs)
        before = dict(vars(self))
        for name in [n for n in before if _learned(n)]:
            delattr(self, name)
        _FITTING.add(id(self))
        try:
            return fit(self, *args, **kwargs)
        except BaseException:
            vars(self).clear()
            vars(self).update(before)
            raise
        finally:
            _FITTING.discard(id(self))

    wrapper._all_or_nothing = True
    return wrapper


class Recommender:
    """Base class: id maps, the training matrix, ``predict``, ``score`` and ``recommend``."""

    #: False for models that rank items but do not model ratings (Popularity, EASE, ALS):
    #: their ``predict`` raises, and ``score``/``recommend`` are what they offer.
    predicts_ratings = True

    def __init_subclass__(cls, **kwargs):
        """Make every subclass's ``fit`` all or nothing (see the module docstring); its source
        as written stays what ``inspect.getsource`` shows."""
        super().__init_subclass__(**kwargs)
        fit = cls.__dict__.get("fit")
        if fit is not None and not getattr(fit, "_all_or_nothing", False):
            cls.fit = _all_or_nothing(fit)

    # -- to be provided by subclasses --------------------------------------------------------
    def fit(self, ratings: pd.DataFrame):  # pragma: no cover - abstract
        raise NotImplementedError

    def _predict_index(self, u: np.ndarray, i: np.ndarray) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError

    # -- shared ------------------------------------------------------------------------------
    @classmethod
    def _param_names(cls) -> list[str]:
        """The hyper-parameters: the arguments of ``__init__``, each stored under its name.

        A subclass whose ``__init__`` passes ``**settings`` on to its parent's (``def
        __init__(self, mask_share=0.2, **settings)``) has its parent's parameters too, so that
        ``clone`` and ``get_params`` keep every setting it was given."""
        names: list[str] = []
        for klass in cls.__mro__:
            if "__init__" not in vars(klass) or klass is object:
                continue
            parameters = inspect.signature(klass.__init__).parameters.values()
            names += [p.name for p in parameters if p.name != "self" and p.name not in names
                      and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]  # fmt: skip
            if not any(p.kind == p.VAR_KEYWORD for p in parameters):
                break
        return names

    def get_params(self) -> dict:
        """The hyper-parameters as a ``{name: value}`` dict (as in scikit-learn)."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params) -> Recommender:
        """Set hyper-parameters by name and return the model; an unknown name raises
        ``ValueError`` listing the valid ones. It takes effect at the next ``fit``."""
        valid = self._param_names()
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(f"{type(self).__name__} has no parameter(s) {unknown}; "
                             f"its parameters are {valid}")
        for name, value in params.items():
            setattr(self, name, value)
        return self

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
            raise NotFittedError(f"{type(self).__name__} is not fitted yet: call fit(ratings)")

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
        return self._ranking(user_ids, scores, k)

    def _known_position(self, kind: str, id_) -> int:
        """The position of one user or item id (``kind``: ``"user"`` or ``"item"``); an id the
        model never saw raises ``KeyError`` naming it."""
        ids = self.users_ if kind == "user" else self.items_
        position = int(ids.index([id_], unknown="ignore")[0])
        if position < 0:
            raise KeyError(f"{kind}_id {id_!r} was not in the training data")
        return position

    def _item_similarities(self, i: int) -> np.ndarray:
        """How alike item position ``i`` is to every item (a vector over item positions); models
        that have an item–item similarity override this."""
        raise NotImplementedError(f"{type(self).__name__} has no item–item similarity")

    def similar_items(self, item_id, k: int = 10) -> pd.DataFrame:
        """The ``k`` items most similar to ``item_id`` by the model's own item–item similarity,
        highest first (ties go to the smaller id), the item itself left out.

        Returns a DataFrame with columns ``item_id, similarity``. An item the model never saw
        raises ``KeyError``; a model without an item–item similarity raises
        ``NotImplementedError``.
        """
        self._check_fitted()
        check_positive_int("k", k)
        i = self._known_position("item", item_id)
        similarity = np.array(self._item_similarities(i), dtype=np.float64)
        similarity[i] = -np.inf  # not itself
        top = top_k(similarity, min(k, len(similarity) - 1))
        return pd.DataFrame({"item_id": self.items_.ids[top], "similarity": similarity[top]})

    def _ranking(self, user_ids: np.ndarray, scores: np.ndarray, k: int) -> pd.DataFrame:
        """The ``recommend`` table from a users x items score matrix: top ``k`` per row (ties
        by item id), items scored ``-inf`` (excluded) left out."""
        k_eff = min(k, scores.shape[1])
        order = top_k(scores, k_eff)
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

