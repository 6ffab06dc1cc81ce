r"""Deep recommenders in Keras (chapters 06–08): model builders, one training helper, estimators.

Three layers, each usable on its own:

* **Builders** return small, uncompiled Keras models:
  :func:`build_neural_cf` (GMF, MLP or NeuMF on ``(user, item)`` pairs),
  :func:`build_sequence_cnn` (the source's Input → Embedding → Conv1D → MaxPooling1D → Dense →
  Dense(1, sigmoid) stack, corrected: "will this user interact with this candidate, given their
  last L items?"), :func:`build_caser` (horizontal and vertical convolutions over the last L item
  embeddings, Tang & Wang 2018) and :func:`build_gru` (a GRU over the last L items, GRU4Rec-style,
  Hidasi et al. 2016).
* :func:`train` seeds Python, NumPy and TensorFlow, makes TensorFlow's ops deterministic, trains
  epoch by epoch (optionally on freshly drawn data each epoch), stops early when a validation
  score stops improving, restores the best weights and returns the history as a table.
* Estimators :class:`NeuralCF`, :class:`SequenceCNN`, :class:`Caser` and :class:`GRURecommender`
  follow the book's contract (``fit(ratings)``, ``recommend(user_ids, k, exclude_seen)``), so
  :mod:`recsys_helpers.evaluation` scores them like any other model. The sequence models order
  each user's ratings by time themselves (:func:`recsys_helpers.sequences.user_histories`).

Importing this module imports TensorFlow **quietly**: its C++ start-up messages go to file
descriptor 2, which is pointed at ``/dev/null`` for the duration of the import, and the settings
that change TensorFlow's numbers (``TF_ENABLE_ONEDNN_OPTS``, ``ONEDNN_MAX_CPU_ISA`` and the
number of threads, :data:`TF_THREADS`) are fixed here, in one place, so that stored notebook
outputs reproduce on any x86-64 CPU with AVX2, whatever its instruction set beyond that or its
number of cores.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

import numpy as np
import pandas as pd

from ._base import Recommender, check_positive_int
from .interactions import validate_ratings
from .metrics import ndcg_at_k
from .sequences import SequenceEncoder, draw_unseen, last_windows, sliding_windows, user_histories

# Settings that must be in place before TensorFlow is imported, so that training gives the same
# bits on every x86-64 CPU (the stored notebooks depend on it; README, "Re-running the book"):
# * oneDNN's fused kernels are turned off (TF_ENABLE_ONEDNN_OPTS=0);
# * TensorFlow still multiplies matrices with oneDNN, which picks its kernels by the CPU's
#   instruction set: an AVX-512 CPU and an AVX2-only CPU round differently, and after a few
#   epochs the two models differ visibly. ONEDNN_MAX_CPU_ISA=AVX2 makes every CPU with AVX2
#   (x86-64 CPUs since 2013-2015) run the same kernels;
# * see TF_THREADS below for the number of threads.
# A reader may override any of these in the environment before importing recsys_helpers.deep.
TF_SETTINGS = {"KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3",
               "TF_ENABLE_ONEDNN_OPTS": "0", "ONEDNN_MAX_CPU_ISA": "AVX2"}  # fmt: skip
for _name, _value in TF_SETTINGS.items():
    os.environ.setdefault(_name, _value)
#: TensorFlow's intra-op threads. Kernels split their sums across threads, so the thread count
#: changes the rounding: it is fixed (by default 2, whatever the number of cores) so that a
#: laptop and a 64-core server train the same model. ``RECSYS_TF_THREADS`` overrides it.
TF_THREADS = os.environ.get("RECSYS_TF_THREADS", "2")
if not TF_THREADS.isdigit() or int(TF_THREADS) < 1:
    raise ValueError(f"RECSYS_TF_THREADS must be a whole number of threads, at least 1; got "
                     f"{TF_THREADS!r}")
TF_THREADS = int(TF_THREADS)


@contextlib.contextmanager
def _quiet_stderr_fd():
    """Point file descriptor 2 at /dev/null (C++ logging bypasses ``sys.stderr``)."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


with _quiet_stderr_fd():
    import keras
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")
    try:
        tf.config.threading.set_intra_op_parallelism_threads(TF_THREADS)
    except RuntimeError:  # TensorFlow was already running in this process before this import
        import warnings

        warnings.warn(
            f"TensorFlow was initialised before recsys_helpers.deep was imported, so its thread "
            f"count could not be fixed at {TF_THREADS}: trained models may differ in the last "
            "digits from the book's stored outputs",
            RuntimeWarning,
            stacklevel=2,
        )
    # Touch the device list once while quiet: on machines with CUDA libraries this is where
    # cuInit complains.
    tf.config.list_physical_devices()

layers = keras.layers

__all__ = ["Caser", "GRURecommender", "NeuralCF", "SequenceCNN", "build_caser", "build_gru",
           "build_neural_cf", "build_sequence_cnn", "conv1d", "dense_layer", "gru_states",
           "gru_states_reset_before",
           "keras", "rnn_states", "seed_everything", "train"]  # fmt: skip


# -- reproducibility ------------------------------------------------------------------------------
def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and TensorFlow, and make TensorFlow's
    ops deterministic: the same seed then gives bit-identical weights on the same machine."""
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()


# -- builders -------------------------------------------------------------------------------------
def build_neural_cf(n_users: int, n_items: int, kind: str = "neumf", n_factors: int = 32,
                    hidden: tuple[int, ...] = (64, 32), l2: float = 0.0) -> keras.Model:  # fmt: skip
    r"""Neural collaborative filtering (He et al., 2017) on ``(user, item)`` position pairs.

    * ``"gmf"``: :math:`\sigma(\mathbf h^\top (\mathbf p_u \odot \mathbf q_i))` — matrix
      factorisation with a learned weighting of the factors;
    * ``"mlp"``: :math:`\sigma(\mathbf h^\top \mathrm{MLP}([\mathbf p_u; \mathbf q_i]))`;
    * ``"neumf"``: both, with separate embeddings, concatenated before the output unit.

    Inputs ``user`` and ``item`` are integer positions (shape ``(batch,)``); the output is the
    probability of an interaction, shape ``(batch, 1)``. ``l2`` penalises the embeddings.
    """
    if kind not in ("gmf", "mlp", "neumf"):
        raise ValueError(f"kind must be 'gmf', 'mlp' or 'neumf', got {kind!r}")
    check_positive_int("n_factors", n_factors)
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    reg = keras.regularizers.L2(l2) if l2 > 0 else None

    def embed(n, name):
        return layers.Embedding(n, n_factors, embeddings_regularizer=reg, name=name)

    parts = []
    if kind in ("gmf", "neumf"):
        parts.append(layers.Multiply(name="gmf")([embed(n_users, "gmf_user")(user),
                                                  embed(n_items, "gmf_item")(item)]))  # fmt: skip
    if kind in ("mlp", "neumf"):
        x = layers.Concatenate(name="mlp_input")([embed(n_users, "mlp_user")(user),
                                                   embed(n_items, "mlp_item")(item)])  # fmt: skip
        for depth, units in enumerate(hidden):
            x = layers.Dense(units, activation="relu", name=f"mlp_{depth}")(x)
        parts.append(x)
    joint = parts[0] if len(parts) == 1 else layers.Concatenate(name="neumf")(parts)
    output = layers.Dense(1, activation="sigmoid", name="interaction")(joint)
    return keras.Model([user, item], output, name=f"neural_cf_{kind}")


def build_sequence_cnn(n_tokens: int, length: int, embedding_dim: int = 32, filters: int = 64,
                       kernel_size: int = 3, hidden: int = 64) -> keras.Model:  # fmt: skip
    """The source's CNN stack, corrected: will the user interact with ``candidate`` next?

    ``history`` (shape ``(batch, length)``, item tokens, 0 = padding) → Embedding →
    Conv1D(``filters``, ``kernel_size``, ReLU) → MaxPooling1D(2) → **Flatten** (the source fed a
    3-D tensor to Dense) → concatenated with the **candidate**'s embedding (the source had no
    candidate, so it could not say *what* the user would like) → Dense(``hidden``, ReLU) →
    Dense(1, sigmoid). Returns the probability, shape ``(batch, 1)``.
    """
    check_positive_int("length", length)
    if length < kernel_size:
        raise ValueError(f"length ({length}) must be at least kernel_size ({kernel_size})")
    history = keras.Input(shape=(length,), dtype="int32", name="history")
    candidate = keras.Input(shape=(), dtype="int32", name="candidate")
    embedding = layers.Embedding(n_tokens, embedding_dim, name="item_embedding")
    x = embedding(history)
    x = layers.Conv1D(filters, kernel_size, activation="relu", name="conv")(x)
    x = layers.MaxPooling1D(pool_size=2, padding="same", name="pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Concatenate(name="with_candidate")([x, embedding(candidate)])
    x = layers.Dense(hidden, activation="relu", name="hidden")(x)
    output = layers.Dense(1, activation="sigmoid", name="interaction")(x)
    return keras.Model([history, candidate], output, name="sequence_cnn")


def build_caser(n_tokens: int, n_users: int, length: int, embedding_dim: int = 64,
                n_horizontal: int = 16, n_vertical: int = 4,
                dropout: float = 0.5) -> keras.Model:  # fmt: skip
    r"""Caser (Tang & Wang, 2018): convolutional next-item model over the last ``length`` items.

    The embeddings of the last :math:`L` items form an :math:`L \times d` "image".
    **Horizontal** filters of height :math:`h = 1..L` (``n_horizontal`` each) slide over time and
    are max-pooled: union-level patterns such as "these two films, in a row". **Vertical**
    filters (``n_vertical``, each :math:`L \times 1`) take weighted sums of the :math:`L`
    embeddings: point-level patterns. Both are concatenated, passed through dropout and a dense
    layer, joined with the **user's** embedding, and mapped to one logit per token (output shape
    ``(batch, n_tokens)``; token 0 is padding). Inputs: ``history`` ``(batch, length)`` and
    ``user`` ``(batch,)`` positions.
    """
    check_positive_int("length", length)
    history = keras.Input(shape=(length,), dtype="int32", name="history")
    user = keras.Input(shape=(), dtype="int32", name="user")
    e = layers.Embedding(n_tokens, embedding_dim, name="item_embedding")(history)
    horizontal = [
        layers.GlobalMaxPooling1D(name=f"pool_h{h}")(
            layers.Conv1D(n_horizontal, h, activation="relu", name=f"conv_h{h}")(e))
        for h in range(1, length + 1)
    ]  # fmt: skip
    # A vertical L x 1 filter is a weighted sum over the L positions, for each dimension.
    vertical = layers.Flatten(name="flatten_v")(
        layers.Dense(n_vertical, name="conv_v")(layers.Permute((2, 1), name="by_dim")(e)))
    x = layers.Concatenate(name="patterns")([*horizontal, vertical])
    x = layers.Dropout(dropout, name="dropout")(x)
    z = layers.Dense(embedding_dim, activation="relu", name="sequence_state")(x)
    u = layers.Embedding(n_users, embedding_dim, name="user_embedding")(user)
    logits = layers.Dense(n_tokens, name="next_item")(layers.Concatenate(name="with_user")([z, u]))
    return keras.Model([history, user], logits, name="caser")


def build_gru(n_tokens: int, length: int, embedding_dim: int = 64, units: int = 64,
              dropout: float = 0.25) -> keras.Model:  # fmt: skip
    r"""A GRU next-item model (GRU4Rec-style): :math:`h_t = \mathrm{GRU}(e_{x_t}, h_{t-1})` over the
    last ``length`` items, then one logit per token from the final state.

    The embedding uses ``mask_zero=True``: padding (token 0) is skipped by the recurrence, so a
    left-padded short history gives exactly the state of the history alone. Input ``history``
    ``(batch, length)``; output ``(batch, n_tokens)`` logits.
    """
    check_positive_int("length", length)
    history = keras.Input(shape=(length,), dtype="int32", name="history")
    e = layers.Embedding(n_tokens, embedding_dim, mask_zero=True, name="item_embedding")(history)
    # unroll: the window is short and fixed, and an unrolled loop trains about twice as fast on
    # a CPU as TensorFlow's while-loop.
    h = layers.GRU(units, unroll=True, name="gru")(e)
    h = layers.Dropout(dropout, name="dropout")(h)
    logits = layers.Dense(n_tokens, name="next_item")(h)
    return keras.Model(history, logits, name="gru")


# -- recurrences, by hand -------------------------------------------------------------------------
def dense_layer(x, W, b, activation=None) -> np.ndarray:
    r"""A fully connected layer, :math:`y = f(W x + b)`, in NumPy — the formula the source gives
    for a CNN (its §3.3.2), which is in fact the formula of a *dense* layer: every output mixes
    every input with its own weight.

    ``x`` has shape (input_dim,), ``W`` (units, input_dim), ``b`` (units,); ``activation`` is a
    function (identity if ``None``). Keras' ``Dense`` computes the same with ``kernel`` :math:`=
    W^\top`.
    """
    x, W, b = (np.asarray(a, dtype=np.float64) for a in (x, W, b))
    if x.ndim != 1 or b.ndim != 1 or W.shape != (len(b), len(x)):
        raise ValueError(f"W must have shape (units, input_dim) = ({b.size}, {x.size}), got "
                         f"{W.shape} (a Keras Dense kernel is (input_dim, units): pass kernel.T)")
    y = W @ x + b
    return y if activation is None else activation(y)


def conv1d(x, kernel, bias, activation=None) -> np.ndarray:
    r"""A one-dimensional convolution ("valid" padding, stride 1), as ``keras.layers.Conv1D``:

    .. math::
        y_{t,f} = f\Bigl(\sum_{j=0}^{k-1} \sum_{c} K_{j,c,f}\, x_{t+j,c} + b_f\Bigr),
        \qquad t = 0, \dots, T - k

    The *same* small kernel :math:`K` (shape (k, channels, filters)) is applied at every
    position :math:`t` of the sequence ``x`` (shape (T, channels)); a dense layer would give
    every position its own weights. Returns shape (T - k + 1, filters). Chapter 07, section 7.2.
    """
    x, kernel, bias = (np.asarray(a, dtype=np.float64) for a in (x, kernel, bias))
    if (x.ndim != 2 or kernel.ndim != 3 or kernel.shape[1] != x.shape[1]
            or bias.shape != (kernel.shape[2],)):
        raise ValueError(f"x must be (T, channels), kernel (k, channels, filters) and bias "
                         f"(filters,); got {x.shape}, {kernel.shape} and {bias.shape}")
    k = kernel.shape[0]
    if x.shape[0] < k:
        raise ValueError(f"the sequence ({x.shape[0]} steps) is shorter than the kernel ({k})")
    windows = np.stack([x[t:t + k] for t in range(x.shape[0] - k + 1)])  # (positions, k, c)
    y = np.einsum("tjc,jcf->tf", windows, kernel) + bias
    return y if activation is None else activation(y)


def _sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def rnn_states(inputs, W, U, b, h0=None, activation=np.tanh) -> np.ndarray:
    r"""The simple recurrence :math:`h_t = f(W x_t + U h_{t-1} + b)`, step by step in NumPy.

    ``inputs`` has shape (T, input_dim), ``W`` (units, input_dim), ``U`` (units, units), ``b``
    (units,); :math:`h_0` is zero unless given. Returns the states :math:`h_1..h_T`, shape
    (T, units). Keras' ``SimpleRNN`` computes the same with ``kernel`` :math:`= W^\top` and
    ``recurrent_kernel`` :math:`= U^\top` (it multiplies row vectors from the left).
    """
    inputs, W, U, b = (np.asarray(a, dtype=np.float64) for a in (inputs, W, U, b))
    h = np.zeros(U.shape[0]) if h0 is None else np.asarray(h0, dtype=np.float64)
    states = []
    for x in inputs:
        h = activation(W @ x + U @ h + b)
        states.append(h)
    return np.array(states)


def gru_states(inputs, kernel, recurrent_kernel, bias) -> np.ndarray:
    r"""A GRU, step by step in NumPy, with the weights and conventions of ``keras.layers.GRU``
    (``reset_after=True``; gates ordered update, reset, candidate):

    .. math::
        z_t &= \sigma(x_t W_z + b_z + h_{t-1} U_z + \beta_z) \\
        r_t &= \sigma(x_t W_r + b_r + h_{t-1} U_r + \beta_r) \\
        \tilde h_t &= \tanh\bigl(x_t W_h + b_h + r_t \odot (h_{t-1} U_h + \beta_h)\bigr) \\
        h_t &= z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t

    ``kernel`` is :math:`[W_z\,W_r\,W_h]` (input_dim, 3 units), ``recurrent_kernel``
    :math:`[U_z\,U_r\,U_h]` (units, 3 units), ``bias`` the rows :math:`[b; \beta]` (2, 3 units).
    Returns the states :math:`h_1..h_T` from :math:`h_0 = 0`, shape (T, units).
    """
    kernel, recurrent_kernel, bias = (np.asarray(a, dtype=np.float64)
                                      for a in (kernel, recurrent_kernel, bias))  # fmt: skip
    units = recurrent_kernel.shape[0]

    h, states = np.zeros(units), []
    for x in np.asarray(inputs, dtype=np.float64):
        from_x = x @ kernel + bias[0]
        from_h = h @ recurrent_kernel + bias[1]
        z = _sigmoid(from_x[:units] + from_h[:units])
        r = _sigmoid(from_x[units:2 * units] + from_h[units:2 * units])
        candidate = np.tanh(from_x[2 * units:] + r * from_h[2 * units:])
        h = z * h + (1 - z) * candidate
        states.append(h)
    return np.array(states)


def gru_states_reset_before(inputs, kernel, recurrent_kernel, bias) -> np.ndarray:
    r"""A GRU in the original form of Cho et al. (2014), step by step in NumPy: the reset gate
    is applied to the previous state *before* the recurrent product. These are the weights and
    conventions of ``keras.layers.GRU(reset_after=False)`` (gates ordered update, reset,
    candidate; one bias vector):

    .. math::
        z_t &= \sigma(x_t W_z + h_{t-1} U_z + b_z) \\
        r_t &= \sigma(x_t W_r + h_{t-1} U_r + b_r) \\
        \tilde h_t &= \tanh\bigl(x_t W_h + (r_t \odot h_{t-1}) U_h + b_h\bigr) \\
        h_t &= z_t \odot h_{t-1} + (1 - z_t) \odot \tilde h_t

    ``kernel`` is :math:`[W_z\,W_r\,W_h]` (input_dim, 3 units), ``recurrent_kernel``
    :math:`[U_z\,U_r\,U_h]` (units, 3 units), ``bias`` :math:`[b_z\,b_r\,b_h]` (3 units,).
    Returns the states :math:`h_1..h_T` from :math:`h_0 = 0`, shape (T, units). Compare
    :func:`gru_states` (Keras' default, ``reset_after=True``).
    """
    kernel, recurrent_kernel, bias = (np.asarray(a, dtype=np.float64)
                                      for a in (kernel, recurrent_kernel, bias))  # fmt: skip
    units = recurrent_kernel.shape[0]
    if bias.shape != (3 * units,):
        raise ValueError(f"bias must have shape (3 units,) = ({3 * units},), got {bias.shape}; "
                         "a (2, 3 units) bias belongs to reset_after=True: use gru_states")

    h, states = np.zeros(units), []
    for x in np.asarray(inputs, dtype=np.float64):
        from_x = x @ kernel + bias
        z = _sigmoid(from_x[:units] + h @ recurrent_kernel[:, :units])
        r = _sigmoid(from_x[units:2 * units] + h @ recurrent_kernel[:, units:2 * units])
        candidate = np.tanh(from_x[2 * units:] + (r * h) @ recurrent_kernel[:, 2 * units:])
        h = z * h + (1 - z) * candidate
        states.append(h)
    return np.array(states)


# -- training -------------------------------------------------------------------------------------
def train(model: keras.Model, data, *, n_epochs: int, batch_size: int = 512, seed: int = 0,
          validate: Callable[[], float] | None = None, patience: int = 3) -> pd.DataFrame:  # fmt: skip
    """Train a compiled Keras ``model`` deterministically, with early stopping.

    Parameters
    ----------
    data : ``(x, y)`` or a function ``epoch -> (x, y)``
        The training data, or a function that draws it afresh each epoch (e.g. new negatives).
    n_epochs : int
        Maximum number of epochs.
    validate : function ``() -> float``, optional
        Scores the current model on validation data (higher is better), after every epoch.
        Training stops after ``patience`` epochs without improvement, and the weights of the best
        epoch are restored.

    Returns
    -------
    DataFrame indexed by ``epoch`` (from 1) with the training ``loss`` and, with ``validate``,
    the ``validation`` score; its ``attrs["best_epoch"]`` is the epoch whose weights the model
    keeps (the last one without ``validate``).
    """
    check_positive_int("n_epochs", n_epochs)
    check_positive_int("patience", patience)
    seed_everything(seed)
    rows, best, best_weights, best_epoch = [], -np.inf, None, n_epochs
    for epoch in range(1, n_epochs + 1):
        x, y = data(epoch) if callable(data) else data
        fitted = model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=True, verbose=0)
        row = {"epoch": epoch, "loss": float(fitted.history["loss"][-1])}
        if validate is not None:
            row["validation"] = score = float(validate())
            if score > best:
                best, best_weights, best_epoch = score, model.get_weights(), epoch
            elif epoch - best_epoch >= patience:
                rows.append(row)
                break
        rows.append(row)
    if validate is not None:
        model.set_weights(best_weights)
    else:
        best_epoch = rows[-1]["epoch"]
    history = pd.DataFrame(rows).set_index("epoch")
    history.attrs["best_epoch"] = best_epoch
    return history


def _predict(model: keras.Model, inputs, batch_size: int = 4096) -> np.ndarray:
    """Model outputs for large inputs, in batches, without Keras' progress bar."""
    return model.predict(inputs, batch_size=batch_size, verbose=0)


# -- estimators -----------------------------------------------------------------------------------
class _KerasRecommender(Recommender):
    """Shared plumbing: popularity fallback for unknown users, validation scoring, history."""

    predicts_ratings = False

    def _fit_common(self, ratings: pd.DataFrame, validation: pd.DataFrame | None):
        if validation is not None:
            validate_ratings(validation)
            if validation.empty:
                raise ValueError("validation is empty")
            full = pd.concat([ratings, validation], ignore_index=True)
        else:
            full = ratings
        matrix = self._fit_matrix(full)
        self.popularity_ = np.diff(matrix.tocsc().indptr).astype(np.float64)
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
            top = np.argsort(-scores, axis=1, kind="stable")[:, :10]
            recs = pd.DataFrame({"user_id": np.repeat(self.users_.ids[users], top.shape[1]),
                                 "item_id": self.items_.ids[top.ravel()],
                                 "rank": np.tile(np.arange(1, top.shape[1] + 1), len(users))})
            return ndcg_at_k(recs, validation, k=10)

        return ndcg

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
    Unknown users get the popularity ranking. Defaults: ``kind``, ``l2`` and ``n_epochs`` are
    chapter 06's choices on validation data; ``n_factors``, the learning rate, the batch size
    and ``n_negatives`` are common settings that were not tuned.
    """

    def __init__(self, kind: str = "gmf", n_factors: int = 32, hidden: tuple = (64, 32),
                 l2: float = 3e-5, n_negatives: int = 4, n_epochs: int = 41,
                 batch_size: int = 4096, learning_rate: float = 3e-3, patience: int = 5,
                 seed: int = 0):  # fmt: skip
        self.kind = kind
        self.n_factors = n_factors
        self.hidden = hidden
        self.l2 = l2
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
        self.model_ = build_neural_cf(matrix.shape[0], matrix.shape[1], self.kind,
                                      self.n_factors, tuple(self.hidden), self.l2)  # fmt: skip
        self.model_.compile(optimizer=keras.optimizers.Adam(self.learning_rate),
                            loss="binary_crossentropy")  # fmt: skip
        validate = None
        if validation is not None and len(validation):
            validate = self._validation_ndcg(self._score_known, validation, matrix)
        self.history_ = train(self.model_, epoch_data, n_epochs=self.n_epochs,
                              batch_size=self.batch_size, seed=self.seed, validate=validate,
                              patience=self.patience)  # fmt: skip
        self.best_epoch_ = self.history_.attrs["best_epoch"]
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

    def _fit_sequences(self, ratings, validation):
        check_positive_int("length", self.length)
        matrix = self._fit_common(ratings, validation)
        self.encoder_ = SequenceEncoder(self.items_)
        train_histories = user_histories(ratings)
        self.histories_ = user_histories(pd.concat([ratings, validation], ignore_index=True)
                                         if validation is not None else ratings)  # fmt: skip
        windows, targets, users = sliding_windows(train_histories, self.encoder_, self.length)
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

    def _train(self, data, validate):
        """Train ``model_`` with the estimator's settings; keep the history and best epoch."""
        self.history_ = train(self.model_, data, n_epochs=self.n_epochs,
                              batch_size=self.batch_size, seed=self.seed, validate=validate,
                              patience=self.patience)  # fmt: skip
        self.best_epoch_ = self.history_.attrs["best_epoch"]
        return self.history_

    def _next_item_scores(self, model_inputs) -> np.ndarray:
        """Logits over tokens -> scores over item positions (token t is item position t-1)."""
        return _predict(self.model_, model_inputs, 1024)[:, 1:]


class Caser(_SequenceRecommender):
    """Caser next-item model (chapter 07), :func:`build_caser`, trained with softmax cross-entropy
    over all items on every window of every user's history. Unknown users get the popularity
    ranking. Defaults are the settings chapter 07 selects on validation data."""

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
    ranking. Defaults are the settings chapter 08 selects on validation data."""

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
    in ``ratings`` (validation items stay eligible). To recommend, every item is scored as the candidate after the user's last window.
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
