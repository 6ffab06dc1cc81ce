"""Model builders: small, uncompiled Keras models (chapters 06–08 and 11)."""

from __future__ import annotations

from ..base import check_positive_int
from ._runtime import keras, layers

__all__ = ["ItemScores", "build_caser", "build_gru", "build_neural_cf", "build_sasrec",
           "build_sequence_cnn", "sasrec_parameter_count"]  # fmt: skip


def build_neural_cf(n_users: int, n_items: int, kind: str = "neumf", n_factors: int = 32,
                    hidden: tuple[int, ...] = (64, 32),
                    regularization: float = 0.0) -> keras.Model:  # fmt: skip
    r"""Neural collaborative filtering (He et al., 2017) on ``(user, item)`` position pairs.

    * ``"gmf"``: :math:`\sigma(\mathbf h^\top (\mathbf p_u \odot \mathbf q_i))` — matrix
      factorisation with a learned weighting of the factors;
    * ``"mlp"``: :math:`\sigma(\mathbf h^\top \mathrm{MLP}([\mathbf p_u; \mathbf q_i]))`;
    * ``"neumf"``: both, with separate embeddings, concatenated before the output unit.

    Inputs ``user`` and ``item`` are integer positions (shape ``(batch,)``); the output is the
    probability of an interaction, shape ``(batch, 1)``. ``regularization`` is the L2 penalty
    on the embeddings.
    """
    if kind not in ("gmf", "mlp", "neumf"):
        raise ValueError(f"kind must be 'gmf', 'mlp' or 'neumf', got {kind!r}")
    check_positive_int("n_factors", n_factors)
    user = keras.Input(shape=(), dtype="int32", name="user")
    item = keras.Input(shape=(), dtype="int32", name="item")
    reg = keras.regularizers.L2(regularization) if regularization > 0 else None

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




class _Positions(layers.Layer):
    """Scales a (batch, length, d) input of item embeddings by :math:`\\sqrt d` and adds a
    learned embedding of each position 0..length-1."""

    def __init__(self, length: int, dim: int, **kwargs):
        super().__init__(**kwargs)
        self.length, self.dim = length, dim

    def build(self, input_shape):
        self.positions = self.add_weight(shape=(self.length, self.dim), name="positions",
                                         initializer="uniform")  # as Keras' Embedding  # fmt: skip

    def call(self, x):
        return x * self.dim ** 0.5 + self.positions[None]


class ItemScores(layers.Layer):
    """The output layer of SASRec: the score of item token :math:`j` at each position is the
    dot product of the position's state with the item's *input* embedding,
    :math:`r_{t,j} = \\mathbf F_t \\cdot \\mathbf e_j` (the embeddings are shared, so the layer
    has no weights of its own).

    ``ItemScores(embedding)(states)`` scores every token (batch, length, n_tokens) — for the
    full softmax; ``ItemScores(embedding)(states, candidates)`` only the given tokens,
    ``candidates`` (batch, length, c) → (batch, length, c) — for sampled negatives.
    """

    def __init__(self, embedding, **kwargs):
        super().__init__(**kwargs)
        self.embedding = embedding

    def call(self, states, candidates=None):
        table = self.embedding.embeddings
        if candidates is None:
            return keras.ops.matmul(states, keras.ops.transpose(table))
        return keras.ops.einsum("bld,blcd->blc", states, keras.ops.take(table, candidates, axis=0))


def sasrec_parameter_count(n_tokens: int, length: int, embedding_dim: int, n_blocks: int) -> int:
    r"""Trainable parameters of :func:`build_sasrec` (with its tied output layer):

    .. math::
        \underbrace{N d}_{\text{items}} + \underbrace{L d}_{\text{positions}}
        + b\,\bigl(\underbrace{4(d^2 + d)}_{\text{attention}} + \underbrace{2(d^2 + d)}_{\text{feed-forward}}
        + \underbrace{2 \cdot 2d}_{\text{two layer norms}}\bigr) + \underbrace{2d}_{\text{final norm}}

    for :math:`N` tokens (items and padding), window :math:`L`, width :math:`d` and :math:`b`
    blocks. The number of heads does not change it (the heads split :math:`d`). Almost all of a
    small model is its item table, :math:`Nd`; the blocks grow as :math:`d^2`.
    """
    for name, value in (("n_tokens", n_tokens), ("length", length),
                        ("embedding_dim", embedding_dim), ("n_blocks", n_blocks)):  # fmt: skip
        check_positive_int(name, value)
    d = embedding_dim
    return n_tokens * d + length * d + n_blocks * (6 * d * d + 10 * d) + 2 * d


def build_sasrec(n_tokens: int, length: int, embedding_dim: int = 64, n_blocks: int = 2,
                 n_heads: int = 1, dropout: float = 0.2, causal: bool = True) -> keras.Model:  # fmt: skip
    r"""SASRec (Kang & McAuley, 2018): self-attention over a user's last ``length`` items.

    ``history`` (batch, length) item tokens, 0 = padding, left-padded → item embeddings scaled
    by :math:`\sqrt d`, plus a learned **position** embedding (attention alone is blind to
    order), dropout, padding zeroed → ``n_blocks`` blocks, each

    .. math::
        \mathbf S = \mathrm{LN}(\mathbf X) + \mathrm{Attention}(\mathrm{LN}(\mathbf X), \mathbf X,
        \mathbf X), \qquad \mathbf X' = \mathrm{LN}(\mathbf S) +
        \mathrm{ReLU}(\mathrm{LN}(\mathbf S) W_1 + b_1) W_2 + b_2

    (multi-head attention with ``n_heads`` heads, a **causal** mask — position :math:`t` sees
    positions :math:`\le t` only — and padded keys masked; dropout after the attention weights
    and in the feed-forward part) → a final layer norm. Returns the model ``history →
    states`` (batch, length, embedding_dim): the state at position :math:`t` summarises the items
    up to :math:`t` and predicts the item after it through :class:`ItemScores` on the layer
    ``"item_embedding"``. ``causal=False`` lets every position see the whole window (BERT4Rec's
    bidirectional encoder). Parameters: :func:`sasrec_parameter_count`.
    """
    for name, value in (("length", length), ("embedding_dim", embedding_dim),
                        ("n_blocks", n_blocks), ("n_heads", n_heads)):  # fmt: skip
        check_positive_int(name, value)
    if embedding_dim % n_heads:
        raise ValueError(f"embedding_dim ({embedding_dim}) must be a multiple of n_heads "
                         f"({n_heads}): the heads split it")
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout must lie in [0, 1), got {dropout!r}")
    history = keras.Input(shape=(length,), dtype="int32", name="history")
    keep = keras.ops.cast(keras.ops.not_equal(history, 0), "float32")  # 1 for items, 0 for padding
    see = keras.ops.cast(keep[:, None, :], "bool")  # (batch, 1, length): padded keys are never seen
    x = layers.Embedding(n_tokens, embedding_dim, name="item_embedding")(history)
    x = _Positions(length, embedding_dim, name="position_embedding")(x)
    x = layers.Dropout(dropout, name="input_dropout")(x) * keep[..., None]
    for block in range(n_blocks):
        q = layers.LayerNormalization(epsilon=1e-8, name=f"attention_norm_{block}")(x)
        attended = layers.MultiHeadAttention(n_heads, embedding_dim // n_heads, dropout=dropout,
                                             name=f"attention_{block}")(
            q, x, attention_mask=see, use_causal_mask=causal)  # fmt: skip
        s = layers.LayerNormalization(epsilon=1e-8, name=f"feed_forward_norm_{block}")(q + attended)
        f = layers.Dense(embedding_dim, activation="relu", name=f"feed_forward_in_{block}")(s)
        f = layers.Dropout(dropout, name=f"feed_forward_dropout_{block}")(f)
        f = layers.Dense(embedding_dim, name=f"feed_forward_out_{block}")(f)
        f = layers.Dropout(dropout, name=f"block_dropout_{block}")(f)
        x = (s + f) * keep[..., None]
    states = layers.LayerNormalization(epsilon=1e-8, name="sequence_states")(x)
    return keras.Model(history, states, name="sasrec" if causal else "bidirectional_encoder")
