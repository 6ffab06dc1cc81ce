"""Training throughput of the book's Keras models: examples per second, and three speed-ups.

Run from the repository root, with MovieLens 100K available (see the README)::

    .venv/bin/python benchmarks/training_throughput.py             # every model
    .venv/bin/python benchmarks/training_throughput.py --epochs 3 GRU SASRec

Each model is trained for ``--epochs`` epochs with its class defaults (NeuralCF on the per-user
75/25 split of chapters 05-06, the sequence models on the leave-last-out training items of
chapters 07-11), without validation, four ways:

* ``one step per call`` — as the book trained before :data:`recsys_helpers.deep.training.
  STEPS_PER_EXECUTION` (one Keras ``fit`` call per epoch, one batch per call from Python into
  TensorFlow); the baseline;
* ``book`` — as the chapters train now (:func:`recsys_helpers.deep.train`: 16 batches per call);
  the weights are compared with the baseline's, bit for bit;
* ``4x batch`` — four times the batch size (fewer, larger steps; 16 batches per call, like
  ``book``, so its ratio to the baseline counts both changes); this trains a different model,
  so its throughput is only worth having together with a new selection of the learning rate and
  epochs;
* ``book + XLA`` — as ``book``, with the training step compiled by XLA. Keras leaves XLA off
  on a machine without an accelerator, and refuses ``jit_compile=True`` (with a warning) while
  TensorFlow's op determinism is on, as it is in the book, so the benchmark sets Keras' private
  ``_jit_compile`` flag. XLA fuses and reorders floating-point operations, so the weights may
  differ from the baseline's (the ``same weights`` column says whether they do); adopting it
  would mean re-running every chapter that trains a Keras model (and trusting XLA's
  determinism, which Keras does not vouch for). A model with an operation XLA cannot compute
  deterministically fails, and the table prints TensorFlow's reason.

It prints examples per second (training examples seen, divided by the seconds of ``train``) and
the ratio to the baseline. Machines are noisy: compare the ratios within one run, and use a few
epochs (the first includes TensorFlow's tracing of the training step).
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np
import tensorflow as tf

import recsys_helpers.deep.estimators as estimators
from recsys_helpers.datasets import load_dataset
from recsys_helpers.deep import Caser, GRURecommender, NeuralCF, SASRec, SequenceCNN
from recsys_helpers.deep.training import STEPS_PER_EXECUTION
from recsys_helpers.splits import leave_last_out, stratified_split

MODELS = {"NeuralCF": NeuralCF, "SequenceCNN": SequenceCNN, "Caser": Caser, "GRU": GRURecommender,
          "SASRec": SASRec}
_train = estimators.train


def run(factory, training_data, epochs: int, steps_per_execution: int = STEPS_PER_EXECUTION,
        batch_factor: int = 1, jit_compile: bool = False):  # fmt: skip
    """Fit once; return (examples per second, a hash of the weights)."""
    seen, seconds = [], []

    def timed_train(model, data, **settings):
        settings["steps_per_execution"] = steps_per_execution
        if jit_compile:  # before Keras builds its training function, at the first fit; the
            model._jit_compile = True  # public setter refuses while op determinism is on

        def counting(epoch):
            x, y, *weight = data(epoch) if callable(data) else data
            seen.append(len(y))
            return (x, y, *weight)

        start = time.perf_counter()
        history = _train(model, counting, **settings)
        seconds.append(time.perf_counter() - start)
        return history

    estimators.train = timed_train
    try:
        model = factory()
        model.set_params(n_epochs=epochs, batch_size=model.batch_size * batch_factor)
        model.fit(training_data)
    finally:
        estimators.train = _train
    weights = b"".join(np.ascontiguousarray(w).tobytes() for w in model.model_.get_weights())
    return sum(seen) / sum(seconds), hashlib.sha256(weights).hexdigest()


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("models", nargs="*", metavar="MODEL", help=f"any of {list(MODELS)}")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args(argv)
    unknown = [name for name in args.models if name not in MODELS]
    if unknown:
        parser.error(f"unknown model(s) {unknown}; choose from {list(MODELS)}")
    ratings = load_dataset("ml-100k").ratings
    sequence_train = leave_last_out(ratings).train
    topn_train = stratified_split(ratings, 0.25, seed=0).train
    print(f"{'model':<13}{'way':<28}{'examples/s':>12}{'ratio':>8}  same weights")
    for name in args.models or MODELS:
        data = topn_train if name == "NeuralCF" else sequence_train
        before, before_hash = run(MODELS[name], data, args.epochs, steps_per_execution=1)
        print(f"{name:<13}{'one step per call':<28}{before:>12,.0f}{1:>8.2f}")
        for way, settings in [(f"book ({STEPS_PER_EXECUTION} steps per call)", {}),
                              ("4x batch, 16 steps per call", {"batch_factor": 4}),
                              ("book + XLA (jit_compile)", {"jit_compile": True})]:
            try:
                speed, digest = run(MODELS[name], data, args.epochs, **settings)
            except tf.errors.UnimplementedError as error:  # an op XLA has no deterministic form of
                lines = [line.strip() for line in str(error).splitlines() if line.strip()]
                reason = next((line for line in lines if "XLA" in line), lines[-1] if lines else "")
                print(f"{'':<13}{way:<28}{'fails':>12}{'':>8}  {reason}")
                continue
            print(f"{'':<13}{way:<28}{speed:>12,.0f}{speed / before:>8.2f}  "
                  f"{'yes' if digest == before_hash else 'no'}")


if __name__ == "__main__":
    main()
