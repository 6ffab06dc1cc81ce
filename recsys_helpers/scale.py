r"""What it costs to fit a model as the data grows (chapter 10).

* :func:`measure` runs a function once and returns its result, the wall-clock seconds and the
  peak memory it allocated (through :mod:`tracemalloc`, which sees every NumPy and SciPy array).
* :func:`fit_power_law` fits :math:`\text{cost}(n) = a\,n^{b}` to measured costs by least
  squares on log–log axes. The exponent :math:`b` says how the cost grows: doubling the data
  multiplies the cost by :math:`2^{b}`.
* :func:`keep_top_k` is the first remedy for a dense similarity matrix that no longer fits:
  keep only each row's :math:`k` strongest neighbours, in a sparse matrix;
  :func:`similarity_storage_bytes` says what either form costs to store.
"""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from .base import check_positive_int

__all__ = ["Measurement", "PowerLaw", "fit_power_law", "keep_top_k", "measure",
           "similarity_storage_bytes"]


class Measurement(NamedTuple):
    """What :func:`measure` returns."""

    result: Any
    seconds: float
    peak_bytes: int


def measure(function: Callable, *args, **kwargs) -> Measurement:
    """Call ``function(*args, **kwargs)`` once; return its result, seconds and peak memory.

    ``peak_bytes`` is the largest amount of memory allocated *during the call* on top of what
    was allocated before it, as :mod:`tracemalloc` counts it: every Python object and every
    NumPy/SciPy array buffer, but not the small scratch space of BLAS or of TensorFlow. Tracing
    adds a little time to code that creates many small Python objects; array arithmetic is
    unaffected. If tracing was already on, it stays on (and the peak is reset for this call).
    """
    if not callable(function):
        raise TypeError(f"function must be callable, got {type(function).__name__}")
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        start = time.perf_counter()
        result = function(*args, **kwargs)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return Measurement(result, seconds, max(peak - before, 0))


class PowerLaw(NamedTuple):
    r"""A fitted :math:`\text{cost}(n) = a\,n^{b}`: ``coefficient`` :math:`a`, ``exponent``
    :math:`b`."""

    coefficient: float
    exponent: float

    def __call__(self, n):
        """The cost the law predicts at size(s) ``n``."""
        return self.coefficient * np.asarray(n, dtype=float) ** self.exponent


def fit_power_law(sizes, costs) -> PowerLaw:
    r"""Fit :math:`\text{cost} = a\,n^{b}` by least squares on logarithms.

    With :math:`x = \ln n` and :math:`y = \ln \text{cost}`, the law is the line
    :math:`y = \ln a + b\,x`, so

    .. math:: b = \frac{\sum_j (x_j - \bar x)(y_j - \bar y)}{\sum_j (x_j - \bar x)^2},
              \qquad \ln a = \bar y - b\,\bar x .

    Parameters
    ----------
    sizes, costs : array-like of positive numbers, same length (at least two distinct sizes)

    Returns
    -------
    PowerLaw
    """
    n = np.asarray(sizes, dtype=float)
    c = np.asarray(costs, dtype=float)
    if n.ndim != 1 or n.shape != c.shape:
        raise ValueError(f"sizes and costs must be 1-D and of equal length, got {n.shape} "
                         f"and {c.shape}")  # fmt: skip
    if not (np.isfinite(n).all() and np.isfinite(c).all() and (n > 0).all() and (c > 0).all()):
        raise ValueError("sizes and costs must be finite and positive (their logarithms are used)")
    if len(np.unique(n)) < 2:
        raise ValueError("need at least two distinct sizes to fit a growth exponent")
    x, y = np.log(n), np.log(c)
    dx = x - x.mean()
    exponent = float(dx @ (y - y.mean()) / (dx @ dx))
    return PowerLaw(float(np.exp(y.mean() - exponent * x.mean())), exponent)


def keep_top_k(similarity, k: int) -> sp.csr_matrix:
    """Each row's ``k`` largest *positive* off-diagonal entries, as a sparse matrix.

    Memory falls from :math:`n^2` numbers to at most :math:`nk`; what is dropped are the weak
    neighbours, which a neighbourhood model with ``k`` or fewer voters rarely uses. Ties at the
    k-th place are broken towards the smaller column index, so the result is deterministic.

    Parameters
    ----------
    similarity : ndarray, shape (n, n)
        A dense square similarity matrix (e.g. ``ItemKNN().fit(...).similarity_``).
    k : int
        Neighbours kept per row.
    """
    check_positive_int("k", k)
    s = np.asarray(similarity, dtype=float)
    if s.ndim != 2 or s.shape[0] != s.shape[1]:
        raise ValueError(f"similarity must be a square 2-D array, got shape {s.shape}")
    if not np.isfinite(s).all():
        raise ValueError("similarity contains NaN or infinite values")
    n = s.shape[0]
    key = np.where(s > 0, s, -np.inf)
    np.fill_diagonal(key, -np.inf)
    kk = min(k, max(n - 1, 1))
    # A stable sort on the negated key orders each row by strength, then by column index.
    order = np.argsort(-key, axis=1, kind="stable")[:, :kk]
    rows = np.repeat(np.arange(n), kk)
    cols = order.ravel()
    keep = np.isfinite(key[rows, cols])
    return sp.csr_matrix((s[rows, cols][keep], (rows[keep], cols[keep])), shape=(n, n))


def similarity_storage_bytes(n: int, k: int | None = None) -> int:
    r"""Bytes needed to store an :math:`n \times n` similarity matrix of float64 values.

    Dense: :math:`8n^2`. Keeping only each row's :math:`k` neighbours in CSR form (float64
    values, int32 column indices and row pointers): :math:`(8 + 4)\,nk + 4\,(n + 1)`.
    """
    check_positive_int("n", n)
    if k is None:
        return 8 * n * n
    check_positive_int("k", k)
    return 12 * n * min(k, n) + 4 * (n + 1)
