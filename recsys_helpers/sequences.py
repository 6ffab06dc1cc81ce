"""A user's ratings as a sequence: histories, fixed-length windows, next-item targets, negatives.

Chapters 07 and 08 treat each user's interactions, ordered by time, as a sentence of item ids and
learn to predict the next one. Sequence models need integer inputs of a fixed length, so:

* items are numbered ``1 .. n_items`` by :class:`SequenceEncoder` (an :class:`IdMap` shifted by
  one), and **0 means padding**;
* a window holds the last ``length`` items *before* a target, **left-padded** with 0 when the
  history is shorter, so the most recent item is always in the last column.

The per-user leave-last-out split itself is :func:`recsys_helpers.splits.leave_last_out`; build
windows from its training part only, and no test item can leak into an input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import check_positive_int
from .interactions import IdMap, validate_ratings

__all__ = ["SequenceEncoder", "draw_unseen", "last_windows", "sample_negatives",
           "sliding_windows", "training_sequences", "user_histories"]  # fmt: skip

PAD = 0


def user_histories(ratings: pd.DataFrame) -> pd.Series:
    """Each user's item ids in time order, as a Series of arrays indexed by ``user_id``.

    Ties in time are broken by item id, so the order is deterministic (MovieLens users often
    entered many ratings within the same second).
    """
    validate_ratings(ratings, require_rating=False, require_timestamp=True)
    ordered = ratings.sort_values(["user_id", "timestamp", "item_id"], kind="stable")
    users = ordered["user_id"].to_numpy()
    items = ordered["item_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    pieces = np.split(items, starts[1:])
    return pd.Series(pieces, index=pd.Index(users[starts], name="user_id"), name="items")


@dataclass(frozen=True)
class SequenceEncoder:
    """Item ids <-> the integers a sequence model sees: 1..n_items, with 0 for padding."""

    items: IdMap

    @classmethod
    def fit(cls, ratings: pd.DataFrame) -> SequenceEncoder:
        validate_ratings(ratings, require_rating=False)
        return cls(IdMap.from_ids(ratings["item_id"]))

    @property
    def n_tokens(self) -> int:
        """Size of the vocabulary, padding included (``n_items + 1``)."""
        return len(self.items) + 1

    def encode(self, item_ids) -> np.ndarray:
        """Item ids -> tokens 1..n_items; ids unknown to the encoder raise ``ValueError``."""
        return self.items.index(np.asarray(item_ids)) + 1

    def decode(self, tokens) -> np.ndarray:
        """Tokens -> item ids; padding (0) has no item and raises ``ValueError``."""
        tokens = np.asarray(tokens)
        if (tokens < 1).any() or (tokens > len(self.items)).any():
            raise ValueError(f"tokens must lie in 1..{len(self.items)} (0 is padding)")
        return self.items.ids[tokens - 1]


def _padded_windows(tokens: np.ndarray, lengths: np.ndarray, length: int, targets_from: int):
    """All windows of ``length`` tokens before each target position of each sequence.

    ``tokens`` is the concatenation of the sequences, ``lengths`` their lengths. A sequence of
    n tokens yields targets at positions ``targets_from .. n-1`` (0-based) and one window each.
    """
    # Prefix every sequence with `length` padding tokens, then read windows with a strided view.
    offsets = np.cumsum(np.r_[0, lengths[:-1]])
    padded = np.full(len(tokens) + length * len(lengths), PAD, dtype=np.int64)
    starts = offsets + length * np.arange(len(lengths))
    position_in_padded = np.repeat(starts + length, lengths) + (
        np.arange(len(tokens)) - np.repeat(offsets, lengths))
    padded[position_in_padded] = tokens
    view = np.lib.stride_tricks.sliding_window_view(padded, length)
    within = np.arange(len(tokens)) - np.repeat(offsets, lengths)  # position in own sequence
    keep = within >= targets_from
    target_positions = position_in_padded[keep]
    return view[target_positions - length], tokens[keep], keep


def sliding_windows(histories: pd.Series, encoder: SequenceEncoder, length: int,
                    min_history: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Training examples for next-item prediction: every (previous ``length`` items, next item).

    For a history :math:`(i_1, \\dots, i_n)` the targets are :math:`i_{t}` for
    :math:`t > \\text{min\\_history}` and each input window is :math:`(i_{t-L}, \\dots, i_{t-1})`,
    left-padded with 0. Returns ``(windows, targets, user_ids)``: an int array of shape
    (n_examples, length) of tokens, the target tokens, and the user of each example.
    """
    check_positive_int("length", length)
    if min_history < 1:
        raise ValueError(f"min_history must be >= 1, got {min_history!r}")
    if len(histories) == 0:
        raise ValueError("histories is empty")
    lengths = np.array([len(h) for h in histories])
    tokens = encoder.encode(np.concatenate(histories.to_numpy()))
    windows, targets, keep = _padded_windows(tokens, lengths, length, min_history)
    users = np.repeat(histories.index.to_numpy(), lengths)[keep]
    return np.ascontiguousarray(windows), targets, users


def training_sequences(histories: pd.Series, encoder: SequenceEncoder, length: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Training examples for models that predict the next item at *every* position (SASRec,
    chapter 11), rather than after one window (:func:`sliding_windows`).

    A history :math:`(i_1, \\dots, i_n)` gives the inputs :math:`(i_1, \\dots, i_{n-1})` and the
    targets :math:`(i_2, \\dots, i_n)`, shifted by one: the target at each position is the item
    that follows it. Long histories are cut from the end into rows of ``length`` positions (the
    last row holds the most recent items; older rows hold what came before, so every next-item
    pair is used exactly once), and short rows are left-padded with 0 in both arrays. Returns
    ``(inputs, targets, user_ids)``: two int arrays of shape (n_rows, length) and the user of
    each row. Histories of one item have no target and give no row.
    """
    check_positive_int("length", length)
    if len(histories) == 0:
        raise ValueError("histories is empty")
    lengths = np.array([len(h) for h in histories]) - 1  # next-item pairs per user
    tokens = encoder.encode(np.concatenate(histories.to_numpy()))
    ends = np.cumsum(lengths + 1)
    keep_input = np.ones(len(tokens), dtype=bool)
    keep_input[ends - 1] = False  # a user's last item is no input
    keep_target = np.ones(len(tokens), dtype=bool)
    keep_target[ends - lengths - 1] = False  # a user's first item is no target
    inputs, targets = tokens[keep_input], tokens[keep_target]
    # Rows per user: ceil(pairs / length); row r of a user ends `r * length` pairs before the end.
    rows_per_user = -(-lengths // length)
    n_rows = int(rows_per_user.sum())
    user_of_row = np.repeat(np.arange(len(lengths)), rows_per_user)
    row_in_user = np.arange(n_rows) - np.repeat(np.cumsum(rows_per_user) - rows_per_user,
                                                 rows_per_user)  # 0 = the most recent row
    pair_start = np.cumsum(lengths) - lengths  # first pair of each user in inputs/targets
    end = pair_start[user_of_row] + lengths[user_of_row] - row_in_user * length  # exclusive
    start = np.maximum(end - length, pair_start[user_of_row])
    out_inputs = np.full((n_rows, length), PAD, dtype=np.int64)
    out_targets = np.full((n_rows, length), PAD, dtype=np.int64)
    for row in range(n_rows):  # one slice per row (a few thousand rows for MovieLens 100K)
        n = end[row] - start[row]
        out_inputs[row, length - n:] = inputs[start[row]:end[row]]
        out_targets[row, length - n:] = targets[start[row]:end[row]]
    order = np.lexsort((-row_in_user, user_of_row))  # each user's rows oldest first
    users = histories.index.to_numpy()[user_of_row]
    return out_inputs[order], out_targets[order], users[order]


def last_windows(histories: pd.Series, encoder: SequenceEncoder, length: int) -> np.ndarray:
    """The window that predicts what comes *after* each whole history (one row per user, in
    the order of ``histories``): the input for recommending each user's next item."""
    check_positive_int("length", length)
    out = np.full((len(histories), length), PAD, dtype=np.int64)
    for row, history in enumerate(histories.to_numpy()):  # one short slice per user
        recent = encoder.encode(history[-length:])
        out[row, length - len(recent):] = recent
    return out


def sample_negatives(histories: pd.Series, encoder: SequenceEncoder, users, n: int = 1,
                     seed: int = 0) -> np.ndarray:  # fmt: skip
    """For each entry of ``users``, ``n`` random item tokens that user never interacted with.

    Items are drawn uniformly from the encoder's catalogue; a draw that hits the user's own
    history (``histories[user]``) is drawn again, so no negative is ever a positive. Returns an
    int array of shape (len(users), n). Deterministic for a seed.
    """
    users = np.asarray(users)
    n_items = len(encoder.items)
    seen_users = IdMap.from_ids(histories.index.to_numpy())
    rows = np.repeat(np.arange(len(histories)), [len(h) for h in histories])
    cols = encoder.encode(np.concatenate(histories.to_numpy())) - 1
    seen = sp.csr_matrix((np.ones(len(rows), dtype=bool), (rows, cols)),
                         shape=(len(histories), n_items))  # fmt: skip
    row_of = seen_users.index(users)  # every user must have a history
    return draw_unseen(seen, row_of, n, np.random.default_rng(seed)) + 1


def draw_unseen(seen: sp.csr_matrix, rows, n: int, rng: np.random.Generator) -> np.ndarray:
    """For each entry of ``rows``, ``n`` random column positions that are *not* stored in that
    row of the 0/1 matrix ``seen`` (users x items): uniform negative sampling by rejection.

    Returns an int array of shape (len(rows), n). Used by :func:`sample_negatives` and by the
    models of :mod:`recsys_helpers.deep` that learn from sampled negatives.
    """
    check_positive_int("n", n)
    rows = np.asarray(rows)
    n_items = seen.shape[1]
    counts = np.diff(seen.indptr)[rows]
    if (counts >= n_items).any():
        raise ValueError("a user has interacted with every item: no negative exists")
    draws = rng.integers(0, n_items, (len(rows), n))
    for _ in range(1000):  # redraw only the collisions; few remain after each round
        clash = np.asarray(seen[np.repeat(rows, n), draws.ravel()]).reshape(draws.shape) != 0
        if not clash.any():
            return draws
        draws[clash] = rng.integers(0, n_items, int(clash.sum()))
    raise RuntimeError("could not draw negatives; the histories cover almost every item")
