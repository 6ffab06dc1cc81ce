"""Shared plots: they draw what they say, label their axes, and reject empty input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_ratings

from recsys_helpers.plotting import plot_long_tail, plot_matrix_corner, plot_rating_distribution


def test_rating_distribution_has_one_bar_per_value_with_shares():
    ax = plot_rating_distribution(tiny_ratings())
    heights = [p.get_height() for p in ax.patches]
    assert heights == [1, 2, 3, 3, 3]  # ratings 1..5 in the tiny table
    assert [t.get_text() for t in ax.texts] == ["8%", "17%", "25%", "25%", "25%"]
    assert ax.get_xlabel() == "rating"


def test_long_tail_is_sorted_on_log_axes():
    ax = plot_long_tail([1, 10, 3], label="users")
    line = ax.lines[0]
    assert line.get_ydata().tolist() == [10, 3, 1]
    assert ax.get_xscale() == ax.get_yscale() == "log"
    assert "users" in ax.get_xlabel()
    with pytest.raises(ValueError, match="empty"):
        plot_long_tail([])


def test_matrix_corner_leaves_missing_ratings_blank():
    frame = tiny_ratings().pivot(index="user_id", columns="item_id", values="rating")
    ax = plot_matrix_corner(frame)
    shown = ax.images[0].get_array()
    assert shown.mask.sum() == int(np.isnan(frame.to_numpy()).sum()) == 8
    assert len(ax.texts) == 12
