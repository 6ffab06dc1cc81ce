"""Train/test splits. Chapter 03 uses the official folds and a random split; chapter 09 adds
per-user, temporal and leave-last-out splits.

Every split returns :class:`~recsys_helpers.datasets.Fold` ``(train, test)`` pairs of ratings
tables, and every random split takes a ``seed``: the same seed gives the same split.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .datasets import Fold, MovieLens
from .interactions import validate_ratings

__all__ = ["official_folds", "random_split"]


def official_folds(data: MovieLens, names=("u1", "u2", "u3", "u4", "u5")) -> list[Fold]:
    """ML-100K's official folds: by default the five disjoint 80/20 splits ``u1`` … ``u5``,
    whose test sets together hold every rating once (the standard 5-fold protocol)."""
    if not data.folds:
        raise ValueError(f"{data.name} has no official folds (only ml-100k has)")
    missing = [n for n in names if n not in data.folds]
    if missing:
        raise ValueError(f"unknown fold(s) {missing}; {data.name} has {list(data.folds)}")
    return [data.folds[n] for n in names]


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
