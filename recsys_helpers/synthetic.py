r"""A seeded world of users and items whose true preferences we know.

Chapter 01 uses it to show what a rating matrix looks like when we *know* the answer; tests use
it wherever a helper needs data with a ground truth; chapter 10 grows it to measure scale.

Each user :math:`u` and item :math:`i` gets a latent vector and a bias. The noise-free score is

.. math::  s_{ui} = \mu + b_u + b_i + \mathbf p_u^\top \mathbf q_i ,

and an observed rating is :math:`s_{ui} + \varepsilon` rounded to the rating scale, with
:math:`\varepsilon \sim \mathcal N(0, \sigma^2)`. *Which* pairs are observed follows a long tail:
item :math:`i` is drawn with probability proportional to :math:`\text{rank}_i^{-a}` (a Zipf law,
so a few blockbusters collect most ratings) and users have log-normally distributed activity.
With ``selection_bias`` > 0 people are more likely to rate what they like (ratings are then
*missing not at random*, as in real data).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .base import check_number, check_positive_int

__all__ = ["SyntheticRatings", "make_ratings", "response_probabilities", "simulate_responses"]


@dataclass
class SyntheticRatings:
    """Observed ratings plus the ground truth that generated them.

    Ids run from 1 (``user_id = u + 1`` for row ``u`` of ``user_factors``), as in MovieLens.
    """

    ratings: pd.DataFrame
    global_mean: float
    user_bias: np.ndarray
    item_bias: np.ndarray
    user_factors: np.ndarray
    item_factors: np.ndarray
    item_popularity: np.ndarray
    rating_scale: tuple[float, float]

    def true_scores(self, user_ids, item_ids) -> np.ndarray:
        r"""Noise-free scores :math:`s_{ui}` for aligned arrays of ids (not clipped)."""
        u = np.asarray(user_ids) - 1
        i = np.asarray(item_ids) - 1
        n_users, n_items = len(self.user_bias), len(self.item_bias)
        if u.min(initial=0) < 0 or u.max(initial=0) >= n_users:
            raise ValueError(f"user ids must lie in 1..{n_users}")
        if i.min(initial=0) < 0 or i.max(initial=0) >= n_items:
            raise ValueError(f"item ids must lie in 1..{n_items}")
        interaction = np.einsum("nk,nk->n", self.user_factors[u], self.item_factors[i])
        return self.global_mean + self.user_bias[u] + self.item_bias[i] + interaction


def make_ratings(
    n_users: int = 500,
    n_items: int = 800,
    n_ratings: int = 25_000,
    n_factors: int = 5,
    *,
    popularity_exponent: float = 1.0,
    activity_sigma: float = 1.0,
    noise: float = 0.5,
    selection_bias: float = 0.0,
    rating_scale: tuple[float, float] = (1, 5),
    start: str = "1997-09-19",
    days: int = 215,
    seed: int = 0,
) -> SyntheticRatings:
    r"""Generate explicit ratings with planted biases, latent factors, a long tail and times.

    Parameters
    ----------
    n_users, n_items : int
        Size of the world. Users or items that draw no rating do not appear in ``ratings``.
    n_ratings : int
        Number of distinct (user, item) ratings; at most half of all pairs.
    n_factors : int
        Dimension of the planted latent vectors.
    popularity_exponent : float
        :math:`a` in the Zipf law :math:`P(i) \propto \text{rank}_i^{-a}`; 0 is uniform.
    activity_sigma : float
        Spread of the log-normal user activity; 0 gives every user the same activity.
    noise : float
        Standard deviation :math:`\sigma` of the rating noise.
    selection_bias : float
        :math:`\beta \ge 0`: a drawn pair is kept with probability
        :math:`1/(1+e^{-\beta (s_{ui}-\mu)})`, so liked items are rated more often.
    rating_scale : (low, high)
        Ratings are rounded to whole stars and clipped to this range.
    start, days : str, int
        Timestamps (Unix seconds) fall within ``days`` days from ``start``.
    seed : int
        The same seed gives the same world and the same ratings.

    Returns
    -------
    SyntheticRatings
    """
    for name, value in [("n_users", n_users), ("n_items", n_items), ("n_ratings", n_ratings),
                        ("n_factors", n_factors)]:  # fmt: skip
        check_positive_int(name, value)
    check_number("days", days, above=0)
    if n_ratings > n_users * n_items // 2:
        raise ValueError(
            f"n_ratings={n_ratings} is more than half of the {n_users * n_items} possible pairs"
        )
    for name, value in [("popularity_exponent", popularity_exponent),
                        ("activity_sigma", activity_sigma), ("noise", noise),
                        ("selection_bias", selection_bias)]:  # fmt: skip
        check_number(name, value, minimum=0)
    low, high = rating_scale
    if not low < high:
        raise ValueError(f"rating_scale must be (low, high) with low < high, got {rating_scale}")

    rng = np.random.default_rng(seed)
    global_mean = low + 0.625 * (high - low)  # 3.5 stars on 1..5, close to MovieLens
    # Scale the factors so that p_u . q_i has a standard deviation of about 0.8 stars.
    factor_sd = (0.8**2 / n_factors) ** 0.25
    user_factors = rng.normal(0, factor_sd, (n_users, n_factors))
    item_factors = rng.normal(0, factor_sd, (n_items, n_factors))
    user_bias = rng.normal(0, 0.35, n_users)
    item_bias = rng.normal(0, 0.45, n_items)

    ranks = rng.permutation(n_items) + 1
    popularity = ranks.astype(float) ** -popularity_exponent
    popularity /= popularity.sum()
    activity = rng.lognormal(0.0, activity_sigma, n_users)
    activity /= activity.sum()

    world = SyntheticRatings(
        ratings=pd.DataFrame(),
        global_mean=global_mean,
        user_bias=user_bias,
        item_bias=item_bias,
        user_factors=user_factors,
        item_factors=item_factors,
        item_popularity=popularity,
        rating_scale=(low, high),
    )

    # Draw pairs in batches, keep the first occurrence of each, until there are enough.
    users = np.empty(0, dtype=np.int64)
    items = np.empty(0, dtype=np.int64)
    for _ in range(100):
        batch = 2 * (n_ratings - len(users)) + 1000
        u = rng.choice(n_users, size=batch, p=activity)
        i = rng.choice(n_items, size=batch, p=popularity)
        if selection_bias > 0:
            score = world.true_scores(u + 1, i + 1) - global_mean
            keep = rng.random(batch) < 1 / (1 + np.exp(-selection_bias * score))
            u, i = u[keep], i[keep]
        users, items = np.concatenate([users, u]), np.concatenate([items, i])
        _, first = np.unique(users * n_items + items, return_index=True)
        first.sort()
        users, items = users[first], items[first]
        if len(users) >= n_ratings:
            break
    else:
        raise ValueError(
            "could not draw enough distinct pairs; lower n_ratings or popularity_exponent"
        )
    users, items = users[:n_ratings], items[:n_ratings]

    scores = world.true_scores(users + 1, items + 1)
    ratings = np.clip(np.round(scores + rng.normal(0, noise, n_ratings)), low, high)

    t0 = pd.Timestamp(start).timestamp()
    span = days * 86_400
    joined = t0 + rng.uniform(0, 0.8 * span, n_users)
    times = joined[users] + rng.exponential(0.1 * span, n_ratings)
    times = np.minimum(times, t0 + span - 1).astype(np.int64)

    frame = pd.DataFrame(
        {
            "user_id": users + 1,
            "item_id": items + 1,
            "rating": ratings.astype(np.float64),
            "timestamp": times,
        }
    )
    world.ratings = frame.sort_values(["user_id", "timestamp", "item_id"], ignore_index=True)
    return world


def response_probabilities(true_scores) -> pd.DataFrame:
    r"""How a simulated user reacts to an item with true score :math:`s` (chapter 09, "Online
    metrics, simulated"), with :math:`\sigma(x) = 1/(1 + e^{-x})`:

    * click: :math:`P(\text{click}) = \sigma(2(s - 3.5))`;
    * favourite, once clicked: :math:`\sigma(3(s - 4.2))`;
    * purchase, once clicked: :math:`\sigma(3(s - 4.5))`.

    An item the user would rate 3.5 stars is clicked half the time; a 4.5-star item 88% of the
    time, and half of those clicks are purchases. Returns one row per score.
    """
    s = np.asarray(true_scores, dtype=float)

    def sigmoid(x):
        return 1.0 / (1.0 + np.exp(-x))

    return pd.DataFrame({"click": sigmoid(2 * (s - 3.5)),
                         "favourite_given_click": sigmoid(3 * (s - 4.2)),
                         "purchase_given_click": sigmoid(3 * (s - 4.5))})  # fmt: skip


def simulate_responses(world: SyntheticRatings, recommendations: pd.DataFrame,
                       seed: int = 0) -> pd.DataFrame:  # fmt: skip
    """Show ``recommendations`` (``user_id, item_id``) to the world's users and draw their
    reactions from :func:`response_probabilities` of the true scores.

    Returns the recommendations with ``true_score`` and boolean ``click``, ``favourite`` and
    ``purchase`` columns (favourites and purchases happen only after a click). The same seed
    gives the same reactions.
    """
    truth = world.true_scores(recommendations["user_id"], recommendations["item_id"])
    p = response_probabilities(truth)
    rng = np.random.default_rng(seed)
    click = rng.random(len(truth)) < p["click"].to_numpy()
    favourite = click & (rng.random(len(truth)) < p["favourite_given_click"].to_numpy())
    purchase = click & (rng.random(len(truth)) < p["purchase_given_click"].to_numpy())
    return recommendations.assign(true_score=truth, click=click, favourite=favourite,
                                  purchase=purchase)  # fmt: skip
