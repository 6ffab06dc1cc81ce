"""What model size buys a sequential recommender, on a data set larger than the book's.

Chapter 11 sweeps SASRec's width on MovieLens 100K within its time budget. This script runs the
same sweep, with more epochs, on ML-1M or ml-latest-small **when a copy is already on this
machine** (it never downloads: nothing depends on it, and CI does not run it)::

    .venv/bin/python benchmarks/size_sweep.py                      # the first copy found
    .venv/bin/python benchmarks/size_sweep.py --dataset ml-1m --dims 16 64 256 --epochs 30
    .venv/bin/python benchmarks/size_sweep.py --dataset ml-100k      # the chapter's data

For each size it fits SASRec (and, for contrast, the GRU of chapter 08 at the same width) on the
leave-last-out protocol of chapters 07–09 — early stopping on each user's second-to-last item,
HR@10 and NDCG@10 on the last item by full ranking, 95% bootstrap intervals over users — and
prints one table: parameters, accuracy, and fit time. Expect hours on 2 cores for ML-1M at the
largest widths; ``--max-users`` evaluates on a random subset of users to bound the time (the
models still train on every user's history).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from recsys_helpers.datasets import find_dataset, load_dataset
from recsys_helpers.deep import GRURecommender, SASRec
from recsys_helpers.evaluation import evaluate_next_item
from recsys_helpers.splits import leave_last_out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=["ml-1m", "ml-latest-small", "ml-100k"], default=None,
                        help="default: the first of ml-1m, ml-latest-small found locally "
                             "(ml-100k only when asked: the chapter's data, with more epochs)")
    parser.add_argument("--dims", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--epochs", type=int, default=30, help="most epochs (early stopping)")
    parser.add_argument("--max-users", type=int, default=None,
                        help="evaluate on at most this many random users")
    parser.add_argument("--no-gru", action="store_true", help="sweep SASRec only")
    args = parser.parse_args(argv)

    names = [args.dataset] if args.dataset else ["ml-1m", "ml-latest-small"]
    found = [name for name in names if find_dataset(name) is not None]
    if not found:
        print(f"No local copy of {' or '.join(names)} (set RECSYS_DATA_HOME, or download one as the "
              "README explains); nothing to run.")
        return 0
    name = found[0]
    ratings = load_dataset(name).ratings
    train, validation, test = leave_last_out(ratings)
    if args.max_users is not None and test.user_id.nunique() > args.max_users:
        rng = np.random.default_rng(0)
        kept = rng.choice(test.user_id.unique(), args.max_users, replace=False)
        test = test[test.user_id.isin(kept)]
    print(f"{name}: {len(ratings):,} ratings, {ratings.user_id.nunique():,} users, "
          f"{ratings.item_id.nunique():,} items; {test.user_id.nunique():,} test users")

    rows = []
    for dim in args.dims:
        models = {"SASRec": lambda d=dim: SASRec(embedding_dim=d, n_epochs=args.epochs,
                                                 length=200 if name == "ml-1m" else 50)}
        if not args.no_gru:
            models["GRU"] = lambda d=dim: GRURecommender(embedding_dim=d, units=d,
                                                         n_epochs=args.epochs)  # fmt: skip
        for label, factory in models.items():
            kept = {}
            start = time.perf_counter()
            runs = evaluate_next_item({label: factory}, (train, validation, test), keep_models=kept)
            fitted = kept[label]
            value = runs.set_index("metric")
            rows.append({"model": label, "width": dim, "parameters": fitted.model_.count_params(),
                         "HR@10": value.loc["hit_rate", "value"],
                         "HR@10 95% interval": f"{value.loc['hit_rate', 'low']:.3f}–"
                                               f"{value.loc['hit_rate', 'high']:.3f}",
                         "NDCG@10": value.loc["ndcg", "value"], "best epoch": fitted.best_epoch_,
                         "seconds": time.perf_counter() - start})
            row = rows[-1]
            print(f"{label} width {dim}: {row['parameters']:,} parameters, HR@10 {row['HR@10']:.3f} "
                  f"({row['HR@10 95% interval']}), {row['seconds']:.0f} s", flush=True)
    print()
    print(pd.DataFrame(rows).set_index(["model", "width"]).round(3).to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
