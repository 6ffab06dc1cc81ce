r"""Layers by hand: the formulas of chapters 07, 08 and 11 written step by step in NumPy, with the
weights and conventions of the Keras layers they mirror (each is tested against its Keras twin).

* :func:`dense_layer` and :func:`conv1d` — chapter 07;
* :func:`rnn_states`, :func:`gru_states` and :func:`gru_states_reset_before` — chapter 08;
* :func:`softmax`, :func:`causal_mask`, :func:`scaled_dot_product_attention` and
  :func:`multi_head_attention` — chapter 11.

This module needs only NumPy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["causal_mask", "conv1d", "dense_layer", "gru_states", "gru_states_reset_before",
           "multi_head_attention", "rnn_states", "scaled_dot_product_attention", "softmax"]  # fmt: skip


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




def softmax(scores, axis: int = -1) -> np.ndarray:
    r""":math:`\mathrm{softmax}(s)_j = e^{s_j} / \sum_k e^{s_k}` along ``axis``, computed stably
    (the maximum is subtracted first). Entries of ``-inf`` get weight 0; a slice that is ``-inf``
    everywhere (nothing may be attended to) gets weights 0, not NaN."""
    scores = np.asarray(scores, dtype=np.float64)
    top = np.max(scores, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    weights = np.exp(scores - top)
    total = weights.sum(axis=axis, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def causal_mask(length: int) -> np.ndarray:
    """The (length, length) boolean mask of causal attention: position ``t`` may attend to
    positions ``0..t`` (True on and below the diagonal), never to the future."""
    if not (isinstance(length, (int, np.integer)) and length >= 1):
        raise ValueError(f"length must be a positive integer, got {length!r}")
    return np.tril(np.ones((length, length), dtype=bool))


def scaled_dot_product_attention(queries, keys, values, mask=None) -> tuple[np.ndarray, np.ndarray]:
    r"""Scaled dot-product attention (Vaswani et al., 2017):

    .. math::
        \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\Bigl(\frac{Q K^\top}{\sqrt{d_k}}\Bigr) V

    Each row of ``queries`` (T_q, d_k) scores every row of ``keys`` (T_k, d_k) by a dot product,
    divided by :math:`\sqrt{d_k}` so that the scores of random d_k-dimensional vectors keep a
    variance near 1 whatever d_k; a softmax turns each query's scores into weights summing to 1,
    and the output is that weighted average of the rows of ``values`` (T_k, d_v). ``mask``
    (T_q, T_k, boolean) marks which keys each query may see (e.g. :func:`causal_mask`); masked
    scores become :math:`-\infty`, i.e. weight 0. Returns ``(outputs (T_q, d_v), weights
    (T_q, T_k))``.
    """
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (queries, keys, values))
    if q.ndim != 2 or k.ndim != 2 or v.ndim != 2 or q.shape[1] != k.shape[1] or len(k) != len(v):
        raise ValueError(f"queries must be (T_q, d_k), keys (T_k, d_k) and values (T_k, d_v); "
                         f"got {q.shape}, {k.shape} and {v.shape}")
    scores = q @ k.T / np.sqrt(q.shape[1])
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != scores.shape:
            raise ValueError(f"mask must have shape (T_q, T_k) = {scores.shape}, got {mask.shape}")
        scores = np.where(mask, scores, -np.inf)
    weights = softmax(scores, axis=-1)
    return weights @ v, weights


def multi_head_attention(query, value, weights, key=None, mask=None) -> np.ndarray:
    r"""Multi-head attention with the weights and conventions of ``keras.layers.MultiHeadAttention``
    (``weights`` is ``layer.get_weights()``: query, key, value and output kernels and biases).

    Each head :math:`h` projects the sequences, :math:`Q_h = X_q W^Q_h + b^Q_h`,
    :math:`K_h = X_k W^K_h + b^K_h`, :math:`V_h = X_v W^V_h + b^V_h`, attends
    (:func:`scaled_dot_product_attention`), and the heads' outputs are mapped back and summed:
    :math:`\sum_h \mathrm{Attention}(Q_h, K_h, V_h)\, W^O_h + b^O`. ``query`` is (T_q, d),
    ``value`` (and ``key``, which defaults to ``value``) (T_k, d); ``mask`` as in
    :func:`scaled_dot_product_attention`. Returns (T_q, d_out).
    """
    if len(weights) != 8:
        raise ValueError("weights must be the 8 arrays of a MultiHeadAttention layer with biases "
                         f"(kernel and bias of query, key, value, output); got {len(weights)}")
    wq, bq, wk, bk, wv, bv, wo, bo = (np.asarray(w, dtype=np.float64) for w in weights)
    xq = np.asarray(query, dtype=np.float64)
    xv = np.asarray(value, dtype=np.float64)
    xk = xv if key is None else np.asarray(key, dtype=np.float64)
    out = np.zeros((len(xq), wo.shape[-1])) + bo
    for h in range(wq.shape[1]):  # kernels are (d, heads, head_dim); the output (heads, head_dim, d)
        heads_out, _ = scaled_dot_product_attention(xq @ wq[:, h] + bq[h], xk @ wk[:, h] + bk[h],
                                                    xv @ wv[:, h] + bv[h], mask)  # fmt: skip
        out += heads_out @ wo[h]
    return out
