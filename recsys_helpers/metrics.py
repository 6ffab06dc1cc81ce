r"""How good are the predictions? Chapter 03 introduces the rating metrics; chapter 09 the rest.

Rating metrics compare predicted ratings :math:`\hat r_{ui}` with held-out true ratings
:math:`r_{ui}` over the test pairs :math:`\mathcal T`.
"""

from __future__ import annotations

import numpy as np

__all__ = ["mae", "rmse"]


def _check_pair(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must have the same length, got {len(y_true)} and {len(y_pred)}"
        )
    if len(y_true) == 0:
        raise ValueError("cannot score an empty set of predictions")
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        if not np.isfinite(values).all():
            raise ValueError(f"{name} has {int((~np.isfinite(values)).sum())} NaN or infinite value(s)")
    return y_true, y_pred


def rmse(y_true, y_pred) -> float:
    r"""Root mean squared error, :math:`\sqrt{\frac{1}{|\mathcal T|}\sum_{(u,i)\in\mathcal T}
    (r_{ui} - \hat r_{ui})^2}`, in stars. Squaring makes large errors count more than in
    :func:`mae`."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.sqrt(np.mean((y_true - y_pred) ** 2)))


def mae(y_true, y_pred) -> float:
    r"""Mean absolute error, :math:`\frac{1}{|\mathcal T|}\sum_{(u,i)\in\mathcal T}
    |r_{ui} - \hat r_{ui}|`, in stars."""
    y_true, y_pred = _check_pair(y_true, y_pred)
    return float(np.mean(np.abs(y_true - y_pred)))
