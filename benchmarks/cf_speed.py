"""Speed and accuracy of the neighbourhood models, side by side with Surprise.

Run from the repository root, with MovieLens 100K available (see the README)::

    .venv/bin/python benchmarks/cf_speed.py            # everything
    .venv/bin/python benchmarks/cf_speed.py --skip-large

For each configuration it fits on each official base file u1..u5 and predicts the matching test
file, timing fit + predict. When ``scikit-surprise`` is installed (a benchmark-only extra:
``pip install scikit-surprise``) the equivalent Surprise algorithm runs on the same folds in the
same process, interleaved fold by fold, so both see the same machine load. It then times
``pairwise_similarity`` (Pearson, item-item) on synthetic data of 1M ratings over 10,000 items.

Machines are noisy: compare the ratios within one run, not seconds across runs.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc

import numpy as np

from recsys_helpers.datasets import load_movielens
from recsys_helpers.interactions import rating_matrix
from recsys_helpers.metrics import rmse
from recsys_helpers.neighbors import ItemKNN, UserKNN
from recsys_helpers.similarity import pairwise_similarity
from recsys_helpers.splits import official_folds
from recsys_helpers.synthetic import make_ratings

CONFIGS = {
    "UserKNN k=40, pearson, mean": (
        lambda: UserKNN(k=40, similarity="pearson", centering="mean"),
        ("KNNWithMeans", {"k": 40, "sim_options": {"name": "pearson", "user_based": True}}),
    ),
    "ItemKNN k=40, pearson, mean": (
        lambda: ItemKNN(k=40, similarity="pearson", centering="mean"),
        ("KNNWithMeans", {"k": 40, "sim_options": {"name": "pearson", "user_based": False}}),
    ),
    "ItemKNN k=40, pearson_baseline, shrink 100, baseline": (
        lambda: ItemKNN(k=40, similarity="pearson_baseline", shrinkage=100,
                        centering="baseline"),
        ("KNNBaseline", {"k": 40, "sim_options": {"name": "pearson_baseline",
                                                   "user_based": False, "shrinkage": 100}}),
    ),
}  # fmt: skip


def surprise_folds(folds):
    """The same folds as Surprise train/test sets, or None if Surprise is not installed."""
    try:
        import pandas as pd
        from surprise import Dataset, Reader
    except ImportError:
        return None
    reader = Reader(rating_scale=(1, 5))
    converted = []
    for train, test in folds:
        cols = ["user_id", "item_id", "rating"]
        trainset = Dataset.load_from_df(train[cols], reader).build_full_trainset()
        testset = list(test[cols].itertuples(index=False, name=None))
        converted.append((trainset, testset, pd.Series(test["rating"].to_numpy())))
    return converted


def run_surprise(spec, trainset, testset):
    import surprise

    name, kwargs = spec
    algo = getattr(surprise, name)(verbose=False, **kwargs)
    start = time.perf_counter()
    algo.fit(trainset)
    predictions = algo.test(testset)
    seconds = time.perf_counter() - start
    return np.array([p.est for p in predictions]), seconds


def benchmark_models(folds, reference) -> list[dict]:
    rows = []
    for label, (make, spec) in CONFIGS.items():
        ours_s, ours_rmse, ref_s, ref_rmse = [], [], [], []
        make().fit(folds[0].train)  # warm-up: first BLAS call and page faults
        for k, (train, test) in enumerate(folds):
            start = time.perf_counter()
            pred = make().fit(train).predict(test)
            ours_s.append(time.perf_counter() - start)
            ours_rmse.append(rmse(test["rating"], pred))
            if reference is not None:
                trainset, testset, truth = reference[k]
                est, seconds = run_surprise(spec, trainset, testset)
                ref_s.append(seconds)
                ref_rmse.append(rmse(truth, est))
        rows.append({
            "configuration": label,
            "RMSE": np.mean(ours_rmse),
            "Surprise RMSE": np.mean(ref_rmse) if ref_rmse else np.nan,
            "s/fold": np.mean(ours_s),
            "Surprise s/fold": np.mean(ref_s) if ref_s else np.nan,
            "speed-up": np.mean(ref_s) / np.mean(ours_s) if ref_s else np.nan,
        })  # fmt: skip
    return rows


def benchmark_large(n_ratings=1_000_000, n_items=10_000, n_users=20_000) -> dict:
    world = make_ratings(n_users=n_users, n_items=n_items, n_ratings=n_ratings, seed=0)
    matrix, _, _ = rating_matrix(world.ratings)
    items_by_users = matrix.T.tocsr()
    tracemalloc.start()
    start = time.perf_counter()
    sim = pairwise_similarity(items_by_users, "pearson")
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "shape": sim.shape,
        "seconds": seconds,
        "peak_gb": peak / 1e9,
        "maxrss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6,
        "n_ratings": n_ratings,
        "n_users": n_users,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true", help="skip the 1M-rating run")
    args = parser.parse_args()

    folds = official_folds(load_movielens("ml-100k"))
    reference = surprise_folds(folds)
    if reference is None:
        print("scikit-surprise is not installed: timing this project only.\n")
    rows = benchmark_models(folds, reference)

    header = f"{'configuration':<54} {'RMSE':>7} {'Surprise':>9} {'s/fold':>7} {'Surprise':>9} {'speed-up':>9}"
    print("ML-100K, official folds u1-u5, mean over folds; seconds are fit + predict per fold")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['configuration']:<54} {r['RMSE']:7.4f} {r['Surprise RMSE']:9.4f} "
              f"{r['s/fold']:7.3f} {r['Surprise s/fold']:9.3f} {r['speed-up']:8.1f}x")  # fmt: skip

    if not args.skip_large:
        big = benchmark_large()
        print(f"\npairwise_similarity, Pearson, item-item: {big['n_ratings']:,} synthetic ratings, "
              f"{big['n_users']:,} users, {big['shape'][0]:,} items")
        print(f"  {big['seconds']:.1f} s; peak traced memory {big['peak_gb']:.2f} GB "
              f"(process max RSS {big['maxrss_gb']:.2f} GB)")  # fmt: skip


if __name__ == "__main__":
    main()
