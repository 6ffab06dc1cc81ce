"""Training Keras models deterministically: seeding, the epoch loop with early stopping (shown
live on a notebook's progress line), and prediction in batches without Keras' progress bars."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from ..base import TrainingDivergedError, check_positive_int
from ..progress import task
from ._runtime import keras, tf

__all__ = ["seed_everything", "train"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and TensorFlow, and make TensorFlow's
    ops deterministic: the same seed then gives bit-identical weights on the same machine."""
    keras.utils.set_random_seed(int(seed))
    tf.config.experimental.enable_op_determinism()



#: Batches Keras runs per call into TensorFlow in :func:`train` (its ``steps_per_execution``).
STEPS_PER_EXECUTION = 16


def train(model: keras.Model, data, *, n_epochs: int, batch_size: int = 512, seed: int = 0,
          validate: Callable[[], float] | None = None, patience: int = 3,
          label: str | None = None,
          steps_per_execution: int | None = None) -> pd.DataFrame:  # fmt: skip
    """Train a compiled Keras ``model`` deterministically, with early stopping.

    Parameters
    ----------
    data : ``(x, y)``, ``(x, y, sample_weight)`` or a function ``epoch ->`` one of those
        The training data, or a function that draws it afresh each epoch (e.g. new negatives).
        A sample weight of 0 leaves an example (or, for outputs per position, a padded
        position) out of the loss.
    n_epochs : int
        Maximum number of epochs.
    validate : function ``() -> float``, optional
        Scores the current model on validation data (higher is better), after every epoch.
        Training stops after ``patience`` epochs without improvement, and the weights of the best
        epoch are restored.
    label : str, optional
        What the live progress line of a notebook calls the model (default: the Keras model's
        name); see :mod:`recsys_helpers.progress`. It changes nothing in the training.
    steps_per_execution : int, optional
        How many batches Keras runs per call from Python into TensorFlow (Keras'
        ``steps_per_execution``; default: this module's ``STEPS_PER_EXECUTION``, read at each
        call, so that one assignment changes it for every estimator), set on ``model`` if it
        has not been run yet (not fitted, evaluated or used to predict; otherwise its own
        setting stays). Each batch is the same computation either way, so the trained weights
        are the same bit for bit; fewer round trips through Python help where batches are small
        and quick (``benchmarks/training_throughput.py`` measures it and compares the weights:
        in four runs on a 2-core CPU the gain recurred only for the source's CNN, 1.17x to
        1.77x the examples per second; for NeuralCF, Caser, the GRU and SASRec it was within
        the machine's noise, 0.78x to 1.60x; the README gives each model's range).

    Returns
    -------
    DataFrame indexed by ``epoch`` (from 1) with the training ``loss`` and, with ``validate``,
    the ``validation`` score; its ``attrs["best_epoch"]`` is the epoch whose weights the model
    keeps (the last one without ``validate``).
    """
    check_positive_int("n_epochs", n_epochs)
    check_positive_int("patience", patience)
    check_positive_int("batch_size", batch_size)
    if steps_per_execution is None:
        steps_per_execution = STEPS_PER_EXECUTION
    check_positive_int("steps_per_execution", steps_per_execution)
    # Keras reads it when it builds its training, evaluation and prediction functions, once
    # each: changing it after any was built would leave them inconsistent (a cached prediction
    # function would then return only the first batch of each call), so it is set only on a
    # model that has not run yet.
    if all(getattr(model, f"{kind}_function", None) is None for kind in ("train", "test", "predict")):
        model.steps_per_execution = steps_per_execution
    seed_everything(seed)
    with task(f"training {label or model.name}") as shown:
        history = _epochs(model, data, n_epochs, batch_size, validate, patience, shown)
    return history


def _epochs(model, data, n_epochs, batch_size, validate, patience, shown) -> pd.DataFrame:
    """The epoch loop of :func:`train`."""
    rows, best, best_weights, best_epoch = [], -np.inf, None, n_epochs
    for epoch in range(1, n_epochs + 1):
        done = f" · last loss {rows[-1]['loss']:.4f}" if rows else ""
        done += f" · best validation {best:.4f}" if rows and validate is not None else ""
        shown.update(f"epoch {epoch} of {n_epochs}{done}")
        x, y, *weight = data(epoch) if callable(data) else data
        if len(y) == 0:
            raise ValueError("there are no training examples (in a next-item model: no user has "
                             "two or more interactions in the training data)")
        fitted = model.fit(x, y, sample_weight=weight[0] if weight else None,
                           batch_size=batch_size, epochs=1, shuffle=True, verbose=0)  # fmt: skip
        row = {"epoch": epoch, "loss": float(fitted.history["loss"][-1])}
        if not np.isfinite(row["loss"]):
            raise TrainingDivergedError(f"the training loss became {row['loss']!r} in epoch "
                                        f"{epoch}; lower the learning rate")
        if validate is not None:
            row["validation"] = score = float(validate())
            if score > best:
                best, best_weights, best_epoch = score, model.get_weights(), epoch
            elif epoch - best_epoch >= patience:
                rows.append(row)
                break
        rows.append(row)
    if validate is not None:
        model.set_weights(best_weights)
    else:
        best_epoch = rows[-1]["epoch"]
    history = pd.DataFrame(rows).set_index("epoch")
    history.attrs["best_epoch"] = best_epoch
    return history


def _predict(model: keras.Model, inputs, batch_size: int = 4096) -> np.ndarray:
    """Model outputs for large inputs, in batches, without Keras' progress bar."""
    return model.predict(inputs, batch_size=batch_size, verbose=0)


