"""How long each chapter takes on data the size of MovieLens 1M, with a time limit per chapter.

Run from the repository root::

    .venv/bin/python benchmarks/chapter_times_at_scale.py                 # every chapter, 300 s each
    .venv/bin/python benchmarks/chapter_times_at_scale.py 01 02 --limit 600
    .venv/bin/python benchmarks/chapter_times_at_scale.py --shape ml-latest-small
    .venv/bin/python benchmarks/chapter_times_at_scale.py --data ~/data/ml-1m   # a real copy

Without ``--data`` it writes a synthetic stand-in of ML-1M's shape in ML-1M's own layout
(``ratings.dat``, ``movies.dat``, ``users.dat`` in a temporary folder): 6,040 users, 3,706
films, 1,000,209 whole-star ratings with timestamps, titles and genres, drawn by
:func:`recsys_helpers.synthetic.make_ratings` (a Zipf-like popularity tail and log-normal user
activity, like MovieLens; users with fewer than 20 ratings exist here, unlike in ML-1M).
``--shape ml-latest-small`` writes one of ml-latest-small's size instead (610 users, 100,836
half-star ratings drawn over 9,742 films, of which about 9,200 are rated, in its CSV layout, no
users table). Each
chapter runs on a copy (the stored notebook is untouched), in a fresh kernel, with
``RECSYS_DATASET`` pointing at the folder, and is stopped after ``--limit`` seconds. It prints
one line per chapter: the seconds it took, or that it was stopped.

The times are of one run on this machine, one chapter at a time; a chapter that is stopped
would take longer than the limit, by an amount this script does not measure.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from recsys_helpers.book import chapters
from recsys_helpers.datasets import DATASET_VAR
from recsys_helpers.synthetic import make_ratings

GENRES = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi",
          "Thriller", "War", "Western"]  # fmt: skip


def write_ml1m_shaped(folder: Path, seed: int = 0) -> Path:
    """A synthetic data set of ML-1M's size, in ML-1M's layout; returns the folder."""
    ratings = make_ratings(n_users=6_040, n_items=3_706, n_ratings=1_000_209, days=1_038,
                           start="2000-04-25", seed=seed).ratings  # fmt: skip
    folder.mkdir(parents=True, exist_ok=True)
    rows = ratings[["user_id", "item_id", "rating", "timestamp"]].astype(int).to_numpy()
    with open(folder / "ratings.dat", "w") as out:
        out.writelines(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows)
    rng = np.random.default_rng(seed)
    films = np.unique(ratings.item_id)
    with open(folder / "movies.dat", "w", encoding="latin-1") as out:
        for k, item in enumerate(films):
            genres = "|".join(rng.choice(GENRES, size=1 + k % 3, replace=False))
            out.write(f"{item}::Film {item} ({1920 + k % 81})::{genres}\n")
    with open(folder / "users.dat", "w") as out:
        for user in np.unique(ratings.user_id):
            age = [1, 18, 25, 35, 45, 50, 56][user % 7]
            out.write(f"{user}::{'F' if user % 3 == 0 else 'M'}::{age}::{user % 21}::"
                      f"{(user * 7919) % 100_000:05d}\n")
    return folder


def write_latest_small_shaped(folder: Path, seed: int = 0) -> Path:
    """A synthetic data set of ml-latest-small's size, in its layout (``ratings.csv``,
    ``movies.csv``, half stars, no users table); returns the folder."""
    ratings = make_ratings(n_users=610, n_items=9_742, n_ratings=100_836, days=8_000,
                           start="1996-03-29", seed=seed).ratings  # fmt: skip
    rng = np.random.default_rng(seed)
    ratings["rating"] = ratings.rating - 0.5 * (rng.random(len(ratings)) < 0.4)  # 0.5 ... 5.0
    folder.mkdir(parents=True, exist_ok=True)
    ratings = ratings.rename(columns={"user_id": "userId", "item_id": "movieId"})
    ratings[["userId", "movieId", "rating", "timestamp"]].astype({"timestamp": int}).to_csv(
        folder / "ratings.csv", index=False, float_format="%.1f")
    films = np.unique(ratings.movieId)
    genres = ["|".join(rng.choice(GENRES, size=1 + k % 3, replace=False)) for k in range(len(films))]
    pd.DataFrame({"movieId": films, "title": [f"Film {i} ({1920 + k % 98})" for k, i in enumerate(films)],
                  "genres": genres}).to_csv(folder / "movies.csv", index=False)
    return folder


SHAPES = {"ml-1m": write_ml1m_shaped, "ml-latest-small": write_latest_small_shaped}


def run_chapter(path: Path, data: Path, limit: float) -> float | None:
    """Seconds to execute a copy of ``path`` on ``data``, None if stopped at ``limit``, NaN if it
    failed (its error is printed to stderr)."""
    with tempfile.TemporaryDirectory() as scratch:
        copy = Path(scratch) / path.name
        shutil.copy(path, copy)
        code = ("from pathlib import Path; from recsys_helpers.book import execute; "
                f"execute(Path({str(copy)!r}), timeout={int(limit) + 60})")
        start = time.perf_counter()
        # Its own process group, killed whole at the limit; the kernel it started (in a session
        # of its own) exits within a second of losing its parent (ipykernel's parent poller).
        process = subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                                   env={**os.environ, DATASET_VAR: str(data)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
        try:
            _, errors = process.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return None
        if process.returncode != 0:
            print(errors.decode()[-2000:], file=sys.stderr)
            return float("nan")
        return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("chapters", nargs="*", help="chapter numbers, as in make book")
    parser.add_argument("--limit", type=float, default=300.0, help="seconds per chapter")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="ml-1m",
                        help="the release whose size and layout the stand-in has")
    parser.add_argument("--data", type=Path, help="a copy of a release (default: a stand-in)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or SHAPES[args.shape](Path(scratch) / f"{args.shape}-shaped")
        print(f"data: {data}; limit {args.limit:.0f} s per chapter", flush=True)
        for path in chapters(args.chapters or None):
            seconds = run_chapter(path, data, args.limit)
            if seconds is None:
                shown = f"stopped at {args.limit:.0f} s"
            else:
                shown = "failed (see the error above)" if seconds != seconds else f"{seconds:8.1f} s"
            print(f"{path.stem:<32}{shown}", flush=True)


if __name__ == "__main__":
    main()
