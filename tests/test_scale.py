"""Cost measurement, power-law fits and top-k truncation: by hand, properties, errors."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recsys_helpers.scale import (
    PowerLaw,
    fit_power_law,
    keep_top_k,
    measure,
    similarity_storage_bytes,
)


def test_measure_returns_the_result_and_sees_an_array_allocation():
    def allocate(n):
        block = np.ones(n)  # n * 8 bytes
        return float(block.sum())

    out = measure(allocate, 2_000_000)
    assert out.result == 2_000_000.0
    assert out.seconds > 0
    assert 16_000_000 <= out.peak_bytes < 17_000_000  # 16 MB, plus a little bookkeeping


def test_measure_counts_only_what_the_call_allocates_and_leaves_tracing_as_it_was():
    import tracemalloc

    kept = np.ones(1_000_000)  # allocated before the call: not part of its peak
    assert measure(lambda: kept.sum()).peak_bytes < 1_000_000
    assert not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        measure(lambda: None)
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()
    with pytest.raises(TypeError, match="callable"):
        measure(42)


def test_power_law_exact_by_hand():
    # cost = 3 n^2: 3, 12, 48 at n = 1, 2, 4.
    law = fit_power_law([1, 2, 4], [3, 12, 48])
    assert law.exponent == pytest.approx(2.0)
    assert law.coefficient == pytest.approx(3.0)
    assert law(8) == pytest.approx(192.0)


def test_power_law_least_squares_by_hand():
    # x = ln n = 0, ln 10, 2 ln 10; y = ln cost with cost = 1, 100, 1000, i.e. y/ln10 = 0, 2, 3.
    # In units of ln 10: x̄ = 1, ȳ = 5/3; b = [(-1)(-5/3) + 0 + (1)(4/3)] / 2 = 1.5;
    # ln a = (5/3 - 1.5) ln 10 -> a = 10^(1/6).
    law = fit_power_law([1, 10, 100], [1, 100, 1000])
    assert law.exponent == pytest.approx(1.5)
    assert law.coefficient == pytest.approx(10 ** (1 / 6))


def test_power_law_is_unchanged_by_units_of_size_in_the_exponent():
    rng = np.random.default_rng(0)
    n = np.array([1e4, 3e4, 1e5, 3e5])
    cost = 2e-6 * n**1.3 * np.exp(rng.normal(0, 0.05, 4))
    a, b = fit_power_law(n, cost), fit_power_law(n / 1000, cost)
    assert a.exponent == pytest.approx(b.exponent)
    assert a.exponent == pytest.approx(1.3, abs=0.1)
    assert isinstance(a, PowerLaw)


@pytest.mark.parametrize("sizes, costs, message", [
    ([1, 2], [1, 2, 3], "equal length"),
    ([1, 2], [1, 0], "positive"),
    ([1, np.nan], [1, 2], "positive"),
    ([5, 5], [1, 2], "two distinct sizes"),
])  # fmt: skip
def test_power_law_errors(sizes, costs, message):
    with pytest.raises(ValueError, match=message):
        fit_power_law(sizes, costs)


def test_keep_top_k_by_hand():
    s = np.array([[1.0, 0.5, 0.2, -0.3],
                  [0.5, 1.0, 0.5, 0.5],
                  [0.2, 0.5, 1.0, 0.0],
                  [-0.3, 0.5, 0.0, 1.0]])  # fmt: skip
    top = keep_top_k(s, 2)
    assert sp.issparse(top) and top.shape == (4, 4)
    expected = np.array([[0, 0.5, 0.2, 0],  # the diagonal never counts; negatives never kept
                         [0.5, 0, 0.5, 0],  # a three-way tie at 0.5: the smaller ids win
                         [0.2, 0.5, 0, 0],
                         [0, 0.5, 0, 0]])  # only one positive neighbour
    np.testing.assert_array_equal(top.toarray(), expected)


def test_keep_top_k_keeps_the_strongest_and_at_most_k_per_row():
    rng = np.random.default_rng(1)
    a = rng.random((30, 30))
    s = (a + a.T) / 2
    top = keep_top_k(s, 5).toarray()
    assert (np.count_nonzero(top, axis=1) == 5).all()
    np.fill_diagonal(s, -1)
    for row in range(30):
        assert set(np.flatnonzero(top[row])) == set(np.argsort(-s[row])[:5])
    assert keep_top_k(s, 100).nnz == 30 * 29  # k beyond the row length keeps every neighbour


def test_keep_top_k_errors():
    with pytest.raises(ValueError, match="square"):
        keep_top_k(np.ones((2, 3)), 1)
    with pytest.raises(ValueError, match="NaN"):
        keep_top_k(np.array([[1.0, np.nan], [np.nan, 1.0]]), 1)
    with pytest.raises(ValueError, match="positive integer"):
        keep_top_k(np.eye(3), 0)


def test_similarity_storage_bytes_by_hand_and_against_scipy():
    assert similarity_storage_bytes(1000) == 8_000_000
    assert similarity_storage_bytes(1000, 50) == 1000 * 50 * 12 + 1001 * 4  # 604,004
    rng = np.random.default_rng(2)
    s = rng.random((300, 300))
    top = keep_top_k(s, 20)
    assert top.indices.dtype == np.int32
    actual = top.data.nbytes + top.indices.nbytes + top.indptr.nbytes
    assert actual == similarity_storage_bytes(300, 20)
    with pytest.raises(ValueError, match="positive integer"):
        similarity_storage_bytes(0)


def test_fit_power_law_agrees_with_polyfit_on_logarithms():
    rng = np.random.default_rng(0)
    n = np.geomspace(1e3, 1e6, 7)
    cost = 2e-5 * n**1.4 * rng.lognormal(0, 0.2, len(n))
    law = fit_power_law(n, cost)
    slope, intercept = np.polyfit(np.log(n), np.log(cost), 1)
    np.testing.assert_allclose([law.exponent, np.log(law.coefficient)], [slope, intercept],
                               rtol=1e-12)  # fmt: skip
