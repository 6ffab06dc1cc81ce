"""Where one fit of a sequence model spends its time: Keras' training, validation, data.

Run from the repository root, with MovieLens 100K available (see the README)::

    .venv/bin/python benchmarks/fit_profile.py                      # the four of chapter 09
    .venv/bin/python benchmarks/fit_profile.py GRU SASRec

Each model is fitted once as chapter 09's next-item board fits it (class defaults, the
leave-last-out training items, early stopping on the validation items), and the seconds of the
fit are split into the parts :func:`recsys_helpers.deep.train` calls in each epoch:

* ``keras fit`` — Keras' ``model.fit`` for one epoch (the training steps, building the epoch's
  batches from the arrays, and in the first epoch TensorFlow's tracing of the training step);
* ``validation`` — scoring the validation items by full ranking after the epoch (NDCG@10);
* ``epoch data`` — drawing the epoch's training examples, for a model that draws them afresh
  (the source's CNN draws new negatives);
* ``other`` — the rest of the fit: building the windows and the model, keeping the best
  weights, and what the three parts above do not cover.

The split is measured by wrapping those calls (the fit itself is unchanged: the same weights).
It shows which part a speed-up must attack: if Keras' own training is most of the time, faster
validation or data preparation cannot shorten a chapter by much. One run on one machine:
compare the shares, not the seconds with another machine's.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from recsys_helpers.datasets import load_dataset
from recsys_helpers.deep import Caser, GRURecommender, SASRec, SequenceCNN, training
from recsys_helpers.splits import leave_last_out

#: The sequence models of chapter 09's next-item board, by the names the board gives them.
MODELS = {"SequenceCNN": SequenceCNN, "Caser": Caser, "GRU": GRURecommender, "SASRec": SASRec}


def profile(name: str, split) -> dict:
    """Fit model ``name`` once on ``split``; return its seconds in total and by part."""
    seconds = {"keras fit": 0.0, "validation": 0.0, "epoch data": 0.0}

    def timed(part, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[part] += time.perf_counter() - start

        return wrapper

    original = training._epochs

    def epochs(model, data, n_epochs, batch_size, validate, patience, shown):
        model.fit = timed("keras fit", model.fit)
        data = timed("epoch data", data) if callable(data) else data
        validate = timed("validation", validate) if validate is not None else None
        return original(model, data, n_epochs, batch_size, validate, patience, shown)

    training._epochs = epochs
    try:
        start = time.perf_counter()
        fitted = MODELS[name]().fit(split.train, split.validation)
        total = time.perf_counter() - start
    finally:
        training._epochs = original
    return {"model": name, "epochs": len(fitted.history_), "seconds": total, **seconds,
            "other": total - sum(seconds.values())}  # fmt: skip


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help=f"models to fit, of {', '.join(MODELS)} (default: all)")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.models) - set(MODELS))
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(MODELS)}")
    args.models = args.models or list(MODELS)
    split = leave_last_out(load_dataset("ml-100k").ratings)
    rows = [profile(name, split) for name in args.models]
    table = pd.DataFrame(rows).set_index("model")
    parts = ["keras fit", "validation", "epoch data", "other"]
    shares = table[parts].div(table["seconds"], axis=0).mul(100)
    shown = table[["epochs", "seconds"]].copy()
    for part in parts:
        shown[part] = [f"{s:6.1f} s {p:3.0f}%" for s, p in zip(table[part], shares[part], strict=True)]
    with pd.option_context("display.width", 120, "display.float_format", "{:.1f}".format):
        print(shown.to_string())


if __name__ == "__main__":
    main()
