"""The few plots that several chapters share. Each takes an optional ``ax`` and returns it."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = [
    "plot_long_tail",
    "plot_matrix_corner",
    "plot_rating_distribution",
    "use_book_style",
]


def use_book_style() -> None:
    """The book's figure defaults: small, readable, the same on every machine."""
    plt.rcParams.update(
        {
            "figure.figsize": (6, 3.5),
            "figure.dpi": 90,
            "savefig.dpi": 90,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "font.size": 9,
        }
    )


def _axes(ax):
    return plt.subplots(figsize=(6, 3.5))[1] if ax is None else ax


def plot_rating_distribution(ratings: pd.DataFrame, ax=None, color="C0"):
    """Bar chart of how often each rating value occurs, with percentages on the bars."""
    ax = _axes(ax)
    counts = ratings["rating"].value_counts().sort_index()
    bars = ax.bar([f"{v:g}" for v in counts.index], counts.to_numpy(), color=color)
    shares = counts.to_numpy() / counts.sum()
    ax.bar_label(bars, labels=[f"{s:.0%}" for s in shares], fontsize=8)
    ax.set_xlabel("rating")
    ax.set_ylabel("number of ratings")
    ax.set_title("Rating distribution")
    return ax


def plot_long_tail(counts, ax=None, label: str = "items", color="C0"):
    """Counts sorted from largest to smallest against their rank, on log–log axes.

    ``counts`` is one number per user or item (e.g. ratings per item). A straight line on these
    axes is a power law; a steep head followed by a long flat tail is the "long tail".
    """
    ax = _axes(ax)
    values = np.sort(np.asarray(counts))[::-1]
    if len(values) == 0:
        raise ValueError("counts is empty")
    ax.loglog(np.arange(1, len(values) + 1), values, color=color, label=label)
    ax.set_xlabel(f"{label} ranked by number of ratings")
    ax.set_ylabel("number of ratings")
    ax.set_title(f"Ratings per {label.rstrip('s')} (log–log)")
    return ax


def plot_matrix_corner(frame: pd.DataFrame, ax=None, cmap="viridis", annotate: bool = True):
    """Heatmap of a small users × items table; missing ratings (NaN) are left blank.

    ``frame`` is typically ``ratings.pivot(index="user_id", columns="item_id", values="rating")``
    restricted to a few rows and columns.
    """
    ax = _axes(ax)
    values = frame.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=np.nanmin(values),
                      vmax=np.nanmax(values), aspect="auto")  # fmt: skip
    ax.set_xticks(range(frame.shape[1]), [str(c) for c in frame.columns], rotation=90, fontsize=7)
    ax.set_yticks(range(frame.shape[0]), [str(r) for r in frame.index], fontsize=7)
    ax.grid(False)
    ax.set_xlabel(frame.columns.name or "item")
    ax.set_ylabel(frame.index.name or "user")
    if annotate:
        for (r, c), v in np.ndenumerate(values):
            if not np.isnan(v):
                ax.text(c, r, f"{v:g}", ha="center", va="center", fontsize=7, color="white")
    ax.figure.colorbar(image, ax=ax, label="rating")
    return ax
