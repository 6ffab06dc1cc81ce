r"""Similarity measures between two users (or two items), from one pair to all pairs.

Chapter 02 introduces them. Two rating vectors :math:`x` and :math:`y` (two users' ratings over
the items, or two items' ratings over the users) are compared **only on their co-rated
entries** :math:`C = \{k : x_k \text{ and } y_k \text{ both observed}\}`; the number
:math:`n = |C|` is the **support** of the similarity. Missing ratings are never treated as 0.

This module holds the same formulas twice:

* one-pair functions for teaching (:func:`euclidean_distance`, :func:`pearson`, :func:`cosine`,
  ...), on two dense vectors with ``NaN`` for "not rated", written to read like the formula;
  each returns a :class:`PairSimilarity` ``(value, support)``;
* :func:`pairwise_similarity`, which computes a measure for every pair of rows of a sparse
  matrix at once from a handful of sparse matrix products, and agrees with the one-pair
  functions (the tests check it).
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import numpy as np
import scipy.sparse as sp

from .base import check_number
from .interactions import center

__all__ = [
    "METRICS",
    "PairSimilarity",
    "adjusted_cosine",
    "co_rated",
    "cosine",
    "euclidean_distance",
    "euclidean_similarity",
    "jaccard",
    "msd",
    "msd_similarity",
    "pairwise_similarity",
    "pearson",
    "pearson_baseline",
    "shrink",
]

#: The measure names ``pairwise_similarity`` (and the neighbourhood models) accept.
Metric = Literal["euclidean", "msd", "cosine", "pearson", "pearson_all", "adjusted_cosine",
                 "jaccard", "pearson_baseline"]  # fmt: skip
METRICS = get_args(Metric)


class PairSimilarity(NamedTuple):
    """A similarity (or distance) and its support, the number of co-rated entries it used.

    ``value`` is ``NaN`` where the measure is undefined (no co-rated entry, or zero variance).
    """

    value: float
    support: int


# --------------------------------------------------------------------------------------------
# One pair at a time, for reading.


def _as_vectors(x, y) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.ndim != 1 or x.shape != y.shape:
        raise ValueError(
            f"x and y must be 1-D vectors of the same length, got shapes {x.shape} and {y.shape}"
        )
    for name, v in (("x", x), ("y", y)):
        if np.isnan(v).all():
            raise ValueError(f"{name} has no observed rating (all entries are NaN)")
        if np.isinf(v).any():
            raise ValueError(f"{name} contains infinite values; use NaN for 'not rated'")
    return x, y


def co_rated(x, y) -> np.ndarray:
    """Boolean mask of the entries observed (not ``NaN``) in both ``x`` and ``y``."""
    x, y = _as_vectors(x, y)
    return ~np.isnan(x) & ~np.isnan(y)


def _ratio(num: float, den: float) -> float:
    return float(num / den) if den > 0 else float("nan")


def euclidean_distance(x, y) -> PairSimilarity:
    r"""Euclidean distance over co-rated entries: :math:`d(x,y)=\sqrt{\sum_{k\in C}(x_k-y_k)^2}`.

    A distance, not a similarity: 0 means identical ratings. It grows with the number of
    co-rated items, so two users who agree on many movies can be "further apart" than two who
    share one — see :func:`msd` for the per-item version.
    """
    x, y = _as_vectors(x, y)
    c = co_rated(x, y)
    if not c.any():
        return PairSimilarity(float("nan"), 0)
    return PairSimilarity(float(np.sqrt(np.sum((x[c] - y[c]) ** 2))), int(c.sum()))


def euclidean_similarity(x, y) -> PairSimilarity:
    r"""Distance turned into a similarity in (0, 1]: :math:`s(x,y) = 1 / (1 + d(x,y))`."""
    d, n = euclidean_distance(x, y)
    return PairSimilarity(1.0 / (1.0 + d), n)


def msd(x, y) -> PairSimilarity:
    r"""Mean squared difference over co-rated entries: :math:`\frac{1}{n}\sum_{k\in C}(x_k-y_k)^2`."""
    x, y = _as_vectors(x, y)
    c = co_rated(x, y)
    if not c.any():
        return PairSimilarity(float("nan"), 0)
    return PairSimilarity(float(np.mean((x[c] - y[c]) ** 2)), int(c.sum()))


def msd_similarity(x, y) -> PairSimilarity:
    r"""MSD turned into a similarity in (0, 1]: :math:`1 / (1 + \mathrm{msd}(x,y))`."""
    value, n = msd(x, y)
    return PairSimilarity(1.0 / (1.0 + value), n)


def cosine(x, y) -> PairSimilarity:
    r"""Cosine of the angle between the co-rated parts of ``x`` and ``y``:

    .. math:: \cos(x,y) = \frac{\sum_{k\in C} x_k y_k}
                               {\sqrt{\sum_{k\in C} x_k^2}\,\sqrt{\sum_{k\in C} y_k^2}} .

    On raw 1–5 stars every rating is positive, so the cosine is high for almost any pair; it
    becomes informative on centred ratings (see :func:`pearson`, :func:`adjusted_cosine`).
    """
    x, y = _as_vectors(x, y)
    c = co_rated(x, y)
    xc, yc = x[c], y[c]
    return PairSimilarity(_ratio(xc @ yc, np.sqrt((xc @ xc) * (yc @ yc))), int(c.sum()))


def pearson(x, y, means: str = "co-rated") -> PairSimilarity:
    r"""Pearson correlation over co-rated entries.

    .. math:: \rho(x,y) = \frac{\sum_{k\in C} (x_k-\bar x)(y_k-\bar y)}
                               {\sqrt{\sum_{k\in C}(x_k-\bar x)^2}\sqrt{\sum_{k\in C}(y_k-\bar y)^2}}

    Which means :math:`\bar x, \bar y`? Both conventions are in use:

    * ``means="co-rated"``: averages over the co-rated entries :math:`C` only — the textbook
      correlation of the two co-rated sub-vectors (Surprise's ``pearson``). Always in [-1, 1].
    * ``means="all"``: each vector's average over *all* its observed entries (Resnick et al.,
      1994; Herlocker et al., 1999). A user who rates the shared movies above their own average
      then counts as such, which the co-rated version cannot see.

    Pearson is unchanged when a user's ratings are shifted and scaled by a positive factor
    (:math:`x \mapsto a x + b`, :math:`a > 0`): it compares *patterns*, not levels.
    """
    if means not in ("co-rated", "all"):
        raise ValueError(f"means must be 'co-rated' or 'all', got {means!r}")
    x, y = _as_vectors(x, y)
    c = co_rated(x, y)
    if means == "co-rated":
        if not c.any():
            return PairSimilarity(float("nan"), 0)
        dx, dy = x[c] - x[c].mean(), y[c] - y[c].mean()
    else:
        dx, dy = x[c] - np.nanmean(x), y[c] - np.nanmean(y)
    return PairSimilarity(_ratio(dx @ dy, np.sqrt((dx @ dx) * (dy @ dy))), int(c.sum()))


def adjusted_cosine(x, y, user_means) -> PairSimilarity:
    r"""Adjusted cosine between two *items* (Sarwar et al., 2001).

    ``x`` and ``y`` are two items' ratings over the users; ``user_means`` holds each user's mean
    rating :math:`\bar r_u` over all the items they rated. Each rating is centred on its *user's*
    mean before taking the cosine over the users :math:`C` who rated both items:

    .. math:: \mathrm{adjcos}(i,j) = \frac{\sum_{u\in C}(r_{ui}-\bar r_u)(r_{uj}-\bar r_u)}
              {\sqrt{\sum_{u\in C}(r_{ui}-\bar r_u)^2}\sqrt{\sum_{u\in C}(r_{uj}-\bar r_u)^2}}

    Unlike item–item Pearson, this removes the *rater's* generosity, which is what differs most
    between the people who rated two movies.
    """
    x, y = _as_vectors(x, y)
    means = np.asarray(user_means, dtype=float)
    if means.shape != x.shape:
        raise ValueError(f"user_means must have shape {x.shape}, got {means.shape}")
    c = co_rated(x, y)
    dx, dy = x[c] - means[c], y[c] - means[c]
    return PairSimilarity(_ratio(dx @ dy, np.sqrt((dx @ dx) * (dy @ dy))), int(c.sum()))


def jaccard(x, y) -> PairSimilarity:
    r"""Jaccard index of *who rated what*, ignoring the values:
    :math:`J(x,y) = |C| / |\{k : x_k \text{ or } y_k \text{ observed}\}|`.

    The natural similarity for implicit feedback, where only the pattern exists.
    """
    x, y = _as_vectors(x, y)
    c = co_rated(x, y)
    union = ~np.isnan(x) | ~np.isnan(y)
    return PairSimilarity(float(c.sum() / union.sum()), int(c.sum()))


def pearson_baseline(x, y, baseline_x, baseline_y) -> PairSimilarity:
    r"""Baseline-centred Pearson (Koren, 2010): the cosine of the residuals from a baseline.

    ``baseline_x`` and ``baseline_y`` are the baseline predictions
    :math:`b_{xk} = \mu + b_x + b_k` for every entry of ``x`` and ``y``. With residuals
    :math:`e_{xk} = x_k - b_{xk}`,

    .. math:: \rho^{b}(x,y) = \frac{\sum_{k\in C} e_{xk} e_{yk}}
                                   {\sqrt{\sum_{k\in C} e_{xk}^2}\sqrt{\sum_{k\in C} e_{yk}^2}} .

    Centring on the baseline removes both the user's and the item's bias at once. It is
    usually combined with shrinkage (:func:`shrink`, :math:`\lambda = 100`).
    """
    x, y = _as_vectors(x, y)
    bx, by = np.asarray(baseline_x, dtype=float), np.asarray(baseline_y, dtype=float)
    if bx.shape != x.shape or by.shape != y.shape:
        raise ValueError("baseline_x and baseline_y must have the shapes of x and y")
    c = co_rated(x, y)
    ex, ey = x[c] - bx[c], y[c] - by[c]
    return PairSimilarity(_ratio(ex @ ey, np.sqrt((ex @ ex) * (ey @ ey))), int(c.sum()))


def shrink(similarity, support, shrinkage: float):
    r"""Shrink a similarity towards 0 when its support is small:

    .. math:: s' = s \cdot \frac{n - 1}{n - 1 + \lambda}

    This is Surprise's variant (Hug, 2020), 0 at :math:`n = 1`; Koren (2010) shrinks by
    :math:`n / (n + \lambda)`, and Herlocker et al. (1999) weight by :math:`\min(n, 50) / 50`.

    With :math:`\lambda = 100`, a correlation computed on 5 co-rated items keeps
    :math:`4/104 \approx 4\%` of its value, one computed on 200 items about two thirds.
    """
    check_number("shrinkage", shrinkage, minimum=0)
    n = np.asarray(support, dtype=float)
    factor = np.divide(n - 1, n - 1 + shrinkage, out=np.zeros_like(n), where=n - 1 + shrinkage > 0)
    return np.asarray(similarity) * np.maximum(factor, 0.0)


# --------------------------------------------------------------------------------------------
# All pairs at once.

# Dense products are fastest (BLAS) while the dense copy of the matrix stays small; past this
# many cells the blocked sparse products take over, bounding memory.
_DENSE_CELLS = 20_000_000


def _center_for(metric, values, baseline) -> sp.csr_matrix:
    """The stored values shifted as the metric requires (rated pattern unchanged)."""
    n_rows, n_cols = values.shape
    if metric == "pearson_all":  # each row's mean over all its entries
        return center(values, axis="user")[0]
    if metric == "adjusted_cosine":  # each column's mean (the user's, for items x users)
        return center(values, axis="item")[0]
    if metric == "pearson_baseline":
        rows = np.repeat(np.arange(n_rows), np.diff(values.indptr))
        mu, row_bias, col_bias = baseline
        row_bias, col_bias = np.asarray(row_bias), np.asarray(col_bias)
        if row_bias.shape != (n_rows,) or col_bias.shape != (n_cols,):
            raise ValueError(f"baseline biases must have shapes ({n_rows},) and ({n_cols},)")
        values.data -= mu + row_bias[rows] + col_bias[values.indices]
    return values


def _needed(metric: str) -> tuple[str, ...]:
    if metric == "jaccard":
        return ("n",)
    if metric == "pearson":
        return ("n", "sx", "sy", "sxx", "syy", "sxy")
    return ("n", "sxx", "syy", "sxy")


def _co_rated_sums(values: sp.csr_matrix, needed, block_size):
    """Yield ``(start, stop, sums)`` for blocks of rows; ``sums`` maps a name to an array of
    shape (block, n_rows): n = #co-rated, sx = sum of x over co-rated, sxx = sum of x^2, ..."""
    pattern = values.copy()
    pattern.data = np.ones_like(pattern.data)
    squares = values.multiply(values).tocsr()
    n_rows, n_cols = values.shape
    if n_rows * n_cols <= _DENSE_CELLS:
        # Integer-valued data with small sums multiply exactly in float32, twice as fast.
        exact32 = (np.array_equal(values.data, np.round(values.data))
                   and float(np.abs(squares.data).max(initial=0)) * n_cols < 2**24)  # fmt: skip
        dtype = np.float32 if exact32 else np.float64
        b, v, v2 = (m.toarray().astype(dtype, copy=False) for m in (pattern, values, squares))
        b32 = b.astype(np.float32, copy=False)
        full = {"n": b32 @ b32.T}  # counts are always exact in float32
        if "sx" in needed:
            full["sx"] = v @ b.T
            full["sy"] = np.ascontiguousarray(full["sx"].T)  # the same sums, seen from y
        if "sxx" in needed:
            full["sxx"] = v2 @ b.T
            full["syy"] = np.ascontiguousarray(full["sxx"].T)
            full["sxy"] = v @ v.T
        # Combine in row blocks that stay in cache, in float64.
        for start in range(0, n_rows, 256):
            stop = min(start + 256, n_rows)
            yield start, stop, {k: a[start:stop].astype(np.float64) for k, a in full.items()}
        return
    pattern_t, values_t, squares_t = (m.T.tocsr() for m in (pattern, values, squares))
    for start in range(0, n_rows, block_size):
        stop = min(start + block_size, n_rows)
        b, v, v2 = pattern[start:stop], values[start:stop], squares[start:stop]
        pairs = {"n": (b, pattern_t), "sx": (v, pattern_t), "sy": (b, values_t),
                 "sxx": (v2, pattern_t), "syy": (b, squares_t), "sxy": (v, values_t)}  # fmt: skip
        yield start, stop, {k: (pairs[k][0] @ pairs[k][1]).toarray() for k in needed}


def _combine(metric: str, s: dict, sizes_block, sizes_all) -> np.ndarray:
    """Similarity from the co-rated sums of a block of rows (undefined cases give 0).
    Works in place on the sums."""
    n = s["n"]
    if metric == "jaccard":
        union = sizes_block[:, None] + sizes_all[None, :] - n
        return np.divide(n, union, out=np.zeros_like(n), where=union > 0)
    if metric in ("euclidean", "msd"):
        sq_diff = s["sxx"] + s["syy"]
        sq_diff -= 2 * s["sxy"]
        np.maximum(sq_diff, 0.0, out=sq_diff)
        if metric == "euclidean":
            np.sqrt(sq_diff, out=sq_diff)
        else:
            np.divide(sq_diff, n, out=sq_diff, where=n > 0)
        sq_diff += 1.0
        return np.reciprocal(sq_diff, out=sq_diff)
    if metric == "pearson":
        num = n * s["sxy"]
        num -= s["sx"] * s["sy"]
        var_x = n * s["sxx"]
        var_x -= s["sx"] ** 2
        np.maximum(var_x, 0.0, out=var_x)
        var_y = n * s["syy"]
        var_y -= s["sy"] ** 2
        np.maximum(var_y, 0.0, out=var_y)
    else:  # the cosine family: cosine, pearson_all, adjusted_cosine, pearson_baseline
        num, var_x, var_y = s["sxy"], s["sxx"], s["syy"]
    den = var_x * var_y
    np.sqrt(den, out=den)
    # Zero variance on the co-rated entries (up to round-off): undefined, so 0.
    defined = den > 1e-12 * np.maximum(n, 1) ** 2
    sim = np.divide(num, den, out=np.zeros_like(num), where=defined)
    return np.clip(sim, -1.0, 1.0, out=sim)


def pairwise_similarity(
    matrix: sp.spmatrix,
    metric: str = "pearson",
    min_support: int = 1,
    shrinkage: float = 0.0,
    baseline: tuple[float, np.ndarray, np.ndarray] | None = None,
    block_size: int | None = None,
) -> np.ndarray:
    r"""Similarity between every pair of rows of a sparse rating matrix.

    Rows are the things compared (users for user–user, items for item–item: pass ``R.T``);
    stored entries are ratings, everything else is "not rated". Each measure is computed only
    on co-rated entries, from sums over :math:`C` obtained as matrix products. With :math:`B`
    the 0/1 "rated" pattern and :math:`V` the values:

    * support :math:`n = BB^\top`; co-rated sums :math:`\sum_C x = VB^\top`,
      :math:`\sum_C x^2 = V^{\circ 2} B^\top`, :math:`\sum_C xy = VV^\top`;
    * ``"pearson"`` (means over co-rated entries) is then
      :math:`\frac{n\sum xy - \sum x \sum y}{\sqrt{n\sum x^2-(\sum x)^2}\sqrt{n\sum y^2-(\sum y)^2}}`.

    Parameters
    ----------
    matrix : scipy.sparse matrix, shape (n_rows, n_cols)
    metric : one of :data:`METRICS`
        ``"euclidean"`` and ``"msd"`` give :math:`1/(1+d)` and :math:`1/(1+\mathrm{msd})`;
        ``"pearson_all"`` uses each row's mean over all its entries; ``"adjusted_cosine"``
        centres each column (pass items × users to get Sarwar's item–item measure);
        ``"pearson_baseline"`` needs ``baseline``.
    min_support : int
        Pairs with fewer co-rated entries get similarity 0.
    shrinkage : float
        :math:`\lambda` of :func:`shrink`; 0 leaves similarities as they are.
    baseline : (mu, row_bias, col_bias), only for ``"pearson_baseline"``
        Residuals are :math:`r - \mu - b_{row} - b_{col}`.
    block_size : int, optional
        Rows processed at once on large matrices (the sparse path); bounds the memory of the
        intermediate products. Small matrices use dense (BLAS) products on all rows at once.

    Returns
    -------
    ndarray of float64, shape (n_rows, n_rows)
        Symmetric. Undefined similarities (no co-rated entry, zero variance) are 0, so that
        such a pair never counts as a neighbour.
    """
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {METRICS}")
    if not sp.issparse(matrix) or matrix.ndim != 2:
        raise ValueError("matrix must be a 2-D scipy.sparse matrix (rows are compared)")
    check_number("min_support", min_support, minimum=1)
    check_number("shrinkage", shrinkage, minimum=0)
    if (metric == "pearson_baseline") != (baseline is not None):
        raise ValueError("baseline=(mu, row_bias, col_bias) is needed by, and only by, "
                         "metric='pearson_baseline'")  # fmt: skip

    values = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    values.sum_duplicates()
    values.sort_indices()
    if not np.isfinite(values.data).all():
        raise ValueError("matrix stores NaN or infinite values")
    values = _center_for(metric, values, baseline)

    n_rows = values.shape[0]
    sizes = np.diff(values.indptr).astype(float)
    if block_size is None:  # about 80 MB per intermediate block
        block_size = max(1, 10_000_000 // max(n_rows, 1))
    out = np.empty((n_rows, n_rows))
    for start, stop, sums in _co_rated_sums(values, _needed(metric), block_size):
        sim = _combine(metric, sums, sizes[start:stop], sizes)
        n = sums["n"]
        sim[n < min_support] = 0.0
        if shrinkage > 0:
            sim = shrink(sim, n, shrinkage)
        out[start:stop] = sim
    return out
