r"""Privacy in recommenders, demonstrated (chapter 10).

**Local differential privacy (LDP).** Each user perturbs their own ratings *before* sending them,
so the service never sees the true values. A mechanism :math:`M` is :math:`\varepsilon`-LDP if
for any two inputs :math:`r, r'` and any output :math:`o`,
:math:`P(M(r) = o) \le e^{\varepsilon} P(M(r') = o)`: whatever is reported, it is at most
:math:`e^{\varepsilon}` times more likely under one true rating than under any other. Smaller
:math:`\varepsilon` means more privacy and more noise.

* :func:`randomized_response` (:math:`k`-ary randomised response, Warner 1965; Kairouz et al.
  2016): report the true star with probability
  :math:`p = \frac{e^{\varepsilon}}{e^{\varepsilon} + k - 1}`, otherwise one of the
  :math:`k-1` other stars, uniformly.
* :func:`unbias_randomized_response` turns each report into an unbiased estimate of the true
  rating, so that averages (biases, factors) are learned without systematic error.
* :func:`laplace_mechanism` adds :math:`\text{Laplace}(0, \Delta/\varepsilon)` noise, where the
  sensitivity :math:`\Delta` is the rating range (4 stars on 1–5).
* :func:`privatize_ratings` applies either mechanism to a ratings table.

**What a neighbour list reveals.** :func:`neighbor_list_exposure` measures how well an item's
published "people who watched this also watched" list guesses what else its raters watched: for
an item only a handful of people rated, the list *is* their watch list.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from .base import check_number
from .interactions import rating_matrix, validate_ratings
from .scale import keep_top_k
from .similarity import pairwise_similarity

__all__ = ["keep_probability", "laplace_mechanism", "neighbor_list_exposure", "privatize_ratings",
           "randomized_response", "unbias_randomized_response", "user_level_epsilon"]  # fmt: skip

MECHANISMS = ("randomized_response", "laplace")


def _check_epsilon(epsilon) -> float:
    check_number("epsilon", epsilon, above=0)
    return float(epsilon)


def _check_categories(categories) -> np.ndarray:
    cats = np.asarray(categories, dtype=float)
    if cats.ndim != 1 or len(cats) < 2 or len(np.unique(cats)) != len(cats):
        raise ValueError(f"categories must be at least two distinct values, got {categories!r}")
    return cats


def keep_probability(epsilon: float, n_categories: int) -> float:
    r"""Probability that :math:`k`-ary randomised response reports the true value:
    :math:`p = e^{\varepsilon} / (e^{\varepsilon} + k - 1)`."""
    epsilon = _check_epsilon(epsilon)
    if not (isinstance(n_categories, (int, np.integer)) and n_categories >= 2):
        raise ValueError(f"n_categories must be an integer >= 2, got {n_categories!r}")
    return float(np.exp(epsilon) / (np.exp(epsilon) + n_categories - 1))


def randomized_response(values, categories, epsilon: float, seed: int = 0) -> np.ndarray:
    r"""Report each value truthfully with probability :math:`p` (:func:`keep_probability`),
    otherwise as one of the other categories chosen uniformly. This is
    :math:`\varepsilon`-LDP: the report is at most :math:`p / \frac{1-p}{k-1} = e^{\varepsilon}`
    times likelier under one true value than under another.

    Parameters
    ----------
    values : array-like
        True values; each must be one of ``categories``.
    categories : array-like
        The :math:`k` possible values (e.g. ``[1, 2, 3, 4, 5]`` stars).
    epsilon : float
        The privacy budget :math:`\varepsilon > 0`.
    seed : int
    """
    cats = np.sort(_check_categories(categories))
    p = keep_probability(epsilon, len(cats))
    x = np.asarray(values, dtype=float)
    position = np.searchsorted(cats, x)
    inside = (position < len(cats)) & (cats[np.minimum(position, len(cats) - 1)] == x)
    if not inside.all():
        bad = x[~inside][0]
        raise ValueError(f"value {bad!r} is not one of the categories {cats.tolist()}")
    rng = np.random.default_rng(seed)
    lie = rng.random(x.shape) >= p
    # A uniformly chosen *other* category: shift by 1..k-1 places around the circle.
    shift = rng.integers(1, len(cats), size=x.shape)
    lied = cats[(position + shift) % len(cats)]
    return np.where(lie, lied, x)


def unbias_randomized_response(reported, categories, epsilon: float) -> np.ndarray:
    r"""An unbiased estimate of each true value from its randomised-response report.

    With :math:`q = (1-p)/(k-1)` and :math:`S` the sum of the categories,
    :math:`E[\tilde r \mid r] = p\,r + q\,(S - r) = (p - q)\,r + qS`, so

    .. math:: \hat r = \frac{\tilde r - qS}{p - q}

    has :math:`E[\hat r \mid r] = r`. Single estimates fall outside the rating scale (that is
    the noise); their averages converge to the true averages.
    """
    cats = _check_categories(categories)
    p = keep_probability(epsilon, len(cats))
    q = (1 - p) / (len(cats) - 1)
    return (np.asarray(reported, dtype=float) - q * cats.sum()) / (p - q)


def laplace_mechanism(values, epsilon: float, sensitivity: float, seed: int = 0) -> np.ndarray:
    r"""Add :math:`\text{Laplace}(0, b)` noise with :math:`b = \Delta / \varepsilon`.

    Its density is :math:`\frac{1}{2b} e^{-|z|/b}`; moving the true value by at most
    :math:`\Delta` changes the density of any report by at most :math:`e^{\varepsilon}`. The
    noise has mean 0 and standard deviation :math:`\sqrt 2\, b`.
    """
    epsilon = _check_epsilon(epsilon)
    if not (np.isfinite(sensitivity) and sensitivity > 0):
        raise ValueError(f"sensitivity must be > 0, got {sensitivity!r}")
    x = np.asarray(values, dtype=float)
    rng = np.random.default_rng(seed)
    return x + rng.laplace(0.0, sensitivity / epsilon, size=x.shape)


def privatize_ratings(ratings: pd.DataFrame, epsilon: float,
                      mechanism: str = "randomized_response", rating_scale=None,
                      unbias: bool = True, seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """A copy of ``ratings`` whose ``rating`` column each user perturbed locally.

    ``"randomized_response"`` treats the rating levels as the categories and, with
    ``unbias=True``, replaces each report by :func:`unbias_randomized_response`. ``"laplace"``
    adds noise with sensitivity ``high - low`` (its noise is already unbiased). Ids and
    timestamps are unchanged: LDP here protects *how much* someone liked an item, not *that*
    they rated it.

    ``rating_scale=(low, high)`` declares the scale: every rating must lie in it, and for
    randomized response its whole steps ``low, low + 1, ..., high`` are the categories. By
    default (``None``) the levels are the distinct ratings in the data (1-5 stars, half stars,
    0-10, ...) and the range is theirs. Strictly, the scale should be public knowledge (the
    rating widget's range), not read from the private data: on a data set that uses every level
    of its scale the two are the same, but a sample missing a level would get fewer categories
    (and a smaller Laplace sensitivity), so declare the scale where you know it.
    """
    validate_ratings(ratings)
    if mechanism not in MECHANISMS:
        raise ValueError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}")
    values = ratings["rating"].to_numpy(dtype=float)
    if rating_scale is None:
        stars = np.unique(values)
        low, high = stars[0], stars[-1]
        if not low < high:
            raise ValueError("every rating has the same value: there is no scale to perturb on; "
                             "pass rating_scale=(low, high)")
    else:
        low, high = rating_scale
        if not low < high:
            raise ValueError(f"rating_scale must be (low, high) with low < high, got "
                             f"{rating_scale}")  # fmt: skip
        if mechanism == "laplace":  # any value in the range
            outside = (values < low) | (values > high)
            stars = None
        else:  # the whole steps low, low + 1, ..., high are the categories
            if (high - low) != int(high - low):
                raise ValueError(f"rating_scale {rating_scale}: randomized response needs whole "
                                 "steps from low to high; pass rating_scale=None to use the "
                                 "data's own levels (e.g. half stars)")  # fmt: skip
            stars = low + np.arange(int(high - low) + 1, dtype=float)
            outside = ~np.isin(values, stars)
        if outside.any():
            raise ValueError(f"{int(outside.sum())} rating(s) lie outside rating_scale "
                             f"{rating_scale}, e.g. {values[outside][0]!r}")  # fmt: skip
    if mechanism == "laplace":
        noisy = laplace_mechanism(values, epsilon, high - low, seed)
    else:
        noisy = randomized_response(values, stars, epsilon, seed)
        if unbias:
            noisy = unbias_randomized_response(noisy, stars, epsilon)
    return ratings.assign(rating=noisy)


def user_level_epsilon(ratings: pd.DataFrame, epsilon: float) -> pd.Series:
    r"""The privacy budget each user spends on their whole profile when every one of their
    ratings is perturbed with budget ``epsilon`` (as :func:`privatize_ratings` does).

    By sequential composition (Dwork & Roth, 2014, §3.5), :math:`n` reports about one
    person, each :math:`\varepsilon`-differentially private, are together
    :math:`n\varepsilon`-private: a user with :math:`n_u` ratings has
    :math:`n_u \varepsilon` protection for their profile (*user-level*), while each single
    rating has :math:`\varepsilon` (*item-level*). This covers only the rating *values*:
    which items a user rated is sent in the clear by :func:`privatize_ratings`, and is not
    protected at all. Returns :math:`n_u \varepsilon` indexed by ``user_id``.
    """
    validate_ratings(ratings, require_rating=False)
    epsilon = _check_epsilon(epsilon)
    return ratings.groupby("user_id").size().astype(float).mul(epsilon).rename("epsilon")


def neighbor_list_exposure(ratings: pd.DataFrame, k: int = 10) -> pd.DataFrame:
    r"""What an item's published "people who watched this also watched" list reveals about
    the people who watched it.

    Each item's list is its ``k`` most similar items by Jaccard similarity of their sets of
    raters, :math:`|U_i \cap U_j| / |U_i \cup U_j|` (ties to the smaller id). Someone who knows
    that a person rated item :math:`i` (a public review, a conversation) reads the list as a
    guess of what else that person rated; the guess for a listed item :math:`j` is right for a
    share :math:`|U_i \cap U_j| / |U_i|` of the raters of :math:`i`. ``exposure`` is that share
    averaged over the list:

    .. math:: \text{exposure}_i = \frac{1}{|L_i|} \sum_{j \in L_i}
              \frac{|U_i \cap U_j|}{|U_i|} .

    For an item with a single rater it is 1: every item on its list shares a rater with it,
    so the list is a sample of that one person's history. ``base_rate`` is what the same guess
    is worth without the list, the share of *all* users who rated the listed items,
    :math:`\frac{1}{|L_i|}\sum_{j \in L_i} |U_j| / |U|`; the list reveals something when
    exposure is well above it.

    Returns
    -------
    DataFrame with ``item_id``, ``n_raters`` (:math:`|U_i|`), ``list_length`` (:math:`|L_i|`,
    below ``k`` when fewer items share a rater), ``exposure`` and ``base_rate``. Items with an
    empty list are left out.
    """
    validate_ratings(ratings, require_rating=False)
    matrix, _, items = rating_matrix(ratings.assign(rating=1.0))
    x = sp.csr_matrix(matrix, dtype=float)
    lists = keep_top_k(pairwise_similarity(x.T.tocsr(), "jaccard"), k)
    lists.data = np.ones_like(lists.data)
    length = np.diff(lists.indptr)
    raters = np.diff(x.tocsc().indptr)
    shared = lists.multiply(x.T @ x)  # |U_i ∩ U_j| for each j on i's list
    has_list = length > 0
    exposure = np.asarray(shared.sum(axis=1)).ravel()[has_list] / (
        length[has_list] * raters[has_list])
    base_rate = (lists @ (raters / x.shape[0]))[has_list] / length[has_list]
    return pd.DataFrame({
        "item_id": items.ids[has_list],
        "n_raters": raters[has_list],
        "list_length": length[has_list],
        "exposure": exposure,
        "base_rate": base_rate,
    })  # fmt: skip
