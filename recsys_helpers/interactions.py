"""From a ratings table to a rating matrix and back; centring; implicit feedback.

Chapter 01 ("The rating matrix") introduces these helpers. A ratings table has one row per
(user, item) pair with columns ``user_id, item_id, rating`` (and ``timestamp``); the rating
matrix :math:`R` has one row per user and one column per item, with :math:`r_{ui}` stored where
user :math:`u` rated item :math:`i` and nothing stored elsewhere.

Ids in the table are whatever the source uses (MovieLens: integers from 1). Matrices use
positions 0..n-1. An :class:`IdMap` translates between the two.

Note on sparse matrices: an entry that is *stored* means "rated", whatever its value. After
centring, a stored value can be exactly 0 and still mean "rated", so the helpers here never drop
explicit zeros, and code that needs the "rated" pattern should use ``matrix.indices``/``indptr``
(or :func:`rated_mask`), never ``matrix != 0``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = [
    "IdMap",
    "binarize",
    "center",
    "density",
    "id_kind",
    "item_counts",
    "matrix_to_ratings",
    "rated_mask",
    "rating_matrix",
    "validate_ratings",
]

def id_kind(ids: np.ndarray) -> str:
    """What an array of ids holds: ``"int"``, ``"str"``, ``"float"``, ``"bool"``, ``"mixed"``
    (an object array of several types), ``"empty"``, or for an object array of one other type
    pandas' name for it (``"datetime"``, ``"bytes"``, ``"decimal"``, ...)."""
    ids = np.asarray(ids)
    if ids.size == 0:
        return "empty"
    if ids.dtype.kind in "iu":
        return "int"
    if ids.dtype.kind in "US":
        return "str"
    if ids.dtype.kind == "f":
        return "float"
    if ids.dtype.kind == "b":
        return "bool"
    inferred = pd.api.types.infer_dtype(ids.ravel(), skipna=False)
    named = {"string": "str", "integer": "int", "floating": "float", "boolean": "bool"}
    return named.get(inferred, "mixed" if inferred.startswith("mixed") else inferred)


def _mixed_example(values: pd.Series) -> list:
    """One value of each Python type in ``values``, to show what is mixed."""
    firsts = {}
    for value in values:
        firsts.setdefault(type(value).__name__, value)
    return list(firsts.values())[:3]


def validate_ratings(
    ratings: pd.DataFrame,
    *,
    require_timestamp: bool = False,
    require_rating: bool = True,
    allow_duplicates: bool = False,
) -> None:
    """Raise ``ValueError`` naming the problem if ``ratings`` is not a valid ratings table.

    Checks: it is a DataFrame; the columns ``user_id, item_id`` (and ``rating``, and
    ``timestamp`` when required) are present; ids have no missing values and are integers or
    strings; ratings are finite numbers; timestamps are integers or datetimes without missing
    values; and no (user, item) pair appears twice (a sparse matrix would silently add them up).
    """
    if not isinstance(ratings, pd.DataFrame):
        raise ValueError(f"ratings must be a pandas DataFrame, got {type(ratings).__name__}")
    needed = ["user_id", "item_id"]
    needed += ["rating"] if require_rating else []
    needed += ["timestamp"] if require_timestamp else []
    missing = [c for c in needed if c not in ratings.columns]
    if missing:
        raise ValueError(
            f"ratings lacks the column(s) {missing}; it has {list(ratings.columns)}. "
            f"Expected columns: {needed}"
        )
    if len(ratings) == 0:
        return  # an empty table is well formed; a model refuses to fit on one
    for column in ("user_id", "item_id"):
        values = ratings[column]
        if values.isna().any():
            raise ValueError(f"ratings.{column} has {int(values.isna().sum())} missing value(s)")
        kind = id_kind(values.to_numpy())
        if kind not in ("int", "str"):
            raise ValueError(
                f"ratings.{column} must hold integers or strings (one or the other), got "
                + ("a mix of types, e.g. " + repr(_mixed_example(values)) if kind == "mixed"
                   else f"{kind} values (dtype {values.dtype})")  # fmt: skip
            )
    if require_rating:
        values = ratings["rating"]
        if not (pd.api.types.is_numeric_dtype(values.dtype) and not
                pd.api.types.is_bool_dtype(values.dtype)):  # fmt: skip
            raise ValueError(f"ratings.rating must be numeric, got dtype {values.dtype}")
        bad = ~np.isfinite(values.to_numpy(dtype=float, na_value=np.nan))
        if bad.any():
            first = ratings.index[bad][0]
            raise ValueError(
                f"ratings.rating has {int(bad.sum())} missing or infinite value(s) "
                f"(first at index {first!r})"
            )
    if require_timestamp:
        values = ratings["timestamp"]
        if values.isna().any():
            raise ValueError(f"ratings.timestamp has {int(values.isna().sum())} missing value(s)")
        if not (pd.api.types.is_integer_dtype(values.dtype)
                or pd.api.types.is_datetime64_any_dtype(values.dtype)):  # fmt: skip
            raise ValueError(
                f"ratings.timestamp must hold integers (Unix seconds) or datetimes, "
                f"got dtype {values.dtype}"
            )
    if not allow_duplicates:
        duplicated = ratings.duplicated(["user_id", "item_id"])
        if duplicated.any():
            row = ratings.loc[duplicated.idxmax()]
            raise ValueError(
                f"ratings has {int(duplicated.sum())} duplicate (user_id, item_id) pair(s), e.g. "
                f"user_id={row['user_id']!r}, item_id={row['item_id']!r}; keep one rating per "
                "pair (for example the latest) before building a matrix"
            )


@dataclass(frozen=True)
class IdMap:
    """A two-way map between ids (as in the data) and positions 0..n-1 (as in a matrix).

    ``ids[k]`` is the id at position ``k``; ids are sorted, so the map built from the same set of
    ids is always the same.
    """

    ids: np.ndarray

    @classmethod
    def from_ids(cls, ids) -> IdMap:
        """Build a map over the distinct values of ``ids``, sorted."""
        return cls(np.unique(np.asarray(ids)))

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, id_) -> bool:
        return bool(self.contains(np.asarray([id_]))[0])

    def contains(self, ids) -> np.ndarray:
        """Boolean array: is each of ``ids`` in the map?

        Raises ``ValueError`` when the ids are of another kind than the map's (strings asked of
        a map of integers, or the reverse): ``"1"`` is not the id ``1``, and treating it as
        merely unknown would be a silent wrong answer.
        """
        ids = np.asarray(ids)
        self._check_kind(ids)
        if len(self.ids) == 0:
            return np.zeros(ids.shape, dtype=bool)
        pos = np.clip(np.searchsorted(self.ids, ids), 0, len(self.ids) - 1)
        return self.ids[pos] == ids

    @cached_property
    def _kind(self) -> str:
        return id_kind(self.ids)

    def _check_kind(self, ids: np.ndarray) -> None:
        given, held = id_kind(ids), self._kind
        numeric = ("int", "float")
        if "empty" in (given, held) or given == held or (given in numeric and held in numeric):
            return
        example, known = ids.ravel()[:1].tolist()[0], self.ids[:1].tolist()[0]
        raise ValueError(
            f"the ids given are {given} (e.g. {example!r}), but the ids this map was built from "
            f"(the model's training data) are {held} (e.g. {known!r}); convert them first"
        )

    def index(self, ids, *, unknown: str = "raise") -> np.ndarray:
        """Positions of ``ids``.

        ``unknown="raise"`` raises ``ValueError`` listing ids that are not in the map;
        ``unknown="ignore"`` returns ``-1`` for them.
        """
        if unknown not in ("raise", "ignore"):
            raise ValueError(f"unknown must be 'raise' or 'ignore', got {unknown!r}")
        ids = np.asarray(ids)
        found = self.contains(ids)
        if not found.all() and unknown == "raise":
            examples = np.unique(ids[~found])[:5].tolist()
            raise ValueError(
                f"{int((~found).sum())} id(s) are not in the map, e.g. {examples}; "
                "pass unknown='ignore' to get -1 for them"
            )
        positions = np.searchsorted(self.ids, ids) if len(self.ids) else np.zeros(ids.shape, int)
        return np.where(found, positions, -1).astype(np.int64)


def rating_matrix(
    ratings: pd.DataFrame,
    users: IdMap | None = None,
    items: IdMap | None = None,
    *,
    value: str | None = "rating",
    unknown: str = "raise",
) -> tuple[sp.csr_matrix, IdMap, IdMap]:
    """Build the user × item matrix :math:`R` from a ratings table.

    Parameters
    ----------
    ratings : DataFrame with ``user_id, item_id`` and the ``value`` column.
    users, items : IdMap, optional
        Fix the rows and columns (for example to the training set's, so that a test matrix lines
        up with it). By default they are the distinct ids of ``ratings``.
    value : str or None
        Column to store; ``None`` stores 1.0 for every pair (implicit feedback).
    unknown : {"raise", "ignore"}
        What to do with rows whose id is not in a given map: raise, or drop them.

    Returns
    -------
    (csr_matrix of float64, user IdMap, item IdMap)
    """
    validate_ratings(ratings, require_rating=value == "rating")
    if value is not None and value not in ratings.columns:
        raise ValueError(f"ratings has no column {value!r} to store")
    users = IdMap.from_ids(ratings["user_id"]) if users is None else users
    items = IdMap.from_ids(ratings["item_id"]) if items is None else items
    rows = users.index(ratings["user_id"].to_numpy(), unknown=unknown)
    cols = items.index(ratings["item_id"].to_numpy(), unknown=unknown)
    keep = (rows >= 0) & (cols >= 0)
    data = (
        np.ones(int(keep.sum()))
        if value is None
        else ratings[value].to_numpy(dtype=np.float64)[keep]
    )
    matrix = sp.csr_matrix((data, (rows[keep], cols[keep])), shape=(len(users), len(items)))
    matrix.sort_indices()
    return matrix, users, items


def matrix_to_ratings(
    matrix: sp.spmatrix, users: IdMap, items: IdMap, value: str = "rating"
) -> pd.DataFrame:
    """The inverse of :func:`rating_matrix`: one row per stored entry, sorted by user then item."""
    if matrix.shape != (len(users), len(items)):
        raise ValueError(
            f"matrix has shape {matrix.shape}, but the maps have {len(users)} users and "
            f"{len(items)} items"
        )
    coo = sp.coo_matrix(matrix)
    order = np.lexsort((coo.col, coo.row))
    return pd.DataFrame(
        {
            "user_id": users.ids[coo.row[order]],
            "item_id": items.ids[coo.col[order]],
            value: coo.data[order],
        }
    )


def rated_mask(matrix: sp.spmatrix) -> sp.csr_matrix:
    """A 0/1 matrix with a 1 wherever ``matrix`` stores an entry (a zero value included)."""
    mask = sp.csr_matrix(matrix, copy=True)
    mask.data = np.ones_like(mask.data)
    return mask


def item_counts(matrix: sp.spmatrix) -> np.ndarray:
    r"""How many users interacted with each item, :math:`|U_i|` (stored entries per column,
    a stored 0 included): the popularity every model here falls back on."""
    return np.diff(sp.csc_matrix(matrix).indptr).astype(np.float64)


def density(matrix: sp.spmatrix) -> float:
    r"""Share of the matrix that is rated: :math:`|\{(u,i) \text{ rated}\}| / (|U|\,|I|)`.

    Sparsity is ``1 - density``.
    """
    n_cells = matrix.shape[0] * matrix.shape[1]
    if n_cells == 0:
        raise ValueError("density of an empty matrix is undefined")
    return matrix.nnz / n_cells


def center(matrix: sp.spmatrix, axis: str = "user") -> tuple[sp.csr_matrix, np.ndarray]:
    r"""Subtract each user's (or item's) mean rating from their stored ratings.

    For ``axis="user"``: :math:`\tilde r_{ui} = r_{ui} - \bar r_u` with
    :math:`\bar r_u = \frac{1}{|I_u|}\sum_{i \in I_u} r_{ui}`, the mean over the items
    :math:`I_u` that user :math:`u` rated (not over all items: a missing rating is not a zero).
    ``axis="item"`` does the same per item. Only stored entries change; the sparsity pattern is
    kept, so a rating equal to the mean stays stored as an explicit 0.

    Returns
    -------
    (centred csr_matrix, means)
        ``means`` has one entry per row (user) or column (item); ``NaN`` where nothing is rated.
    """
    if axis not in ("user", "item"):
        raise ValueError(f"axis must be 'user' or 'item', got {axis!r}")
    csr = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    if axis == "item":
        csr = sp.csr_matrix(csr.T)
    counts = np.diff(csr.indptr)
    rows = np.repeat(np.arange(csr.shape[0]), counts)
    sums = np.bincount(rows, weights=csr.data, minlength=csr.shape[0])
    with np.errstate(invalid="ignore", divide="ignore"):
        means = np.where(counts > 0, sums / counts, np.nan)
    csr.data -= np.repeat(np.nan_to_num(means), counts)
    if axis == "item":
        csr = sp.csr_matrix(csr.T)
    csr.sort_indices()
    return csr, means


def binarize(ratings: pd.DataFrame, threshold: float | None = None) -> pd.DataFrame:
    """Turn explicit ratings into implicit feedback: keep the interactions, drop the scores.

    With ``threshold=None`` every rated pair becomes a positive interaction (the user *watched*
    it). With a threshold, only ratings ``>= threshold`` are kept (the user *liked* it). The
    ``rating`` column becomes 1.0; other columns are kept.
    """
    validate_ratings(ratings)
    kept = ratings if threshold is None else ratings[ratings["rating"] >= threshold]
    return kept.assign(rating=1.0).reset_index(drop=True)
