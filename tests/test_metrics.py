"""Rating metrics: hand-computed values and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from recsys_helpers.metrics import mae, rmse


def test_rmse_and_mae_by_hand():
    # errors: 1, -2, 0, 1 -> squared 1, 4, 0, 1 (mean 1.5); absolute mean 1
    y, p = [4, 3, 5, 2], [3, 5, 5, 1]
    assert rmse(y, p) == pytest.approx(np.sqrt(1.5))
    assert mae(y, p) == pytest.approx(1.0)
    assert rmse(y, y) == 0.0


def test_rmse_weighs_large_errors_more_than_mae():
    small, large = [1, 1, 1, 1], [0, 0, 0, 4]  # the same total absolute error
    assert mae([0] * 4, small) == mae([0] * 4, large)
    assert rmse([0] * 4, large) > rmse([0] * 4, small)


@pytest.mark.parametrize("metric", [rmse, mae])
@pytest.mark.parametrize(
    "y, p, message",
    [([1, 2], [1], "same length"), ([], [], "empty"), ([1, np.nan], [1, 2], "y_true has 1 NaN"),
     ([1, 2], [1, np.inf], "y_pred has 1 NaN or infinite")],
)  # fmt: skip
def test_bad_input_raises(metric, y, p, message):
    with pytest.raises(ValueError, match=message):
        metric(y, p)
