"""Sequences: time order, windows and padding by hand, no leakage, negatives never positives."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_helpers.sequences import (
    SequenceEncoder,
    draw_unseen,
    last_windows,
    sample_negatives,
    sliding_windows,
    training_sequences,
    user_histories,
)
from recsys_helpers.splits import leave_last_out
from recsys_helpers.synthetic import make_ratings


def log(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"]).assign(rating=1.0)


# User 1 watched 30, 10, 20 (in that time order; 10 and 20 at the same second: id order);
# user 2 watched 20 then 40.
LOG = log([(1, 20, 5), (1, 30, 1), (2, 40, 9), (1, 10, 5), (2, 20, 3)])


def test_histories_are_time_ordered_with_ties_broken_by_item_id():
    histories = user_histories(LOG)
    assert histories.index.tolist() == [1, 2]
    assert histories[1].tolist() == [30, 10, 20] and histories[2].tolist() == [20, 40]


def test_encoder_reserves_zero_for_padding():
    encoder = SequenceEncoder.fit(LOG)
    assert encoder.n_tokens == 5  # 4 items + padding
    tokens = encoder.encode([10, 40])
    assert tokens.tolist() == [1, 4]
    assert encoder.decode(tokens).tolist() == [10, 40]
    with pytest.raises(ValueError, match="padding"):
        encoder.decode([0])
    with pytest.raises(ValueError, match="not in the map"):
        encoder.encode([99])


def test_sliding_windows_by_hand():
    encoder = SequenceEncoder.fit(LOG)  # tokens: 10->1, 20->2, 30->3, 40->4
    windows, targets, users = sliding_windows(user_histories(LOG), encoder, length=2)
    # user 1: (30 | 10), (30, 10 | 20); user 2: (20 | 40). Left-padded with 0.
    np.testing.assert_array_equal(windows, [[0, 3], [3, 1], [0, 2]])
    np.testing.assert_array_equal(targets, [1, 2, 4])
    np.testing.assert_array_equal(users, [1, 1, 2])
    windows, targets, _ = sliding_windows(user_histories(LOG), encoder, length=2, min_history=2)
    np.testing.assert_array_equal(windows, [[3, 1]])
    np.testing.assert_array_equal(targets, [2])


def test_training_sequences_by_hand():
    encoder = SequenceEncoder.fit(LOG)  # tokens: 10->1, 20->2, 30->3, 40->4
    inputs, targets, users = training_sequences(user_histories(LOG), encoder, length=3)
    # user 1: 30, 10, 20 -> inputs (30, 10), targets (10, 20); user 2: 20, 40 -> (20), (40).
    np.testing.assert_array_equal(inputs, [[0, 3, 1], [0, 0, 2]])
    np.testing.assert_array_equal(targets, [[0, 1, 2], [0, 0, 4]])
    np.testing.assert_array_equal(users, [1, 2])
    # A window shorter than the history: the most recent pair is in the user's last row, and
    # every pair appears exactly once.
    inputs, targets, users = training_sequences(user_histories(LOG), encoder, length=1)
    np.testing.assert_array_equal(inputs, [[3], [1], [2]])
    np.testing.assert_array_equal(targets, [[1], [2], [4]])
    np.testing.assert_array_equal(users, [1, 1, 2])


def test_training_sequences_hold_every_next_item_pair_once():
    ratings = make_ratings(n_users=40, n_items=60, n_ratings=800, seed=2).ratings
    histories, encoder = user_histories(ratings), SequenceEncoder.fit(ratings)
    inputs, targets, users = training_sequences(histories, encoder, length=7)
    got = sorted((u, int(a), int(b)) for u, row_in, row_out in zip(users, inputs, targets, strict=True)
                 for a, b in zip(row_in, row_out, strict=True) if b != 0)  # fmt: skip
    expected = sorted((u, int(a), int(b)) for u, h in histories.items()
                      for a, b in zip(encoder.encode(h[:-1]), encoder.encode(h[1:]), strict=True))  # fmt: skip
    assert got == expected
    assert ((inputs == 0) == (targets == 0)).all()  # padding in both, at the same places
    # Within a row, each target is the next row entry's input (the sequence shifted by one).
    inner = (inputs[:, 1:] != 0) & (targets[:, :-1] != 0)
    assert (inputs[:, 1:][inner] == targets[:, :-1][inner]).all()
    with pytest.raises(ValueError, match="length"):
        training_sequences(histories, encoder, length=0)


def test_last_windows_predict_after_the_whole_history():
    encoder = SequenceEncoder.fit(LOG)
    np.testing.assert_array_equal(last_windows(user_histories(LOG), encoder, length=3),
                                  [[3, 1, 2], [0, 2, 4]])  # fmt: skip


def test_windows_match_a_loop_on_random_histories():
    ratings = make_ratings(n_users=40, n_items=60, n_ratings=800, seed=1).ratings
    histories, encoder = user_histories(ratings), SequenceEncoder.fit(ratings)
    windows, targets, users = sliding_windows(histories, encoder, length=5)
    expected = []
    for user, history in histories.items():
        tokens = encoder.encode(history)
        for t in range(1, len(tokens)):
            window = np.zeros(5, dtype=int)
            recent = tokens[max(0, t - 5):t]
            window[5 - len(recent):] = recent
            expected.append((user, *window, tokens[t]))
    got = np.column_stack([users, windows, targets])
    np.testing.assert_array_equal(got, np.array(expected))


def test_windows_built_from_the_training_part_never_contain_a_test_item():
    ratings = make_ratings(n_users=50, n_items=80, n_ratings=1500, seed=2).ratings
    train, validation, test = leave_last_out(ratings)
    encoder = SequenceEncoder.fit(ratings)
    windows, targets, users = sliding_windows(user_histories(train), encoder, length=8)
    held_out = pd.concat([validation, test])
    held = set(zip(held_out.user_id, encoder.encode(held_out.item_id), strict=True))
    seen = {(u, tok) for u, row, t in zip(users, windows, targets, strict=True)
            for tok in (*row[row > 0], t)}  # fmt: skip
    assert not seen & held
    # The input for predicting the validation item is exactly the last training window.
    last = last_windows(user_histories(train), encoder, length=8)
    assert last.shape == (train.user_id.nunique(), 8)


def test_negatives_are_never_in_the_users_history_and_are_seeded():
    ratings = make_ratings(n_users=30, n_items=40, n_ratings=500, seed=3).ratings
    histories, encoder = user_histories(ratings), SequenceEncoder.fit(ratings)
    users = np.repeat(histories.index.to_numpy(), 3)
    negatives = sample_negatives(histories, encoder, users, n=5, seed=7)
    assert negatives.shape == (len(users), 5)
    for user, row in zip(users, negatives, strict=True):
        assert not set(encoder.decode(row)) & set(histories[user])
    np.testing.assert_array_equal(negatives, sample_negatives(histories, encoder, users, 5, seed=7))
    assert not np.array_equal(negatives, sample_negatives(histories, encoder, users, 5, seed=8))


def test_bad_input():
    encoder = SequenceEncoder.fit(LOG)
    with pytest.raises(ValueError, match="length"):
        sliding_windows(user_histories(LOG), encoder, length=0)
    with pytest.raises(ValueError, match="timestamp"):
        user_histories(LOG.drop(columns="timestamp"))
    full = log([(1, 10, 1), (1, 20, 2)])
    with pytest.raises(ValueError, match="every item"):
        sample_negatives(user_histories(full), SequenceEncoder.fit(full), [1])


def test_draw_unseen_never_returns_a_stored_entry():
    import scipy.sparse as sp

    seen = sp.csr_matrix(np.array([[1, 1, 0, 0, 1], [0, 0, 0, 0, 2], [3, 3, 3, 3, 0]]))
    draws = draw_unseen(seen, np.array([0, 1, 2, 2]), 50, np.random.default_rng(0))
    assert set(draws[0]) == {2, 3}
    assert set(draws[1]) == {0, 1, 2, 3}
    assert set(draws[2:].ravel()) == {4}
    full = sp.csr_matrix(np.ones((1, 3)))
    with pytest.raises(ValueError, match="every item"):
        draw_unseen(full, np.array([0]), 1, np.random.default_rng(0))
