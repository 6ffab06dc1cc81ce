"""Train/test splits. Chapter 03 uses the official folds and a random split; chapter 09 adds
per-user, temporal and leave-last-out splits.

Every split returns :class:`~recsys_helpers.datasets.Fold` ``(train, test)`` pairs of ratings
tables, and every random split takes a ``seed``: the same seed gives the same split.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from .datasets import Fold, MovieLens
from .interactions import validate_ratings

__all__ = [
    "LeaveLastOut",
    "leave_last_out",
    "official_folds",
    "random_split",
    "rating_folds",
    "stratified_split",
    "temporal_split",
]


class LeaveLastOut(NamedTuple):
    """Per-user leave-last-out: everything but the last two, the second-to-last, the last."""

    train: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame


def official_folds(data: MovieLens, names=("u1", "u2", "u3", "u4", "u5")) -> list[Fold]:
    """ML-100K's official folds: by default the five disjoint 80/20 splits ``u1`` … ``u5``,
    whose test sets together hold every rating once (the standard 5-fold protocol)."""
    if not data.folds:
        raise ValueError(f"{data.name} has no official folds (only ml-100k has)")
    missing = [n for n in names if n not in data.folds]
    if missing:
        raise ValueError(f"unknown fold(s) {missing}; {data.name} has {list(data.folds)}")
    return [data.folds[n] for n in names]


def rating_folds(data: MovieLens, n_folds: int = 5, seed: int = 0) -> list[Fold]:
    """The rating-prediction folds of chapters 03–05 and 09, for any data set.

    ML-100K's official folds ``u1`` … ``u5`` when the data set has them; otherwise ``n_folds``
    disjoint random folds (a seeded permutation cut into ``n_folds`` parts, so every rating is in
    exactly one test set, as with the official folds). This is what lets those chapters run on
    ML-1M or a reader's own CSV through the ``DATASET`` switch.
    """
    if data.folds:
        official = sorted(name for name in data.folds if name[1:].isdigit())
        if n_folds != len(official):
            raise ValueError(f"{data.name} has {len(official)} official folds ({', '.join(official)}), "
                             f"which together test every rating once; n_folds={n_folds} would use "
                             f"only some of them. Use n_folds={len(official)}, or official_folds() "
                             "to choose folds by name")
        return official_folds(data, names=official)
    ratings = data.ratings
    if n_folds < 2 or n_folds > len(ratings):
        raise ValueError(f"n_folds must be between 2 and the number of ratings, got {n_folds}")
    order = np.random.default_rng(seed).permutation(len(ratings))
    parts = np.array_split(order, n_folds)
    folds = []
    for part in parts:
        held_out = np.zeros(len(ratings), dtype=bool)
        held_out[part] = True
        folds.append(Fold(ratings[~held_out].reset_index(drop=True),
                          ratings[held_out].reset_index(drop=True)))  # fmt: skip
    return folds


def random_split(ratings: pd.DataFrame, test_size: float = 0.2, seed: int = 0) -> Fold:
    """Hold out a random ``test_size`` share of the ratings (rounded down), uniformly.

    Users or items whose ratings all land in the test part are unknown to a model trained on
    the train part; the models' fallbacks handle them.
    """
    validate_ratings(ratings)
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size!r}")
    order = np.random.default_rng(seed).permutation(len(ratings))
    n_test = int(len(ratings) * test_size)
    if n_test == 0 or n_test == len(ratings):
        raise ValueError(f"test_size={test_size} leaves an empty train or test set")
    test = np.sort(order[:n_test])
    train = np.sort(order[n_test:])
    return Fold(ratings.iloc[train].reset_index(drop=True), ratings.iloc[test].reset_index(drop=True))


def _round_half_up(x):
    return np.floor(np.asarray(x, dtype=float) + 0.5).astype(np.int64)


def stratified_split(ratings: pd.DataFrame, test_size: float = 0.25, seed: int = 0) -> Fold:
    r"""Hold out a random ``test_size`` share of *each user's* ratings.

    User :math:`u` with :math:`n_u` ratings gets :math:`\mathrm{round}(n_u \cdot
    \mathrm{test\_size})` of them, chosen at random, in the test part, but always keeps at least
    one in the train part; so every test user is known to the model. This is the protocol
    Microsoft Recommenders publishes its ML-100K top-N results on (75/25, ``test_size=0.25``).
    """
    validate_ratings(ratings)
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size!r}")
    permutation = np.random.default_rng(seed).permutation(len(ratings))
    shuffled = ratings.iloc[permutation]
    position = shuffled.groupby("user_id", sort=False).cumcount().to_numpy()
    size = shuffled.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    n_test = np.minimum(_round_half_up(size * test_size), size - 1)
    is_test = np.empty(len(ratings), dtype=bool)  # by row position: index labels may repeat
    is_test[permutation] = position < n_test
    if not is_test.any():
        raise ValueError(f"test_size={test_size} holds out nothing: every user keeps at least one "
                         "rating for training, and no user has enough ratings to give one to the "
                         "test part")
    return Fold(ratings[~is_test].reset_index(drop=True),
                ratings[is_test].reset_index(drop=True))  # fmt: skip


def _time_order(ratings: pd.DataFrame) -> np.ndarray:
    """Row order by time; ties broken by user then item id, so the order is deterministic."""
    return np.lexsort((ratings["item_id"].to_numpy(), ratings["user_id"].to_numpy(),
                       ratings["timestamp"].to_numpy()))  # fmt: skip


def temporal_split(ratings: pd.DataFrame, test_size: float = 0.2) -> Fold:
    """Global temporal split: the latest ``test_size`` share of all ratings is the test part.

    Every training rating is at least as old as every test rating, as when a system trained
    today is judged on tomorrow's ratings. Users and items that first appear after the cut are
    unknown to the model (cold start): that is part of what this protocol measures.
    """
    validate_ratings(ratings, require_timestamp=True)
    if not 0 < test_size < 1:
        raise ValueError(f"test_size must be between 0 and 1, got {test_size!r}")
    order = _time_order(ratings)
    n_test = int(len(ratings) * test_size)
    if n_test == 0 or n_test == len(ratings):
        raise ValueError(f"test_size={test_size} leaves an empty train or test set")
    cut = len(ratings) - n_test
    return Fold(ratings.iloc[np.sort(order[:cut])].reset_index(drop=True),
                ratings.iloc[np.sort(order[cut:])].reset_index(drop=True))  # fmt: skip


def leave_last_out(ratings: pd.DataFrame) -> LeaveLastOut:
    """Per user, by time: the last interaction is the test item, the one before it the
    validation item, and everything earlier the training data.

    Ties in time are broken by item id, so the split is deterministic. Users with fewer than
    three interactions stay entirely in the training part (there is nothing to hold out without
    leaving them empty). The standard protocol for next-item recommendation (chapters 07–09).
    """
    validate_ratings(ratings, require_timestamp=True)
    order = _time_order(ratings)
    ordered = ratings.iloc[order]
    from_end = ordered.groupby("user_id", sort=False).cumcount(ascending=False).to_numpy()
    size = ordered.groupby("user_id", sort=False)["user_id"].transform("size").to_numpy()
    eligible = size >= 3
    in_order = np.where(eligible & (from_end == 0), 2, np.where(eligible & (from_end == 1), 1, 0))
    role = np.empty(len(ratings), dtype=np.int64)  # by row position: index labels may repeat
    role[order] = in_order
    parts = [ratings[role == r].reset_index(drop=True) for r in (0, 1, 2)]
    return LeaveLastOut(*parts)
