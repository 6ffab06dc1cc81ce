"""Similarity measures: hand-computed examples, fast == readable, properties, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_helpers import similarity
from recsys_helpers.similarity import (
    METRICS,
    adjusted_cosine,
    co_rated,
    cosine,
    euclidean_distance,
    euclidean_similarity,
    jaccard,
    msd,
    msd_similarity,
    pairwise_similarity,
    pearson,
    pearson_baseline,
    shrink,
)

nan = np.nan
# Co-rated entries are 0, 2 and 5: x = (5, 4, 1), y = (4, 5, 2) there.
X = np.array([5, 3, 4, nan, nan, 1])
Y = np.array([4, nan, 5, 2, nan, 2])


# --- one pair, by hand --------------------------------------------------------------------


def test_co_rated_mask():
    assert co_rated(X, Y).tolist() == [True, False, True, False, False, True]


def test_euclidean_and_msd_by_hand():
    # differences 1, -1, -1: squared sum 3
    assert euclidean_distance(X, Y) == (pytest.approx(np.sqrt(3)), 3)
    assert euclidean_similarity(X, Y).value == pytest.approx(1 / (1 + np.sqrt(3)))
    assert msd(X, Y) == (pytest.approx(1.0), 3)
    assert msd_similarity(X, Y).value == pytest.approx(0.5)


def test_cosine_by_hand():
    # x.y = 20 + 20 + 2 = 42, |x|^2 = 42, |y|^2 = 45
    assert cosine(X, Y) == (pytest.approx(42 / np.sqrt(42 * 45)), 3)


def test_pearson_with_co_rated_means_by_hand():
    # means 10/3 and 11/3; deviations (5, 2, -7)/3 and (1, 4, -5)/3
    assert pearson(X, Y) == (pytest.approx(48 / np.sqrt(78 * 42)), 3)


def test_pearson_with_all_means_by_hand():
    # both means over all four ratings are 13/4; deviations (1.75, .75, -2.25), (.75, 1.75, -1.25)
    expected = 5.4375 / np.sqrt(8.6875 * 5.1875)
    assert pearson(X, Y, means="all") == (pytest.approx(expected), 3)
    assert expected != pytest.approx(pearson(X, Y).value)  # the two conventions differ


def test_adjusted_cosine_by_hand():
    user_means = np.array([3, 4, 3, 2, 5, 2])
    # centred co-rated entries: (2, 1, -1) and (1, 2, 0)
    assert adjusted_cosine(X, Y, user_means) == (pytest.approx(4 / np.sqrt(6 * 5)), 3)


def test_jaccard_by_hand():
    # rated by x: {0,1,2,5}; by y: {0,2,3,5}; both: 3; either: 5
    assert jaccard(X, Y) == (pytest.approx(3 / 5), 3)


def test_pearson_baseline_by_hand():
    bx, by = np.array([4, 4, 4, 4, 4, 2]), np.full(6, 3.0)
    # residuals (1, 0, -1) and (1, 2, -1)
    assert pearson_baseline(X, Y, bx, by) == (pytest.approx(2 / np.sqrt(2 * 6)), 3)


def test_shrinkage_by_hand():
    assert shrink(0.5, 5, 100) == pytest.approx(0.5 * 4 / 104)
    assert shrink(0.5, 5, 0) == pytest.approx(0.5)
    assert shrink(0.9, 1, 100) == 0.0  # one co-rated item carries no evidence


def test_one_common_item_is_perfectly_euclidean_but_undefined_for_pearson():
    a = np.array([5, nan, nan, 1])
    b = np.array([5, 3, 2, nan])
    assert euclidean_similarity(a, b) == (1.0, 1)
    value, support = pearson(a, b)
    assert support == 1 and np.isnan(value)


def test_no_overlap_gives_nan_with_zero_support():
    a, b = np.array([1, nan]), np.array([nan, 2])
    for function in (euclidean_distance, msd, cosine, pearson):
        value, support = function(a, b)
        assert support == 0 and np.isnan(value)
    assert jaccard(a, b) == (0.0, 0)


def test_pearson_is_invariant_to_positive_affine_changes():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 6, 30).astype(float)
    y = rng.integers(1, 6, 30).astype(float)
    x[rng.random(30) < 0.3] = nan
    for means in ("co-rated", "all"):
        assert pearson(2.5 * x + 1, y, means).value == pytest.approx(pearson(x, y, means).value)
    assert pearson(-x, y).value == pytest.approx(-pearson(x, y).value)


@pytest.mark.parametrize(
    "x, y, message",
    [(np.ones(3), np.ones(4), "same length"),
     (np.ones((2, 2)), np.ones((2, 2)), "1-D"),
     (np.full(3, nan), np.ones(3), "x has no observed rating"),
     (np.ones(3), np.array([1, np.inf, 2]), "infinite")],
)  # fmt: skip
def test_bad_vectors_raise(x, y, message):
    with pytest.raises(ValueError, match=message):
        pearson(x, y)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="means must be"):
        pearson(X, Y, means="global")
    with pytest.raises(ValueError, match="user_means must have shape"):
        adjusted_cosine(X, Y, [1, 2])
    with pytest.raises(ValueError, match="shrinkage"):
        shrink(0.5, 3, -1)


# --- all pairs == one pair at a time -------------------------------------------------------


def random_ratings(n_rows=25, n_cols=40, density=0.3, seed=0) -> sp.csr_matrix:
    rng = np.random.default_rng(seed)
    mask = rng.random((n_rows, n_cols)) < density
    mask[0, :] = False  # a row with a single rating
    mask[0, 3] = True
    values = rng.integers(1, 6, (n_rows, n_cols)).astype(float)
    values[2, mask[2]] = 4.0  # a row with zero variance
    return sp.csr_matrix(np.where(mask, values, 0.0))


def dense_with_nan(matrix: sp.csr_matrix) -> np.ndarray:
    out = np.full(matrix.shape, nan)
    coo = matrix.tocoo()
    out[coo.row, coo.col] = coo.data
    return out


def slow_pairwise(matrix, metric, baseline=None):
    """The one-pair functions applied to every pair: the readable twin of pairwise_similarity."""
    dense = dense_with_nan(matrix)
    n = len(dense)
    col_means = np.nanmean(dense, axis=0)
    out = np.zeros((n, n))
    for a in range(n):
        for b in range(n):
            x, y = dense[a], dense[b]
            if metric == "euclidean":
                value = euclidean_similarity(x, y).value
            elif metric == "msd":
                value = msd_similarity(x, y).value
            elif metric == "cosine":
                value = cosine(x, y).value
            elif metric == "pearson":
                value = pearson(x, y).value
            elif metric == "pearson_all":
                value = pearson(x, y, means="all").value
            elif metric == "adjusted_cosine":
                value = adjusted_cosine(x, y, col_means).value
            elif metric == "jaccard":
                value = jaccard(x, y).value
            else:
                mu, row_bias, col_bias = baseline
                value = pearson_baseline(x, y, mu + row_bias[a] + col_bias,
                                         mu + row_bias[b] + col_bias).value  # fmt: skip
            out[a, b] = np.nan_to_num(value)
    return out


def baseline_for(matrix):
    rng = np.random.default_rng(1)
    return 3.5, rng.normal(0, 0.3, matrix.shape[0]), rng.normal(0, 0.3, matrix.shape[1])


@pytest.mark.parametrize("path", ["dense", "sparse"])
@pytest.mark.parametrize("metric", METRICS)
def test_fast_equals_one_pair_version(metric, path, monkeypatch):
    if path == "sparse":  # force the blocked sparse products, in blocks of 7 rows
        monkeypatch.setattr(similarity, "_DENSE_CELLS", 0)
    matrix = random_ratings()
    baseline = baseline_for(matrix) if metric == "pearson_baseline" else None
    fast = pairwise_similarity(matrix, metric, baseline=baseline, block_size=7)
    np.testing.assert_allclose(fast, slow_pairwise(matrix, metric, baseline), atol=1e-9)


@pytest.mark.parametrize("metric", METRICS)
def test_similarities_are_symmetric_and_bounded(metric):
    matrix = random_ratings(seed=3)
    baseline = baseline_for(matrix) if metric == "pearson_baseline" else None
    sim = pairwise_similarity(matrix, metric, baseline=baseline)
    np.testing.assert_allclose(sim, sim.T, atol=1e-12)
    low = 0.0 if metric in ("euclidean", "msd", "jaccard") else -1.0
    assert sim.min() >= low and sim.max() <= 1.0


def test_half_star_ratings_take_the_exact_float64_path():
    matrix = random_ratings(seed=4)
    matrix.data = matrix.data - 0.5
    np.testing.assert_allclose(pairwise_similarity(matrix, "pearson"),
                               slow_pairwise(matrix, "pearson"), atol=1e-9)  # fmt: skip


def test_pairwise_pearson_is_invariant_to_affine_change_of_one_row():
    matrix = random_ratings(seed=5)
    changed = matrix.tolil()
    changed[4] = matrix[4] * 2.0  # scale then shift row 4's stored ratings
    changed = changed.tocsr()
    changed.data[changed.indptr[4]:changed.indptr[5]] += 1.0
    for metric in ("pearson", "pearson_all"):
        before = pairwise_similarity(matrix, metric)[4]
        after = pairwise_similarity(changed, metric)[4]
        np.testing.assert_allclose(after, before, atol=1e-9)


def test_min_support_and_shrinkage():
    matrix = random_ratings(seed=6)
    pattern = (dense_with_nan(matrix) == dense_with_nan(matrix)).astype(float)
    support = pattern @ pattern.T
    plain = pairwise_similarity(matrix, "pearson")
    strict = pairwise_similarity(matrix, "pearson", min_support=8)
    assert (strict[support < 8] == 0).all()
    np.testing.assert_allclose(strict[support >= 8], plain[support >= 8])
    shrunk = pairwise_similarity(matrix, "pearson", shrinkage=50)
    np.testing.assert_allclose(shrunk, plain * np.maximum(support - 1, 0) / (support - 1 + 50))
    assert (np.abs(shrunk) <= np.abs(plain) + 1e-15).all()


def test_pairwise_errors():
    matrix = random_ratings()
    with pytest.raises(ValueError, match="unknown metric 'manhattan'"):
        pairwise_similarity(matrix, "manhattan")
    with pytest.raises(ValueError, match="scipy.sparse"):
        pairwise_similarity(matrix.toarray(), "pearson")
    with pytest.raises(ValueError, match="min_support"):
        pairwise_similarity(matrix, "pearson", min_support=0)
    with pytest.raises(ValueError, match="shrinkage"):
        pairwise_similarity(matrix, "pearson", shrinkage=-1)
    with pytest.raises(ValueError, match="baseline"):
        pairwise_similarity(matrix, "pearson_baseline")
    with pytest.raises(ValueError, match="baseline"):
        pairwise_similarity(matrix, "pearson", baseline=baseline_for(matrix))
    with pytest.raises(ValueError, match="shapes"):
        pairwise_similarity(matrix, "pearson_baseline", baseline=(3.0, np.zeros(2), np.zeros(2)))
    bad = matrix.copy()
    bad.data[0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pairwise_similarity(bad, "pearson")
