"""Estimators that follow the book's contract (``fit``, ``recommend``), so that
:mod:`recsys_helpers.evaluation` scores them like any other model.

Every estimator here shares its training settings: Adam with ``learning_rate``, batches of
``batch_size``, at most ``n_epochs`` epochs; with ``fit(ratings, validation=...)``, early
stopping on the validation items' NDCG@10 (full ranking) after ``patience`` epochs without a
better score, keeping the best epoch's weights (:func:`recsys_helpers.deep.train`). The same
``seed`` gives the same model, bit for bit, on one machine, whatever its number of cores; on
another CPU it can differ in the last bits (README, "The same numbers on your CPU").
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import numpy as np
import pandas as pd

from ..base import Recommender, check_number, check_positive_int, check_seed
from ..interactions import item_counts, validate_ratings
from ..metrics import ndcg_at_k
from ..sequences import (
    SequenceEncoder,
    draw_unseen,
    last_windows,
    sliding_windows,
    training_sequences,
    user_histories,
)
from ._runtime import keras
from .builders import (
    ItemScores,
    build_caser,
    build_gru,
    build_neural_cf,
    build_sasrec,
    build_sequence_cnn,
)
from .training import _predict, seed_everything, train

__all__ = ["Caser", "GRURecommender", "NeuralCF", "SASRec", "SequenceCNN"]


class _KerasRecommender(Recommender):
    """Shared plumbing: popularity fallback for unknown users, validation scoring, history."""

    predicts_ratings = False

    def _check_training_params(self) -> None:
        """The settings every estimator here shares, checked before any work is done (Keras
        would otherwise report a bad ``embedding_dim`` as its own layer's ``output_dim``)."""
        for name in ("n_epochs", "batch_size", "patience", "length", "embedding_dim", "units",
                     "filters", "kernel_size", "n_horizontal", "n_vertical", "n_factors",
                     "n_blocks", "n_heads", "n_negatives"):  # fmt: skip
            if hasattr(self, name):
                check_positive_int(name, getattr(self, name))
        if hasattr(self, "hidden"):  # one layer's width, or a tuple of widths
            for width in np.atleast_1d(np.asarray(self.hidden, dtype=object)):
                check_positive_int("hidden", width)
        check_number("learning_rate", self.learning_rate, above=0)
        check_seed(self.seed)
        if hasattr(self, "dropout"):
            check_number("dropout", self.dropout, minimum=0, below=1)
        if hasattr(self, "regularization"):
            check_number("regularization", self.regularization, minimum=0)

    def _fit_common(self, ratings: pd.DataFrame, validation: pd.DataFrame | None):
        self._check_training_params()
        if validation is not None:
            validate_ratings(validation)
            if validation.empty:
                raise ValueError("validation is empty")
            full = pd.concat([ratings, validation], ignore_index=True)
        else:
            full = ratings
        matrix = self._fit_matrix(full)
        self.popularity_ = item_counts(matrix)
        return matrix

    def _validation_ndcg(self, scores_for: Callable, validation: pd.DataFrame,
                         seen) -> Callable[[], float]:  # fmt: skip
        """A function computing NDCG@10 on ``validation`` by full ranking (items in ``seen``,
        users x items, excluded) — the early-stopping criterion of every estimator here."""
        u = self.users_.index(validation["user_id"].to_numpy())
        users = np.unique(u)
        seen_rows = seen[users].tocoo()

        def ndcg() -> float:
            scores = np.asarray(scores_for(users), dtype=np.float64)
            scores[seen_rows.row, seen_rows.col] = -np.inf
            return ndcg_at_k(self._ranking(self.users_.ids[users], scores, 10), validation, k=10)

        return ndcg

    def _train(self, data, validate, model=None):
        """Train ``model_`` (or ``model``, a training model built on ``model_``'s layers) with
        the estimator's settings; keep the history and best epoch."""
        self.history_ = train(model or self.model_, data, n_epochs=self.n_epochs,
                              batch_size=self.batch_size, seed=self.seed, validate=validate,
                              patience=self.patience, label=type(self).__name__)  # fmt: skip
        self.best_epoch_ = self.history_.attrs["best_epoch"]
        return self.history_

    def _score_users(self, u):
        u = np.asarray(u)
        scores = np.broadcast_to(self.popularity_, (len(u), len(self.popularity_))).copy()
        known = u >= 0
        if known.any():
            scores[known] = self._score_known(u[known])
        return scores

    def _predict_index(self, u, i):
        return self._pair_scores_from_users(u, i, unknown_item=-np.inf)


class NeuralCF(_KerasRecommender):
    """Neural collaborative filtering for implicit feedback (chapter 06).

    Every training rating counts as an interaction (label 1); each epoch draws ``n_negatives``
    fresh items per interaction from those the user did not interact with in ``ratings`` (label
    0; held-out items stay eligible, so validation cannot leak into training), and the
    model (:func:`build_neural_cf`) is trained with binary cross-entropy and Adam. With
    ``validation`` ratings, training stops when their NDCG@10 (full ranking) stops improving.

    Parameters
    ----------
    kind : ``"gmf"``, ``"mlp"`` or ``"neumf"``
        The architecture, as in :func:`build_neural_cf`.
    n_factors, hidden
        Embedding size, and the widths of the MLP's hidden layers.
    regularization : float >= 0
        L2 penalty on the embeddings.
    n_negatives : int
        Unobserved items drawn per interaction each epoch.
    n_epochs, batch_size, learning_rate, patience, seed
        Training, as for every estimator here (see the module docstring).

    Unknown users get the popularity ranking. Defaults: ``kind``, ``regularization`` and
    ``n_epochs`` are chapter 06's choices on validation data; ``n_factors``, the learning rate,
    the batch size and ``n_negatives`` are common settings that were not tuned.
    """

    def __init__(self, kind: Literal["gmf", "mlp", "neumf"] = "gmf", n_factors: int = 32,
                 hidden: tuple = (64, 32), regularization: float = 3e-5, n_negatives: int = 4,
                 n_epochs: int = 41, batch_size: int = 4096, learning_rate: float = 3e-3,
                 patience: int = 5, seed: int = 0):  # fmt: skip
        self.kind = kind
        self.n_factors = n_factors
        self.hidden = hidden
        self.regularization = regularization
        self.n_negatives = n_negatives
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.seed = seed

    def fit(self, ratings: pd.DataFrame, validation: pd.DataFrame | None = None) -> NeuralCF:
        check_positive_int("n_negatives", self.n_negatives)
        matrix = self._fit_common(ratings, None)
        # Negatives come from the items the user has not interacted with *in training*. Held-out
        # items must stay eligible: never drawing them would tell the model where they are.
        seen = matrix.tocsr()
        if validation is not None:
            validate_ratings(validation)
            vu = self.users_.index(validation["user_id"].to_numpy(), unknown="ignore")
            vi = self.items_.index(validation["item_id"].to_numpy(), unknown="ignore")
            validation = validation[(vu >= 0) & (vi >= 0)]  # only known users and items count
        coo = matrix.tocoo()
        pos_u, pos_i = coo.row.astype(np.int32), coo.col.astype(np.int32)
        n_neg = self.n_negatives
        rng = np.random.default_rng(self.seed)

        def epoch_data(epoch):
            negatives = draw_unseen(seen, pos_u, n_neg, rng).astype(np.int32)
            users = np.concatenate([pos_u, np.repeat(pos_u, n_neg)])
            items = np.concatenate([pos_i, negatives.ravel()])
            labels = np.r_[np.ones(len(pos_u)), np.zeros(len(pos_u) * n_neg)].astype("float32")
            return {"user": users, "item": items}, labels

        seed_everything(self.seed)
        self.model_ = build_neural_cf(matrix.shape[0], matrix.shape[1], self.kind, self.n_factors,
                                      tuple(self.hidden), self.regularization)  # fmt: skip
        self.model_.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                            loss="binary_crossentropy")  # fmt: skip
        validate = None
        if validation is not None and len(validation):
            validate = self._validation_ndcg(self._score_known, validation, matrix)
        self._train(epoch_data, validate)
        return self

    def _score_known(self, u):
        r"""Scores of every item for user positions ``u``. For GMF these are the logits
        :math:`\mathbf h^\top(\mathbf p_u \odot \mathbf q_i) + b`, one matrix product in NumPy
        (monotone in the model's probability, and without its float32 saturation ties); MLP and
        NeuMF run the Keras model on every (user, item) pair."""
        if self.kind == "gmf":
            users = self.model_.get_layer("gmf_user").get_weights()[0].astype(np.float64)
            items = self.model_.get_layer("gmf_item").get_weights()[0].astype(np.float64)
            kernel, bias = (w.astype(np.float64)
                            for w in self.model_.get_layer("interaction").get_weights())
            return (users[np.asarray(u)] * kernel[:, 0]) @ items.T + bias[0]
        n_items = len(self.items_)
        out = np.empty((len(u), n_items), dtype=np.float64)
        items = np.arange(n_items, dtype=np.int32)
        chunk = max(1, 200_000 // n_items)
        for start in range(0, len(u), chunk):
            block = np.asarray(u[start:start + chunk], dtype=np.int32)
            inputs = {"user": np.repeat(block, n_items), "item": np.tile(items, len(block))}
            out[start:start + len(block)] = _predict(self.model_, inputs, 65536).reshape(
                len(block), n_items)
        return out


class _SequenceRecommender(_KerasRecommender):
    """Next-item models: windows of each user's time-ordered history predict the next item.

    ``fit(ratings, validation=None)`` trains on every window of ``ratings`` (each user's items
    ordered by timestamp, ties by item id). With ``validation`` — each user's *next*
    interactions, e.g. the validation part of :func:`recsys_helpers.splits.leave_last_out` —
    training stops when NDCG@10 on them stops improving; afterwards they become part of the
    users' histories (the input for the next recommendation, and excluded as seen), as in the
    usual next-item protocol (train on all but the last two items, validate on the second to
    last, test on the last with everything before it as input).
    """

    #: :func:`recsys_helpers.evaluation.evaluate_next_item` passes the validation items to
    #: ``fit`` instead of merging them into the training data.
    uses_validation_as_context = True

    def _fit_sequences(self, ratings, validation, windows=True):
        """Id maps, encoder and histories; the sliding windows of the training histories (or,
        with ``windows=False``, the histories themselves); the early-stopping criterion."""
        check_positive_int("length", self.length)
        matrix = self._fit_common(ratings, validation)
        self.encoder_ = SequenceEncoder(self.items_)
        train_histories = user_histories(ratings)
        self.histories_ = user_histories(pd.concat([ratings, validation], ignore_index=True)
                                         if validation is not None else ratings)  # fmt: skip
        if windows:
            windows, targets, users = sliding_windows(train_histories, self.encoder_, self.length)
        else:
            windows, targets, users = train_histories, None, None
        validate = None
        if validation is not None:
            # Validation inputs are the windows after the *training* histories only.
            train_seen = self._fit_matrix_like(ratings)
            validate = self._validation_ndcg(
                lambda users: self._score_known(users, train_histories), validation, train_seen)
        return matrix, windows, targets, users, validate

    def _fit_matrix_like(self, ratings):
        """The users x items 0/1 matrix of ``ratings`` in this model's id positions."""
        u = self.users_.index(ratings["user_id"].to_numpy())
        i = self.items_.index(ratings["item_id"].to_numpy())
        return type(self.train_matrix_)((np.ones(len(u)), (u, i)), shape=self.train_matrix_.shape)

    def _windows_for(self, u, histories=None):
        """Last windows of ``histories`` (default: everything fitted, validation included) for
        the user positions ``u``."""
        ids = self.users_.ids[u]
        context = (self.histories_ if histories is None else histories).reindex(ids)
        if context.isna().any():  # a user with no history in the context: empty window
            context = context.apply(lambda h: h if isinstance(h, np.ndarray) else np.array([], int))
        return last_windows(context, self.encoder_, self.length)

    def _next_item_scores(self, model_inputs) -> np.ndarray:
        """Logits over tokens -> scores over item positions (token t is item position t-1)."""
        return _predict(self.model_, model_inputs, 1024)[:, 1:]


class Caser(_SequenceRecommender):
    """Caser next-item model (chapter 07), :func:`build_caser`, trained with softmax cross-entropy
    over all items on every window of every user's history. Unknown users get the popularity
    ranking. Defaults are the settings chapter 07 selected on validation data. ``n_epochs=9`` was
    its best validation epoch when the default was chosen, on another CPU; on the stored edition's
    it is 11 (training amplifies the last-bit differences between CPUs: README, "The same numbers
    on your CPU").

    Parameters
    ----------
    length, embedding_dim, n_horizontal, n_vertical, dropout
        The architecture, as in :func:`build_caser` (window length, embedding size, the
        number of horizontal filters per height and of vertical filters).
    n_epochs, batch_size, learning_rate, patience, seed
        Training, as for every estimator here (see the module docstring).
    """

    def __init__(self, length: int = 5, embedding_dim: int = 64, n_horizontal: int = 16,
                 n_vertical: int = 4, dropout: float = 0.5, n_epochs: int = 9,
                 batch_size: int = 256, learning_rate: float = 1e-3, patience: int = 3,
                 seed: int = 0):  # fmt: skip
        self.length = length
        self.embedding_dim = embedding_dim
        self.n_horizontal = n_horizontal
        self.n_vertical = n_vertical
        self.dropout = dropout
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.seed = seed

    def fit(self, ratings: pd.DataFrame, validation: pd.DataFrame | None = None) -> Caser:
        _, windows, targets, users, validate = self._fit_sequences(ratings, validation)
        seed_everything(self.seed)
        self.model_ = build_caser(self.encoder_.n_tokens, len(self.users_), self.length,
                                  self.embedding_dim, self.n_horizontal, self.n_vertical,
                                  self.dropout)  # fmt: skip
        self.model_.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        x = {"history": windows.astype(np.int32),
             "user": self.users_.index(users).astype(np.int32)}  # fmt: skip
        self._train((x, targets.astype(np.int32)), validate)
        return self

    def _score_known(self, u, histories=None):
        u = np.asarray(u)
        return self._next_item_scores({"history": self._windows_for(u, histories).astype(np.int32),
                                       "user": u.astype(np.int32)})  # fmt: skip


class GRURecommender(_SequenceRecommender):
    """GRU next-item model (chapter 08), :func:`build_gru`, trained with softmax cross-entropy
    over all items on every window of every user's history. Unknown users get the popularity
    ranking. Defaults are the settings chapter 08 selects on validation data.

    Parameters
    ----------
    length, embedding_dim, units, dropout
        The architecture, as in :func:`build_gru` (window length, embedding size, GRU state
        size, dropout).
    n_epochs, batch_size, learning_rate, patience, seed
        Training, as for every estimator here (see the module docstring).
    """

    def __init__(self, length: int = 10, embedding_dim: int = 64, units: int = 64,
                 dropout: float = 0.25, n_epochs: int = 13, batch_size: int = 256,
                 learning_rate: float = 1e-3, patience: int = 3, seed: int = 0):  # fmt: skip
        self.length = length
        self.embedding_dim = embedding_dim
        self.units = units
        self.dropout = dropout
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.seed = seed

    def fit(self, ratings: pd.DataFrame, validation: pd.DataFrame | None = None) -> GRURecommender:
        _, windows, targets, _, validate = self._fit_sequences(ratings, validation)
        seed_everything(self.seed)
        self.model_ = build_gru(self.encoder_.n_tokens, self.length, self.embedding_dim,
                                self.units, self.dropout)  # fmt: skip
        self.model_.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        self._train((windows.astype(np.int32), targets.astype(np.int32)), validate)
        return self

    def _score_known(self, u, histories=None):
        return self._next_item_scores(
            self._windows_for(np.asarray(u), histories).astype(np.int32))


class SequenceCNN(_SequenceRecommender):
    """The source's CNN stack, corrected (chapter 07): :func:`build_sequence_cnn`, a binary
    classifier of "does this candidate come next after these ``length`` items?".

    Positives are every (window, next item) of every user's history; each epoch draws
    ``n_negatives`` fresh candidates per positive among the items the user did not interact with
    in ``ratings`` (validation items stay eligible). To recommend, every item is scored as the
    candidate after the user's last window.

    Parameters
    ----------
    length, embedding_dim, filters, kernel_size, hidden
        The architecture, as in :func:`build_sequence_cnn`.
    n_negatives : int
        Negative candidates drawn per positive each epoch.
    n_epochs, batch_size, learning_rate, patience, seed
        Training, as for every estimator here (see the module docstring).
    """

    def __init__(self, length: int = 5, embedding_dim: int = 32, filters: int = 64,
                 kernel_size: int = 3, hidden: int = 64, n_negatives: int = 4,
                 n_epochs: int = 10, batch_size: int = 1024, learning_rate: float = 1e-3,
                 patience: int = 3, seed: int = 0):  # fmt: skip
        self.length = length
        self.embedding_dim = embedding_dim
        self.filters = filters
        self.kernel_size = kernel_size
        self.hidden = hidden
        self.n_negatives = n_negatives
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.seed = seed

    def fit(self, ratings: pd.DataFrame, validation: pd.DataFrame | None = None) -> SequenceCNN:
        check_positive_int("n_negatives", self.n_negatives)
        _, windows, targets, users, validate = self._fit_sequences(ratings, validation)
        # Negatives: items the user never interacted with in training (held-out items stay
        # eligible, or their absence from the negatives would give them away).
        seen = self._fit_matrix_like(ratings).tocsr()
        rows = self.users_.index(users)
        n_neg = self.n_negatives
        rng = np.random.default_rng(self.seed)
        windows = windows.astype(np.int32)

        def epoch_data(epoch):
            negatives = draw_unseen(seen, rows, n_neg, rng) + 1  # item positions -> tokens
            x = {"history": np.concatenate([windows, np.repeat(windows, n_neg, axis=0)]),
                 "candidate": np.concatenate([targets, negatives.ravel()]).astype(np.int32)}
            labels = np.r_[np.ones(len(targets)), np.zeros(len(targets) * n_neg)]
            return x, labels.astype("float32")

        seed_everything(self.seed)
        self.model_ = build_sequence_cnn(self.encoder_.n_tokens, self.length, self.embedding_dim,
                                         self.filters, self.kernel_size, self.hidden)  # fmt: skip
        self.model_.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                            loss="binary_crossentropy")  # fmt: skip
        self._train(epoch_data, validate)
        return self

    def _score_known(self, u, histories=None):
        """Every item as the candidate after each user's latest window. The convolutional
        features of a window do not depend on the candidate, so they are computed once per
        user; the head (dense layer on [features; candidate embedding]) is then evaluated for
        all items in NumPy. Scores are the logits (monotone in the probability, without its
        saturation ties)."""
        windows = self._windows_for(np.asarray(u), histories).astype(np.int32)
        encoder = keras.Model(self.model_.get_layer("history").output,
                              self.model_.get_layer("flatten").output)  # fmt: skip
        features = _predict(encoder, windows).astype(np.float64)
        table = self.model_.get_layer("item_embedding").get_weights()[0].astype(np.float64)
        kernel, bias = (w.astype(np.float64) for w in self.model_.get_layer("hidden").get_weights())
        w_out, b_out = (w.astype(np.float64) for w in
                        self.model_.get_layer("interaction").get_weights())  # fmt: skip
        n_features = features.shape[1]
        from_history = features @ kernel[:n_features] + bias  # users x hidden
        from_candidate = table[1:] @ kernel[n_features:]  # items x hidden (token t = row t)
        out = np.empty((len(windows), len(self.items_)))
        for start in range(0, len(windows), 64):
            hidden = np.maximum(from_history[start:start + 64, None, :] + from_candidate, 0.0)
            out[start:start + 64] = hidden @ w_out[:, 0] + b_out[0]
        return out



class SASRec(_SequenceRecommender):
    r"""SASRec (Kang & McAuley, 2018; chapter 11): causal self-attention over each user's last
    ``length`` items (:func:`build_sasrec`), trained to predict the next item at **every**
    position of every training history (:func:`recsys_helpers.sequences.training_sequences`).

    Parameters
    ----------
    length, embedding_dim, n_blocks, n_heads, dropout
        The architecture, as in :func:`build_sasrec`.
    loss : ``"softmax"`` or ``"bce"``
        ``"softmax"``: cross-entropy of the full softmax over every item at each position,
        :math:`-\log\bigl(e^{r_{t,i_{t+1}}} / \sum_j e^{r_{t,j}}\bigr)` (as Klenitskiy &
        Vasilev, 2023). ``"bce"``: the original paper's binary cross-entropy,
        :math:`-\log\sigma(r_{t,i_{t+1}}) - \sum_{j \in \mathcal N_t} \log(1 - \sigma(r_{t,j}))`,
        with ``n_negatives`` items :math:`\mathcal N_t` per position drawn afresh each epoch
        among those the user did not interact with in training (Keras' binary cross-entropy
        averages the :math:`1 + n` terms of a position: this sum divided by :math:`1 + n`).
    train_fraction : float in (0, 1]
        Share of the users whose histories are training examples (drawn with ``seed``); every
        user's history remains the input for recommending to them. Chapter 11 varies it to
        measure what more data buys, with the test users and candidates unchanged.
    n_epochs, batch_size, learning_rate, patience, seed
        Training (Adam; early stopping on validation NDCG@10 when ``fit`` gets ``validation``).

    The model has no user embedding: a user is their history, so any user with a history can be
    scored. Users with no history get the popularity ranking. Defaults are chapter 11's settings:
    the paper's two blocks, one head and dropout 0.2, with a width of 32, batches of 16 and a
    learning rate of 0.001. They were first picked among a handful of settings tried while the
    chapter was written, runs that also printed test scores. ``benchmarks/sasrec_selection.py``
    has since compared them on the validation items alone with widths of 48 and 64, batches of
    64, a learning rate of 0.002, dropout 0.5 and windows of 100 and 200 items: no setting is
    ahead of them beyond a 95% paired interval over the validation users (the one furthest
    ahead, a width of 64, by +0.004 NDCG@10, interval −0.008 to +0.016), more dropout and
    windows of 200 items are behind them beyond it, and no setting with as few parameters
    scores higher, so they stay. Each setting was trained once,
    with one seed: the intervals cover the validation users, not the spread between runs.
    """

    def __init__(self, length: int = 50, embedding_dim: int = 32, n_blocks: int = 2,
                 n_heads: int = 1, dropout: float = 0.2, loss: Literal["softmax", "bce"] = "softmax",
                 n_negatives: int = 1, train_fraction: float = 1.0, n_epochs: int = 40,
                 batch_size: int = 16, learning_rate: float = 1e-3, patience: int = 5,
                 seed: int = 0):  # fmt: skip
        self.length = length
        self.embedding_dim = embedding_dim
        self.n_blocks = n_blocks
        self.n_heads = n_heads
        self.dropout = dropout
        self.loss = loss
        self.n_negatives = n_negatives
        self.train_fraction = train_fraction
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.patience = patience
        self.seed = seed

    def fit(self, ratings: pd.DataFrame, validation: pd.DataFrame | None = None) -> SASRec:
        if self.loss not in ("softmax", "bce"):
            raise ValueError(f"loss must be 'softmax' or 'bce', got {self.loss!r}")
        check_positive_int("n_negatives", self.n_negatives)
        if not 0 < self.train_fraction <= 1:
            raise ValueError(f"train_fraction must lie in (0, 1], got {self.train_fraction!r}")
        _, histories, _, _, validate = self._fit_sequences(ratings, validation, windows=False)
        if self.train_fraction < 1:
            rng = np.random.default_rng(self.seed)
            n_users = max(1, round(self.train_fraction * len(histories)))
            histories = histories.iloc[np.sort(rng.permutation(len(histories))[:n_users])]
        inputs, targets, users = training_sequences(histories, self.encoder_, self.length)
        inputs, targets = inputs.astype(np.int32), targets.astype(np.int32)
        weights = (targets != 0).astype("float32")  # padded positions are no examples

        seed_everything(self.seed)
        self.model_ = build_sasrec(self.encoder_.n_tokens, self.length, self.embedding_dim,
                                   self.n_blocks, self.n_heads, self.dropout)  # fmt: skip
        history_in, states = self.model_.input, self.model_.output
        scores = ItemScores(self.model_.get_layer("item_embedding"), name="next_item")
        optimizer = keras.optimizers.Adam(self.learning_rate)
        if self.loss == "softmax":
            trainer = keras.Model(history_in, scores(states))
            trainer.compile(optimizer=optimizer,
                            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            data = (inputs, targets, weights)
        else:
            candidates = keras.Input(shape=(self.length, 1 + self.n_negatives), dtype="int32",
                                     name="candidates")  # fmt: skip
            trainer = keras.Model([history_in, candidates], scores(states, candidates))
            trainer.compile(optimizer=optimizer,
                            loss=keras.losses.BinaryCrossentropy(from_logits=True))
            seen = self._fit_matrix_like(ratings).tocsr()
            rows = np.repeat(self.users_.index(users), self.length)
            labels = np.zeros((*targets.shape, 1 + self.n_negatives), dtype="float32")
            labels[..., 0] = 1.0
            rng = np.random.default_rng(self.seed)

            def data(epoch):
                negatives = draw_unseen(seen, rows, self.n_negatives, rng) + 1  # -> tokens
                both = np.concatenate([targets[..., None],
                                       negatives.reshape(*targets.shape, -1)], axis=-1)
                return {"history": inputs, "candidates": both.astype(np.int32)}, labels, weights

        self._train(data, validate, trainer)  # trainer shares model_'s layers and weights
        return self

    def _score_known(self, u, histories=None):
        r"""Scores of every item after each user's latest window: the last position's state
        :math:`\mathbf F_L` dotted with each item's embedding, in float64 NumPy."""
        windows = self._windows_for(np.asarray(u), histories).astype(np.int32)
        states = _predict(self.model_, windows, 1024)[:, -1, :].astype(np.float64)
        table = self.model_.get_layer("item_embedding").get_weights()[0].astype(np.float64)
        return states @ table[1:].T
