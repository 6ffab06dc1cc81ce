"""MovieLens, found or fetched: look for a local copy, else download, verify and cache it.

Chapter 01 ("A tour of MovieLens 100K") introduces this module. Everything the book loads goes
through :func:`load_movielens`, which returns tidy pandas DataFrames:

* ``ratings``: ``user_id, item_id, rating, timestamp`` (ids as in the source files,
  ``timestamp`` in Unix seconds);
* ``items``: ``item_id, title, year, genres`` (``genres`` joined by ``|``);
* ``users``: demographics where the data set has them (not ``ml-latest-small``);
* ``folds``: the official train/test splits of ML-100K (``u1`` … ``u5``, ``ua``, ``ub``).

Where the data comes from, in this order (the first existing copy wins):

1. the ``data_home`` argument;
2. the folder named by the environment variable ``RECSYS_DATA_HOME``;
3. the repository's ``data/`` folder (git-ignored).

In each folder the loader accepts the extracted archive (``ml-100k/u.data`` …), the official zip
(``ml-100k.zip``, read in place) or, if the folder itself is the extracted archive, that. It only
reads an existing copy and never writes beside it.

What is verified, before anything is used:

* a zip (local or downloaded): its MD5 where the archive's checksum is pinned (``ml-100k``,
  ``ml-1m``); then, from its central directory alone, that it unpacks to at most
  ``DatasetSpec.max_bytes`` (a few times the real size, so a zip bomb costs nothing) in at most
  1,000 members, and that it holds every file of the data set; a corrupt member (CRC, truncated,
  encrypted) raises :class:`DatasetError` naming the zip and the member;
* every file against its canonical SHA-256 (``DatasetSpec.sha256``), where the values are
  recorded (``ml-100k``; ``ml-latest-small``, whose zip GroupLens re-packs, so only the extracted
  files' checksums are stable) and no pinned archive MD5 already covers them: a damaged or edited
  copy raises :class:`DatasetError` naming the file, both checksums and the remedy, so it can never
  silently produce a different book (``verify=False`` loads a local copy on purpose, with a
  warning); an extracted ``ml-1m`` copy has no recorded checksums and is checked by its counts;
* that each file the loader reads parses, and the numbers of ratings, users and items where
  they are fixed (the ratings file first, so that a truncated one is named itself).

With no copy anywhere and ``download=True`` it downloads the official zip into the first folder of
that list: from GroupLens, or from a mirror given by ``base_url=`` or the environment variable
``RECSYS_DATA_MIRROR`` (a base URL such as ``https://mirror.example.org/movielens/`` or
``file:///srv/movielens/`` under which ``ml-100k.zip`` … can be fetched; the same checksums
apply, so a mirror cannot change the data). The whole download must finish within
``RECSYS_DOWNLOAD_TIMEOUT`` seconds (default :data:`DOWNLOAD_TIMEOUT`) and may not exceed
``max_bytes``; progress is shown at most once a second. The archive is downloaded and verified
completely (checksums, parse, counts; downloads are always verified) in a staging folder
``.<name>.partial-<host>-<pid>-<random>`` beside the target, extracted there (members whose path
would escape it, and links, are refused), and only then renamed into place, so readers see no
folder or a complete, verified one; on any failure nothing is left behind. A staging folder of a
run that was killed is removed by the next download (its process is gone, or it is more than a day
old). If several processes download at once, the first to finish installs its copy and the others
use it (verified like any local copy).
"""

from __future__ import annotations

import hashlib
import http.client
import io
import math
import os
import re
import shutil
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import pandas as pd

from .base import check_positive_int
from .interactions import validate_ratings

__all__ = [
    "DATASETS",
    "ENV_VAR",
    "DatasetError",
    "DatasetNotFoundError",
    "DatasetSpec",
    "Fold",
    "MovieLens",
    "DATASET_VAR",
    "DOWNLOAD_TIMEOUT",
    "DOWNLOAD_TIMEOUT_VAR",
    "FOLDER_LAYOUTS",
    "GROUPLENS_URL",
    "MIRROR_VAR",
    "default_data_home",
    "find_dataset",
    "load_dataset",
    "load_movielens",
    "load_movielens_folder",
    "load_ratings_csv",
]

ENV_VAR = "RECSYS_DATA_HOME"
#: The environment variable the chapters' parameters cells read to choose their data set.
DATASET_VAR = "RECSYS_DATASET"
#: A base URL that replaces :data:`GROUPLENS_URL` for downloads (a mirror; ``file://`` works too).
MIRROR_VAR = "RECSYS_DATA_MIRROR"
#: Seconds a whole download may take, overriding :data:`DOWNLOAD_TIMEOUT`.
DOWNLOAD_TIMEOUT_VAR = "RECSYS_DOWNLOAD_TIMEOUT"
#: The default deadline of a whole download, in seconds (the archives are 1 to 6 MB).
DOWNLOAD_TIMEOUT = 900.0
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/"
_CHUNK = 1 << 16
_READ_TIMEOUT = 60.0  # the longest one network read may wait (less when the deadline is shorter)
_PROGRESS_EVERY = 1.0  # seconds between two progress updates
_MAX_MEMBERS = 1_000  # GroupLens' archives have 5 to 25 members
_STALE_AFTER = 24 * 3600.0  # a staging folder this old belongs to no running download


class DatasetError(ValueError):
    """A copy of a data set was found or downloaded, but it is corrupt, partial or malformed."""


class DatasetNotFoundError(FileNotFoundError):
    """No copy of the data set exists locally, and none could be downloaded."""


class _Unreachable(Exception):
    """The server could not be reached or refused the request (reported as DatasetNotFoundError)."""


class Fold(NamedTuple):
    """One official train/test split: two ratings DataFrames."""

    train: pd.DataFrame
    test: pd.DataFrame


@dataclass
class MovieLens:
    """A loaded MovieLens data set: tidy DataFrames plus where they came from."""

    name: str
    ratings: pd.DataFrame
    items: pd.DataFrame
    users: pd.DataFrame | None
    genres: list[str]
    source: str
    folds: dict[str, Fold] = field(default_factory=dict)

    def __repr__(self) -> str:
        r = self.ratings
        return (
            f"MovieLens({self.name!r}: {len(r):,} ratings from {r.user_id.nunique():,} users "
            f"on {r.item_id.nunique():,} items; folds={list(self.folds)}; source={self.source!r})"
        )

    @property
    def has_timestamps(self) -> bool:
        """Whether the ratings carry a ``timestamp`` (a reader's CSV may not): the sequence
        chapters and the time-based splits need one."""
        return "timestamp" in self.ratings.columns

    def sample_users(self, max_ratings: int, seed: int = 0) -> MovieLens:
        """The whole histories of randomly drawn users, at most ``max_ratings`` ratings in all.

        Users are taken in a random order (drawn with ``seed``) for as long as their ratings
        still fit; a user whose history would pass ``max_ratings`` is left out and the next one
        is tried, so every kept user keeps every rating. Where the data already fits, ``self`` is
        returned unchanged. The ratings keep their order; the users table, the items table (the
        items still rated) and the folds are cut to match, so a fold holds the kept users'
        ratings of its own train and test parts. Chapters use it (``book.cap_ratings``) to bound
        their time on data larger than the book's.
        """
        check_positive_int("max_ratings", max_ratings)
        if len(self.ratings) <= max_ratings:
            return self
        counts = self.ratings.groupby("user_id", sort=True).size()
        order = np.random.default_rng(seed).permutation(len(counts))
        sizes, keep, total = counts.to_numpy()[order], np.zeros(len(counts), dtype=bool), 0
        for n, size in enumerate(sizes):  # greedy: each user in turn, if their history still fits
            if total + size <= max_ratings:
                keep[n], total = True, total + size
        if not keep.any():
            raise ValueError(f"max_ratings={max_ratings:,} is smaller than every user's history "
                             f"(the shortest has {counts.min():,} ratings)")
        return self._keep("user_id", counts.index[order[keep]])

    def most_rated_items(self, max_items: int) -> MovieLens:
        """Only the ratings of the ``max_items`` most-rated items (ties go to the smaller id).

        Where no more items than that have a rating, ``self`` is returned unchanged. The ratings
        keep their order; the items table, the folds and the users table (the users who still
        have a rating) are cut to match. Chapters use it (``book.cap_ratings``) to bound their
        time on catalogues much larger than the book's, whose cost grows with the number of
        items (item-item similarities, EASE, a softmax over every item).
        """
        check_positive_int("max_items", max_items)
        counts = self.ratings.groupby("item_id").size()
        if len(counts) <= max_items:
            return self
        order = np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))
        return self._keep("item_id", counts.index[order[:max_items]])

    def _keep(self, column: str, kept) -> MovieLens:
        """The ratings whose ``column`` is in ``kept`` (their order kept), with the folds cut the
        same way and the users and items tables cut to the users and items still rated."""

        def cut(frame):
            return frame[frame[column].isin(kept)].reset_index(drop=True)

        ratings = cut(self.ratings)
        items = self.items[self.items["item_id"].isin(ratings["item_id"].unique())]
        users = self.users
        if users is not None:
            users = users[users["user_id"].isin(ratings["user_id"].unique())].reset_index(drop=True)
        return MovieLens(name=self.name, ratings=ratings, items=items.reset_index(drop=True),
                         users=users, genres=self.genres, source=self.source,
                         folds={name: Fold(cut(fold.train), cut(fold.test))
                                for name, fold in self.folds.items()})

    def genre_matrix(self) -> pd.DataFrame:
        """Items × genres indicator matrix (0/1), indexed by ``item_id``, one column per genre."""
        flags = self.items.set_index("item_id")["genres"].str.get_dummies(sep="|")
        return flags.reindex(columns=self.genres, fill_value=0).astype(np.int8)

    def titles(self, item_ids) -> pd.Series:
        """Titles of ``item_ids`` in the given order (``NaN`` for items without metadata)."""
        lookup = self.items.set_index("item_id")["title"]
        return lookup.reindex(np.asarray(item_ids)).rename("title")

    def find_items(self, *patterns: str) -> list:
        """One item id per title pattern, so that a chapter can discuss a film by name and still
        run on any data set.

        Each pattern is a regular expression searched in the titles (case-insensitive); the
        most-rated matching item not chosen by an earlier pattern is taken. Where nothing matches
        (another data set, or one without titles), the most-rated item not chosen otherwise
        stands in; no item is returned twice. Ties in the number of ratings go to the smaller
        id. Chapters print the titles they got, so a reader always
        sees which film was used.
        """
        counts = self.ratings.groupby("item_id").size()
        by_popularity = counts.index[np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))]
        if len(patterns) > len(by_popularity):
            raise ValueError(f"{len(patterns)} films asked for, but the data has only "
                             f"{len(by_popularity)}")  # fmt: skip
        titles = self.titles(by_popularity).fillna("").astype(str)
        chosen: list = [None] * len(patterns)
        for n, pattern in enumerate(patterns):  # first the matches, each film once
            search = re.compile(pattern, re.IGNORECASE).search  # groups allowed, no warning
            hits = np.array([search(title) is not None for title in titles], dtype=bool)
            matches = [i for i in by_popularity[hits] if i not in chosen]
            chosen[n] = matches[0] if matches else None
        stand_ins = iter(i for i in by_popularity if i not in chosen)
        chosen = [next(stand_ins) if i is None else i for i in chosen]
        return [i.item() if hasattr(i, "item") else i for i in chosen]


# --------------------------------------------------------------------------------------------
# Reading files from a folder or from inside a zip, through one small interface.

# What zipfile raises for a member it cannot unpack: a bad CRC or header, damaged compressed
# data, a truncated member, an encrypted one, an unsupported compression method.
_ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError)

_DOWNLOAD_REMEDY = (
    "Nothing was saved. Try again later, or from another mirror (RECSYS_DATA_MIRROR); the "
    "checksums are GroupLens' own, so a mirror cannot change the data"
)
_FOLDER_REMEDY = (
    f"Point {ENV_VAR} at a clean copy, or delete the folder (if it is yours to delete) and load "
    "again to download a fresh one"
)


class _Source:
    """Files of one extracted data set, in a folder or under a top folder inside an open zip.

    ``label`` names the copy in messages (its path, or the URL it was downloaded from) and
    ``remedy`` says how to fix a problem found in it.
    """

    def __init__(self, location: Path, archive: zipfile.ZipFile | None = None, prefix: str = "",
                 label: str | None = None, remedy: str = _FOLDER_REMEDY):  # fmt: skip
        self.location = location
        self.archive = archive
        self.prefix = prefix
        self.label = label or str(location)
        self.remedy = remedy

    @property
    def is_zip(self) -> bool:
        return self.archive is not None

    def exists(self, name: str) -> bool:
        if self.archive is not None:
            return self.prefix + name in self.archive.NameToInfo
        return (self.location / name).is_file()

    def read(self, name: str) -> bytes:
        """The bytes of ``name``; a corrupt member or an unreadable file raises DatasetError."""
        try:
            if self.archive is not None:
                return self.archive.read(self.prefix + name)
            return (self.location / name).read_bytes()
        except KeyError as exc:
            raise DatasetError(f"{self.describe(name)} is missing. {self.remedy}.") from exc
        except _ZIP_ERRORS as exc:
            raise DatasetError(
                f"{self.describe(name)} is corrupt inside the archive ({exc}). {self.remedy}."
            ) from exc
        except OSError as exc:
            raise DatasetError(
                f"{self.describe(name)} cannot be read ({exc.strerror or exc}): check that it is "
                f"a file you may read, or point {ENV_VAR} at a readable copy."
            ) from exc

    def describe(self, name: str) -> str:
        if self.archive is not None:
            return f"{self.label}!{self.prefix}{name}"
        return str(self.location / name)

    def fail(self, name: str, problem: str) -> DatasetError:
        """The error for ``problem`` found in the file ``name``, naming it and the remedy."""
        return DatasetError(f"{self.describe(name)} {problem}. {self.remedy}.")

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _read_table(source: _Source, name: str, **kwargs) -> pd.DataFrame:
    """``pd.read_csv`` on one file of ``source``, turning parse errors into a DatasetError."""
    raw = source.read(name)
    sep = kwargs.pop("sep")
    if sep == "::":
        # The ML-1M separator needs pandas' slow Python engine; a one-byte one does not.
        raw, sep = raw.replace(b"::", b"\t"), "\t"
    try:
        return pd.read_csv(io.BytesIO(raw), sep=sep, **kwargs)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise source.fail(name, f"could not be parsed: {exc}") from exc


def _read_ratings_file(source: _Source, name: str, sep: str, header=None) -> pd.DataFrame:
    names = ["user_id", "item_id", "rating", "timestamp"]
    frame = _read_table(
        source, name, sep=sep, header=header, names=None if header is not None else names
    )
    if frame.empty:
        raise source.fail(name, "holds no ratings")
    if header is not None:
        frame = frame.rename(columns={"userId": "user_id", "movieId": "item_id"})
    if list(frame.columns) != names:
        raise source.fail(name, f"has columns {list(frame.columns)}, expected {names}")
    try:
        validate_ratings(frame, require_timestamp=True)
    except ValueError as exc:
        raise DatasetError(f"{source.describe(name)}: {exc}. {source.remedy}.") from exc
    frame = frame.astype({"user_id": np.int64, "item_id": np.int64, "timestamp": np.int64})
    return frame.astype({"rating": np.float64})


def _read_main_ratings(source: _Source, spec: DatasetSpec, sep: str, header=None) -> pd.DataFrame:
    """The data set's ratings file (``spec.files[0]``), its counts checked before anything else
    is read, so that a truncated ratings file is named itself rather than by a file compared
    with it."""
    ratings = _read_ratings_file(source, spec.files[0], sep=sep, header=header)
    _check_counts(ratings, spec, source)
    return ratings


def _check_counts(ratings: pd.DataFrame, spec: DatasetSpec, source: _Source) -> None:
    if spec.counts is None:
        return
    found = (len(ratings), ratings["user_id"].nunique(), ratings["item_id"].nunique())
    if found != spec.counts:
        raise DatasetError(
            f"{source.describe(spec.files[0])} holds {found[0]:,} ratings from {found[1]:,} users "
            f"on {found[2]:,} items; {spec.name} has {spec.counts[0]:,} / {spec.counts[1]:,} / "
            f"{spec.counts[2]:,}. The copy is corrupt or is another data set. {source.remedy}."
        )


def _expect_columns(frame: pd.DataFrame, n: int, source: _Source, name: str) -> None:
    if frame.shape[1] != n:
        raise source.fail(name, f"has {frame.shape[1]} fields per line, expected {n}")


def _year_from_title(titles: pd.Series) -> pd.Series:
    return pd.to_numeric(titles.str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce").astype(
        "Int64"
    )


# --------------------------------------------------------------------------------------------
# Parsers, one per file layout.


def _parse_ml100k(source: _Source, spec: DatasetSpec) -> dict:
    ratings = _read_main_ratings(source, spec, sep="\t")

    genre_table = _read_table(
        source, "u.genre", sep="|", header=None, names=["genre", "code"], encoding="latin-1"
    ).dropna()
    genres = genre_table.sort_values("code")["genre"].tolist()

    raw = _read_table(
        source, "u.item", sep="|", header=None, encoding="latin-1", dtype=str, keep_default_na=False
    )
    _expect_columns(raw, 5 + len(genres), source, "u.item")
    flags = raw.iloc[:, 5:].to_numpy() == "1"
    genre_names = np.array(genres)
    release = pd.to_datetime(raw[2], format="%d-%b-%Y", errors="coerce")  # 01-Jan-1995
    title_year = _year_from_title(raw[1])
    items = pd.DataFrame(
        {
            "item_id": pd.to_numeric(raw[0]).astype(np.int64),
            "title": raw[1].replace("", np.nan),
            "year": title_year.fillna(release.dt.year.astype("Int64")),
            "genres": ["|".join(genre_names[row]) for row in flags],
        }
    )

    users = _read_table(
        source,
        "u.user",
        sep="|",
        header=None,
        names=["user_id", "age", "gender", "occupation", "zip_code"],
        dtype={"zip_code": str},
        encoding="latin-1",
    )

    folds = {}
    for fold in ["u1", "u2", "u3", "u4", "u5", "ua", "ub"]:
        folds[fold] = Fold(
            _read_ratings_file(source, f"{fold}.base", sep="\t"),
            _read_ratings_file(source, f"{fold}.test", sep="\t"),
        )
        if len(folds[fold].train) + len(folds[fold].test) != len(ratings):
            raise DatasetError(
                f"{source.describe(fold + '.base')} and .test hold "
                f"{len(folds[fold].train) + len(folds[fold].test):,} ratings together, "
                f"expected {len(ratings):,} (u.data). {source.remedy}."
            )
    return {"ratings": ratings, "items": items, "users": users, "genres": genres, "folds": folds}


# ML-1M's README numbers the occupations 0..20.
_ML1M_OCCUPATIONS = [
    "other", "academic/educator", "artist", "clerical/admin", "college/grad student",
    "customer service", "doctor/health care", "executive/managerial", "farmer", "homemaker",
    "K-12 student", "lawyer", "programmer", "retired", "sales/marketing", "scientist",
    "self-employed", "technician/engineer", "tradesman/craftsman", "unemployed", "writer",
]  # fmt: skip


def _parse_movies_with_genres(frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    frame = frame.rename(columns={"movieId": "item_id"})
    genres_col = frame["genres"].replace("(no genres listed)", "").fillna("")
    items = pd.DataFrame(
        {
            "item_id": frame["item_id"].astype(np.int64),
            "title": frame["title"],
            "year": _year_from_title(frame["title"].str.strip()),
            "genres": genres_col,
        }
    )
    genres = sorted({g for value in genres_col for g in value.split("|") if g})
    return items, genres


def _parse_ml1m(source: _Source, spec: DatasetSpec) -> dict:
    ratings = _read_main_ratings(source, spec, sep="::")
    movies = _read_table(
        source, "movies.dat", sep="::", header=None, names=["item_id", "title", "genres"],
        encoding="latin-1",
    )  # fmt: skip
    _expect_columns(movies, 3, source, "movies.dat")
    items, genres = _parse_movies_with_genres(movies)
    users = None
    if "users.dat" in spec.files or source.exists("users.dat"):  # a reader's folder may lack it
        users = _read_table(
            source, "users.dat", sep="::", header=None,
            names=["user_id", "gender", "age", "occupation", "zip_code"], dtype={"zip_code": str},
        )  # fmt: skip
        _expect_columns(users, 5, source, "users.dat")
        users["occupation"] = users["occupation"].map(dict(enumerate(_ML1M_OCCUPATIONS)))
    return {"ratings": ratings, "items": items, "users": users, "genres": genres, "folds": {}}


def _parse_ml_latest(source: _Source, spec: DatasetSpec) -> dict:
    ratings = _read_main_ratings(source, spec, sep=",", header=0)
    movies = _read_table(source, "movies.csv", sep=",", header=0, encoding="utf-8")
    if list(movies.columns) != ["movieId", "title", "genres"]:
        raise source.fail(
            "movies.csv",
            f"has columns {list(movies.columns)}, expected ['movieId', 'title', 'genres']",
        )
    items, genres = _parse_movies_with_genres(movies)
    return {"ratings": ratings, "items": items, "users": None, "genres": genres, "folds": {}}


class _Layout(NamedTuple):
    """A MovieLens file layout without a pinned release: how a reader's own folder is parsed.

    It has the fields the parsers read (``name``, ``files`` with the ratings file first,
    ``counts``), and no checksums or counts: the folder is the reader's, not a known release.
    """

    name: str
    files: tuple[str, ...]
    parse: Callable
    counts: None = None


_OWN_FOLDER_REMEDY = ("Check that the folder holds a MovieLens release's files as published, or "
                      "write the ratings as a CSV file (RECSYS_DATASET=path.csv)")

#: The layouts :func:`load_movielens_folder` recognises, by the files a folder holds, each with
#: its parser (a new layout is one entry here).
FOLDER_LAYOUTS = {
    # '::'-separated, latin-1; users.dat is read if present
    "ml-1m": _Layout("ml-1m", ("ratings.dat", "movies.dat"), _parse_ml1m),
    # with headers; also ML-20M, ML-25M, ML-32M
    "ml-latest": _Layout("ml-latest", ("ratings.csv", "movies.csv"), _parse_ml_latest),
}


@dataclass(frozen=True)
class DatasetSpec:
    """How to fetch, recognise, parse and check one data set.

    ``md5`` is the checksum of the official archive, or ``None`` where the archive is not pinned
    (GroupLens re-packs ``ml-latest-small.zip``; its files are verified by ``sha256`` instead).
    ``files`` are the files every copy must have, the ratings file first. ``counts`` are the
    expected numbers of ratings, users and items, or ``None`` where the data set is updated over
    time. ``sha256`` maps files to the SHA-256 of their canonical bytes, so that a copy no pinned
    archive checksum covers (an extracted folder, an unpinned zip) is verified file by file;
    ``None`` where the canonical values are not recorded. A spec needs ``md5`` or ``sha256``, so
    that no download is installed unverified. ``max_bytes`` bounds what an archive may unpack to
    and what a download may bring: a few times the real size.
    """

    name: str
    url: str
    md5: str | None
    files: tuple[str, ...]
    parse: Callable[[_Source, DatasetSpec], dict]
    counts: tuple[int, int, int] | None = None
    sha256: Mapping[str, str] | None = None
    max_bytes: int = 256 << 20

    def __post_init__(self):
        if self.md5 is None and not self.sha256:
            raise ValueError(f"data set {self.name!r} needs an archive md5 or per-file sha256 "
                             "values: a download could not be verified")  # fmt: skip
        unknown = sorted(set(self.sha256 or ()) - set(self.files))
        if unknown:
            raise ValueError(f"data set {self.name!r}: sha256 names {unknown}, not in its files")


# The canonical bytes of the files of GroupLens' ml-100k.zip that the loader reads.
_ML100K_SHA256 = {
    "u.data": "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490",
    "u.item": "553841ebc7de3a0fd0d6b62a204ea30c1e651aacfb2814c7a6584ac52f2c5701",
    "u.user": "f120e114da2e8cf314fd28f99417c94ae9ddf1cb6db8ce0e4b5995d40e90e62c",
    "u.genre": "9757e0d3e6b298159a80dd48eaf938114690e911e39af97a76949ef1663610bb",
    "u1.base": "ce253ec86c448b44fb3ba9a30d12dcfc2e9210cbde71efada3730c22e9ac212a",
    "u1.test": "18c6014a4b2c7324f250a63f8904a7b16b2b19f911129e346141507b0cbac950",
    "u2.base": "6c06f0b5df4b256da1a994f3ac66edc8da4d3f09bc9282df6b14d893366d703e",
    "u2.test": "4de658d1e04ed9104629509a2e2528fce833ac8e048280183f1df167632038c3",
    "u3.base": "afdc155c291c6edc41c0407e39d7462eb98d341e064f0b0a12175b80b3c4af5d",
    "u3.test": "0f548b51c78327de4c156461d3e430b7e5579fe2b5681586a59416e48fd35f6d",
    "u4.base": "219f0f4d40dfe9c5141d425f53fa91ee23ed275f14e280bbf1b50117afb064ca",
    "u4.test": "7c02ad0a1e7ab1083c8b9d4b627203a051dd7b5eab46d99fa44de33470de8db9",
    "u5.base": "a9574e59ce961eec2121627760b6e9b0974ce1637b3fe69ac32cb14a4bfab485",
    "u5.test": "351cc52e0d15b6c721466276fc24671d40936899e3d01fadeaf312915b8c5634",
    "ua.base": "67b5bcdb380c29f85d56a012ecd88612ae020f30a6730d117a334ee8203b91f2",
    "ua.test": "d0497e202417720f57a184ec8c66be2d1afa4ff41bb53787c57b28d6bf79bc42",
    "ub.base": "237254d253b6ad7de84f919d041055428646254f34ed8f562703c899430cd881",
    "ub.test": "d54a72d05730d5892062734b2bec73e976f9b713d18c828a18b968d6cce442da",
}

# The canonical bytes of the files of GroupLens' ml-latest-small.zip (the 2018 edition). The zip
# itself is re-packed from time to time, so its MD5 changes; the files' checksums do not.
_ML_LATEST_SMALL_SHA256 = {
    "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
    "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
    "links.csv": "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
    "tags.csv": "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
}


DATASETS: dict[str, DatasetSpec] = {
    "ml-100k": DatasetSpec(
        "ml-100k",
        GROUPLENS_URL + "ml-100k.zip",
        "0e33842e24a9c977be4e0107933c0723",
        ("u.data", "u.item", "u.user", "u.genre")
        + tuple(f"{f}.{part}" for f in ["u1", "u2", "u3", "u4", "u5", "ua", "ub"]
                for part in ["base", "test"]),
        _parse_ml100k,
        (100_000, 943, 1_682),
        _ML100K_SHA256,
        max_bytes=64 << 20,  # unpacks to 16 MB
    ),  # fmt: skip
    "ml-1m": DatasetSpec(
        "ml-1m",
        GROUPLENS_URL + "ml-1m.zip",
        "c4d9eecfca2ab87c1945afe126590906",
        ("ratings.dat", "movies.dat", "users.dat"),
        _parse_ml1m,
        (1_000_209, 6_040, 3_706),
        max_bytes=128 << 20,  # unpacks to 25 MB
    ),
    "ml-latest-small": DatasetSpec(
        "ml-latest-small",
        GROUPLENS_URL + "ml-latest-small.zip",
        None,
        ("ratings.csv", "movies.csv", "links.csv", "tags.csv"),
        _parse_ml_latest,
        sha256=_ML_LATEST_SMALL_SHA256,
        max_bytes=32 << 20,  # unpacks to 3.3 MB
    ),
}


# --------------------------------------------------------------------------------------------
# Finding a local copy.


def default_data_home() -> Path:
    """The repository's ``data/`` folder, or ``~/.cache/recsys-book`` outside a checkout."""
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if (repo_data / "README.md").is_file():
        return repo_data
    return Path.home() / ".cache" / "recsys-book"


def _search_roots(data_home: str | os.PathLike | None) -> list[Path]:
    roots = []
    if data_home is not None:
        roots.append(Path(data_home).expanduser())
    if os.environ.get(ENV_VAR):
        roots.append(Path(os.environ[ENV_VAR]).expanduser())
    roots.append(default_data_home())
    return list(dict.fromkeys(roots))  # keep order, drop repeats


def find_dataset(name: str = "ml-100k", data_home=None) -> Path | None:
    """Where :func:`load_movielens` would read ``name`` from, or ``None`` if there is no copy.

    Looks in each search folder (see the module docstring) for ``<folder>/<name>/``,
    ``<folder>/<name>.zip``, and a folder that is itself named ``<name>``.
    """
    spec = _spec(name)
    for root in _search_roots(data_home):
        for candidate in (root / name, root / f"{name}.zip"):
            if candidate.exists():
                return candidate
        if (root / spec.files[0]).is_file():  # the folder is itself the extracted data set
            return root
    return None


# --------------------------------------------------------------------------------------------
# Checking a zip before anything is read from it.


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_zip(path: Path, spec: DatasetSpec, label: str, remedy: str) -> _Source:
    """Open the zip ``path`` as a source of ``spec``, after checking its central directory.

    Nothing is unpacked before these checks pass, each refusal a DatasetError naming ``label``
    (the zip's path or URL) and the ``remedy``: the file is a zip; it has at most
    ``_MAX_MEMBERS`` members; their sizes add up to at most ``spec.max_bytes`` (zipfile never
    unpacks a member past its recorded size: one that would fails its CRC instead, so the bound
    holds); and it holds every file of ``spec.files``, under ``<name>/`` or at its top.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DatasetError(f"{label} is not a readable zip archive ({exc}). {remedy}.") from exc
    try:
        _check_zip_directory(archive, spec, label, remedy)
        prefix = _zip_prefix(archive, spec, label, remedy)
    except BaseException:
        archive.close()
        raise
    return _Source(path, archive, prefix, label=label, remedy=remedy)


def _check_zip_directory(archive: zipfile.ZipFile, spec: DatasetSpec, label: str,
                         remedy: str) -> None:  # fmt: skip
    members = archive.infolist()
    if len(members) > _MAX_MEMBERS:
        raise DatasetError(
            f"{label} has {len(members):,} members, more than the {_MAX_MEMBERS:,} accepted; it is "
            f"not the official {spec.name} archive, and nothing was unpacked. {remedy}."
        )
    unpacked = sum(info.file_size for info in members)
    if unpacked > spec.max_bytes:
        biggest = max(members, key=lambda info: info.file_size)
        raise DatasetError(
            f"{label} would unpack to {unpacked:,} bytes ({biggest.filename} alone to "
            f"{biggest.file_size:,}), more than the {spec.max_bytes:,} accepted for {spec.name}; "
            f"it is not the official archive, and nothing was unpacked. {remedy}."
        )


def _zip_prefix(archive: zipfile.ZipFile, spec: DatasetSpec, label: str, remedy: str) -> str:
    """The folder inside the zip that holds the data set's files ("ml-100k/" in GroupLens')."""
    names = {info.filename for info in archive.infolist() if not info.is_dir()}
    prefix = next((p for p in (f"{spec.name}/", "") if p + spec.files[0] in names), None)
    shown = f"{spec.name}/" if prefix is None else prefix
    missing = [shown + name for name in spec.files if prefix is None or prefix + name not in names]
    if missing:
        raise DatasetError(
            f"{label} is an incomplete copy of {spec.name}: missing {', '.join(missing)}. {remedy}."
        )
    return prefix


# --------------------------------------------------------------------------------------------
# Downloading.


def _archive_url(spec: DatasetSpec, base_url: str | None) -> str:
    """Where to download ``spec``: under ``base_url``, else ``$RECSYS_DATA_MIRROR``, else
    ``spec.url`` (GroupLens). A base must be an http(s) or file URL (``ValueError`` otherwise)."""
    base, origin = (base_url, "base_url") if base_url else (os.environ.get(MIRROR_VAR), MIRROR_VAR)
    if not base:
        return spec.url
    if urllib.parse.urlsplit(base).scheme.lower() not in ("http", "https", "file"):
        raise ValueError(
            f"{origin}={base!r} is not a base URL: use one starting with https://, http:// or "
            f"file:// (e.g. https://mirror.example.org/movielens/) under which "
            f"{spec.url.rsplit('/', 1)[-1]} can be downloaded"
        )
    return base.rstrip("/") + "/" + spec.url.rsplit("/", 1)[-1]


def _download_deadline() -> float:
    """Seconds a whole download may take: ``$RECSYS_DOWNLOAD_TIMEOUT``, else the default."""
    raw = os.environ.get(DOWNLOAD_TIMEOUT_VAR, "").strip()
    if not raw:
        return DOWNLOAD_TIMEOUT
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{DOWNLOAD_TIMEOUT_VAR}={raw!r} is not a positive number of seconds "
                         f"(unset it for the default, {DOWNLOAD_TIMEOUT:g})")  # fmt: skip
    return seconds


class _Progress:
    """A download's progress on standard error: at most one update a second, then a final one."""

    def __init__(self, name: str, enabled: bool):
        self.name, self.enabled = name, enabled
        self.total = self.done = 0  # the total once announced, 0 where unknown
        self.started = self.shown_at = time.monotonic()

    def update(self, done: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.enabled and now - self.shown_at >= _PROGRESS_EVERY:
            self.shown_at = now
            _print_progress(self.name, done, self.total)

    def finish(self, done: int) -> None:
        if self.enabled:
            _print_progress(self.name, done, self.total)
            print(file=sys.stderr)


def _print_progress(name: str, done: int, total: int) -> None:
    if total:
        filled = int(30 * min(done, total) / total)
        bar = "#" * filled + "-" * (30 - filled)
        text = f"\rDownloading {name} [{bar}] {done / 1e6:5.1f}/{total / 1e6:.1f} MB"
    else:
        text = f"\rDownloading {name}: {done / 1e6:5.1f} MB"
    print(text, end="", file=sys.stderr, flush=True)


def _open_url(url: str, timeout: float):
    """The response to GET ``url``; any failure to get one raises :class:`_Unreachable`."""
    try:
        return urllib.request.urlopen(url, timeout=timeout)
    except http.client.HTTPException as exc:
        answer = str(exc).strip()[:80]
        raise _Unreachable(f"the server's answer is not HTTP ({type(exc).__name__} {answer!r}) "
                           f"({url})") from exc  # fmt: skip
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise _Unreachable(f"{getattr(exc, 'reason', exc)} ({url})") from exc


def _announced_length(response) -> int:
    """The Content-Length the server announced, or 0 where it announced none (or nonsense)."""
    try:
        return max(int(response.headers.get("Content-Length") or 0), 0)
    except ValueError:
        return 0


def _download(url: str, target: Path, progress: bool, limit: int) -> None:
    """Stream ``url`` into ``target``, or raise.

    Verified here: the server answers (else :class:`_Unreachable`); the whole download ends
    within :func:`_download_deadline` (each read waits at most the shorter of 60 s and that), so a
    server that trickles cannot hang the loader; no more than ``limit`` bytes are announced or
    arrive; all the bytes announced arrive. Each refusal is a DatasetError naming the URL; a
    failure to write ``target`` (a full disk) is a DatasetNotFoundError naming its folder.
    """
    deadline = _download_deadline()
    bar = _Progress(target.name, progress)
    with _open_url(url, min(_READ_TIMEOUT, deadline)) as response:
        bar.total = total = _announced_length(response)
        if total > limit:
            raise DatasetError(f"{url} announces {total:,} bytes, more than the {limit:,} "
                               "accepted: it is not the official archive; nothing was saved")  # fmt: skip
        try:
            with open(target, "wb") as out:
                _stream(response, out, url, limit, deadline, bar)
        except OSError as exc:  # reading errors are DatasetErrors by now: this is the writing
            raise _cannot_write(target.parent.parent, exc) from exc
        finally:
            bar.finish(bar.done)
    if total and bar.done != total:
        raise DatasetError(
            f"download of {url} was truncated: {bar.done:,} of {total:,} bytes arrived; "
            "nothing was saved"
        )


def _stream(response, out, url: str, limit: int, deadline: float, bar: _Progress) -> None:
    """Copy ``response`` to ``out`` block by block as the blocks arrive, checking the size and
    the deadline after each."""
    total = bar.total
    read = getattr(response, "read1", response.read)  # read1: whatever has arrived, at once
    while True:
        try:
            block = read(_CHUNK)
        except (OSError, http.client.HTTPException) as exc:
            raise DatasetError(
                f"download of {url} broke off after {bar.done:,} of {total:,} bytes ({exc!r}); "
                "nothing was saved"
            ) from exc
        if not block:
            return
        if bar.done + len(block) > limit:
            raise DatasetError(f"download of {url} brought more than {limit:,} bytes: it is not "
                               "the official archive; nothing was saved")  # fmt: skip
        out.write(block)
        bar.update(bar.done + len(block))
        if time.monotonic() - bar.started > deadline and bar.done != total:
            raise DatasetError(
                f"download of {url} did not finish within {deadline:g} s: {bar.done:,} of "
                f"{f'{total:,}' if total else 'unknown'} bytes arrived; nothing was saved. The "
                f"server is too slow: try again later or from a mirror ({MIRROR_VAR}), or allow "
                f"more time with {DOWNLOAD_TIMEOUT_VAR}=<seconds>"
            )


def _cannot_write(root: Path, exc: OSError) -> DatasetNotFoundError:
    return DatasetNotFoundError(
        f"cannot write a copy into {root}: {exc.strerror or exc}. Free some space there, set "
        f"{ENV_VAR} or pass data_home= to a writable folder, or put the extracted files there "
        "yourself."
    )


def _safe_extract(source: _Source, target: Path, root: Path) -> None:
    """Extract every member of the zip behind ``source`` under ``target``, refusing any member
    whose path would escape it and any link, before anything is written."""
    archive = source.archive
    target = target.resolve()
    for info in archive.infolist():
        member = PurePosixPath(info.filename.replace("\\", "/"))
        destination = (target / member).resolve()
        if member.is_absolute() or not destination.is_relative_to(target):
            raise DatasetError(
                f"{source.label} contains the member {info.filename!r}, whose path escapes "
                "the folder it is extracted to; refusing to extract it. Nothing was saved"
            )
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise DatasetError(f"{source.label} contains a symbolic link {info.filename!r}; "
                               "refusing to extract it. Nothing was saved")  # fmt: skip
    for info in archive.infolist():
        try:
            archive.extract(info, target)
        except _ZIP_ERRORS as exc:
            raise DatasetError(f"{source.label}!{info.filename} is corrupt inside the archive "
                               f"({exc}). Nothing was saved") from exc  # fmt: skip
        except OSError as exc:
            raise _cannot_write(root, exc) from exc


# --------------------------------------------------------------------------------------------
# Staging folders: named so that a later run can tell whose they are and remove stale ones.


def _host_tag() -> str:
    return re.sub(r"[^A-Za-z0-9._]", "_", socket.gethostname()) or "host"


def _make_staging(spec: DatasetSpec, root: Path) -> Path:
    """A new folder ``.<name>.partial-<host>-<pid>-<random>`` in ``root`` (created if needed),
    after removing the stale staging folders of earlier runs."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        _remove_stale_staging(spec, root)
        prefix = f".{spec.name}.partial-{_host_tag()}-{os.getpid()}-"
        return Path(tempfile.mkdtemp(prefix=prefix, dir=root))
    except OSError as exc:
        raise DatasetNotFoundError(
            f"cannot write a copy of {spec.name} into {root}: {exc}. Set {ENV_VAR} or pass "
            "data_home= to a writable folder, or put the extracted files there yourself."
        ) from exc


def _remove_stale_staging(spec: DatasetSpec, root: Path) -> None:
    """Remove the staging folders of ``spec`` in ``root`` that no running download owns: those
    of a process of this host that is gone, and any older than ``_STALE_AFTER`` (including the
    ``.<name>-download-*`` folders of earlier versions of this module)."""
    ours = re.compile(rf"\.{re.escape(spec.name)}\.partial-(?P<host>[A-Za-z0-9._]*)-(?P<pid>\d+)-")
    legacy = f".{spec.name}-download-"
    with os.scandir(root) as entries:
        for entry in entries:
            match = ours.match(entry.name)
            mine = match is not None or entry.name.startswith(legacy)
            if not mine or not entry.is_dir(follow_symlinks=False):
                continue
            try:
                age = time.time() - entry.stat(follow_symlinks=False).st_mtime
            except OSError:
                continue
            orphan = (match is not None and match["host"] == _host_tag()
                      and not _pid_alive(int(match["pid"])))  # fmt: skip
            if orphan or age > _STALE_AFTER:
                shutil.rmtree(entry.path, ignore_errors=True)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill would end the process there; the age decides instead
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: alive, someone else's
        return True
    return True


# --------------------------------------------------------------------------------------------
# Downloading, verifying and installing a copy.


def _download_and_install(spec: DatasetSpec, root: Path, url: str,
                          progress: bool) -> tuple[Path, dict | None]:  # fmt: skip
    """Download ``url``, verify it completely, and only then move it into ``root / spec.name``.

    Verified before anything is installed, in a staging folder in ``root``: the download itself
    (see :func:`_download`), the archive's MD5 where it is pinned, its central directory (see
    :func:`_open_zip`), every file's SHA-256 where recorded, that every file parses and the counts
    (the ``verify`` argument does not apply: a download is always verified), and that no member
    escapes the folder. On any failure the staging folder is removed: nothing is left behind.

    Returns the installed folder and the parsed data, or ``None`` for the data where another
    process installed its copy first (the caller reads and verifies that one).
    """
    staging = _make_staging(spec, root)
    try:
        archive = staging / f"{spec.name}.zip"
        _download(url, archive, progress, spec.max_bytes)
        if spec.md5 is not None and (actual := _md5(archive)) != spec.md5:
            raise DatasetError(
                f"checksum mismatch for {url}: MD5 {actual}, expected {spec.md5}; the "
                "download is corrupt or partial, and nothing was saved. Try again."
            )
        source = _open_zip(archive, spec, url, _DOWNLOAD_REMEDY)
        try:
            data = _check_and_parse(source, spec, verify=True)
            _safe_extract(source, staging / "extracted", root)
        finally:
            source.close()
        extracted = staging / "extracted" / source.prefix
        final = root / spec.name
        return final, data if _install(extracted, final, root) else None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _install(extracted: Path, final: Path, root: Path) -> bool:
    """Rename ``extracted`` to ``final`` (atomic: readers see no folder or a complete one).
    ``False`` where ``final`` appeared meanwhile, installed by another process."""
    try:
        os.replace(extracted, final)
    except OSError as exc:
        if final.exists():
            return False
        raise _cannot_write(root, exc) from exc
    return True


# --------------------------------------------------------------------------------------------
# The public entry point.


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name]


def _open_source(path: Path, spec: DatasetSpec) -> _Source:
    """A local copy as a source: a zip after its checks (its MD5 where pinned, then
    :func:`_open_zip`), or a folder that holds every file of ``spec.files``."""
    if path.is_file():
        remedy = (f"Point {ENV_VAR} at a clean copy, or delete {path} (if it is yours to delete) "
                  "and load again to download a fresh one")  # fmt: skip
        if spec.md5 is not None:
            try:
                found = _md5(path)
            except OSError as exc:
                raise DatasetError(f"{path} cannot be read ({exc.strerror or exc}): check that "
                                   f"it is a file you may read. {remedy}.") from exc  # fmt: skip
            if found != spec.md5:
                raise DatasetError(
                    f"{path} does not have the official MD5 checksum {spec.md5}: it is corrupt or "
                    "partial. Delete it and load again to download a fresh copy."
                )
        return _open_zip(path, spec, str(path), remedy)
    missing = [name for name in spec.files if not (path / name).is_file()]
    if missing:
        raise DatasetError(
            f"{path} is an incomplete copy of {spec.name}: missing {', '.join(missing)}. "
            "Delete the folder and load again, or restore the files."
        )
    return _Source(path)


_WARNED_MODIFIED: set[str] = set()


def _verify_files(source: _Source, spec: DatasetSpec, verify: bool) -> None:
    """Check a copy file by file against the canonical SHA-256 values, where they are recorded.

    A zip whose archive MD5 is pinned is not checked here: :func:`_open_source` has verified the
    whole archive. Others (a folder; an ``ml-latest-small`` zip) are. With ``verify=False`` a
    modified copy is loaded on purpose, and a warning says so once per copy, naming the files
    that differ.
    """
    if spec.sha256 is None or (source.is_zip and spec.md5 is not None):
        return
    differing = []
    for name, expected in spec.sha256.items():
        found = hashlib.sha256(source.read(name)).hexdigest()
        if found != expected:
            differing.append((name, expected, found))
    if not differing:
        return
    if verify:
        local = source.remedy != _DOWNLOAD_REMEDY  # a download is always verified
        hint = "; pass verify=False to load a modified copy on purpose" if local else ""
        name, expected, found = differing[0]
        others = f" ({len(differing) - 1} other file(s) differ too)" if len(differing) > 1 else ""
        raise DatasetError(
            f"{source.describe(name)} is not the canonical {spec.name} file: SHA-256 {found}, "
            f"expected {expected}{others}. The copy is damaged or modified (a changed byte, "
            f"other line endings). {source.remedy}{hint}."
        )
    key = str(source.location)
    if key not in _WARNED_MODIFIED:
        _WARNED_MODIFIED.add(key)
        names = ", ".join(name for name, _, _ in differing)
        warnings.warn(
            f"loading a modified copy of {spec.name} from {key} (verify=False): {names} "
            "differ from the canonical files, so results will differ from the book's",
            UserWarning,
            stacklevel=5,  # the caller of load_movielens
        )


def _check_and_parse(source: _Source, spec: DatasetSpec, verify: bool) -> dict:
    """Checksums, then parsing (each parser checks the counts of its ratings file first)."""
    _verify_files(source, spec, verify)
    return spec.parse(source, spec)


def _read_copy(path: Path, spec: DatasetSpec, verify: bool) -> dict:
    source = _open_source(path, spec)
    try:
        return _check_and_parse(source, spec, verify)
    finally:
        source.close()


def _fetch(spec: DatasetSpec, data_home, download: bool, progress: bool,
           base_url: str | None) -> tuple[Path, dict | None]:  # fmt: skip
    """Download ``spec`` into the first search folder, or explain why there is no copy."""
    roots = _search_roots(data_home)
    url = _archive_url(spec, base_url)
    looked = ", ".join(str(r) for r in roots)
    advice = (
        f"No copy of {spec.name} was found (looked for {spec.name}/ or {spec.name}.zip in: "
        f"{looked}). Download {url}, unzip it into one of those folders, or set {ENV_VAR} to a "
        "folder that holds it"
    )
    if not download:
        raise DatasetNotFoundError(advice + "; or call with download=True.")
    try:
        return _download_and_install(spec, roots[0], url, progress)
    except _Unreachable as exc:
        raise DatasetNotFoundError(
            f"{advice}. Downloading failed: {exc}. Try again later, or use a mirror "
            f"({MIRROR_VAR} or base_url=)."
        ) from exc.__cause__


def load_movielens(
    name: str = "ml-100k",
    data_home=None,
    download: bool = True,
    progress: bool = True,
    verify: bool = True,
    base_url: str | None = None,
) -> MovieLens:
    """Load a MovieLens data set as tidy DataFrames, downloading it once if needed.

    Parameters
    ----------
    name : {"ml-100k", "ml-1m", "ml-latest-small"}
    data_home : path, optional
        A folder to look in first (and to download into). Otherwise ``$RECSYS_DATA_HOME``, then
        the repository's ``data/`` folder.
    download : bool
        Download when no local copy exists. With ``False`` a missing copy raises
        :class:`DatasetNotFoundError`.
    progress : bool
        Show the download's progress on standard error (at most once a second).
    verify : bool
        Check a local copy file by file against the canonical SHA-256 values where they are
        recorded (a zip with a pinned MD5 is always checked by it). With ``False`` a modified
        copy is loaded, with one warning naming the files that differ. A download is always
        verified.
    base_url : str, optional
        Download from this base URL (a mirror of ``https://files.grouplens.org/datasets/movielens/``,
        or a ``file://`` folder holding the zips) instead of ``$RECSYS_DATA_MIRROR`` or GroupLens.
        The same checksums apply.

    Returns
    -------
    MovieLens
        ``ratings``, ``items``, ``users`` (``None`` for ml-latest-small), ``genres``, ``folds``
        (ML-100K's official splits; empty for the others) and ``source``.

    Raises
    ------
    DatasetNotFoundError
        No local copy, and downloading was disabled or failed (or no copy can be written). The
        message names what is missing, the URL, the folders searched and the environment
        variable to set.
    DatasetError
        A copy was found or downloaded but is corrupt, partial, modified, malformed, too big or
        too slow to arrive; the message names the file or URL, the problem and the remedy.
    ValueError
        An unknown name, or a malformed ``base_url``, ``$RECSYS_DATA_MIRROR`` or
        ``$RECSYS_DOWNLOAD_TIMEOUT``.
    """
    spec = _spec(name)
    path = find_dataset(name, data_home)
    data = None
    if path is None:
        path, data = _fetch(spec, data_home, download, progress, base_url)
    if data is None:
        data = _read_copy(path, spec, verify)
    return MovieLens(name=name, source=str(path), **data)


CSV_COLUMNS = ("user_id", "item_id", "rating")
_ID_COLUMNS = ("user_id", "item_id")


def _read_csv(path: Path, **kwargs) -> pd.DataFrame:
    """``pd.read_csv(path)``, every reason it cannot be read an error naming the file."""
    if path.is_dir():
        raise DatasetError(f"{path} is a folder, not a CSV file: pass the path of the ratings "
                           "file itself")  # fmt: skip
    if not path.exists():
        raise DatasetNotFoundError(f"{path}: no such file")
    try:
        return pd.read_csv(path, **kwargs)
    except OSError as exc:
        raise DatasetError(f"{path} cannot be read ({exc.strerror or exc}): check that it is a "
                           "file you may read (its permissions)") from exc  # fmt: skip
    except ValueError as exc:  # ParserError, EmptyDataError, UnicodeDecodeError are ValueErrors
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from exc


def _exact_ids(written: pd.Series) -> pd.Series:
    """Ids as written: integers (int64) if every one is written as its integer is
    (``str(int(v)) == v``: no sign but ``-``, no leading zero) and fits in int64, else the strings
    unchanged, so ``007``, ``7`` and ``07`` stay three."""
    canonical = written.str.fullmatch(r"0|-?[1-9][0-9]{0,18}")  # NaN where an id is missing
    if not canonical.eq(True).all():
        return written
    numbers = pd.to_numeric(written)  # int64, or uint64/float64 beyond int64's range
    return numbers.astype(np.int64) if numbers.dtype == np.int64 else written


def load_ratings_csv(path, name: str | None = None) -> MovieLens:
    """Load a reader's own ratings from a CSV file, validated like MovieLens.

    The file needs a header with the columns ``user_id, item_id, rating`` and may have
    ``timestamp`` (integer Unix seconds; without it the chapters skip the cells that need an
    order, see :func:`recsys_helpers.book.skip_without`) and ``title``
    (one per item). Ids are read exactly as written: integers where every id of the column is
    written as an integer is (``7``, not ``007`` or ``+7``), strings otherwise, so that ``007``
    and ``7`` are two users and an id such as ``NA`` is an id, not a missing value. Other columns
    are ignored. Every problem raises :class:`DatasetError` naming the file and what is wrong: a
    folder or an unreadable file, a missing or repeated column, a missing id, a missing or non-numeric
    rating, a duplicate (user, item) pair, a timestamp that is not an integer.

    Returns a :class:`MovieLens` with ``ratings``, an ``items`` table (``item_id, title``; the
    id as title when the file has none), no ``users``, no genres and no official folds.
    """
    path = Path(path)
    frame = _read_csv(path)
    # pandas renames a repeated column ("rating", "rating.1") and would silently use the first.
    header = _read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    named = [str(v).strip() for v in header.iloc[0]] if len(header) else []
    used = {*CSV_COLUMNS, "timestamp", "title"}
    repeated = sorted({c for c in named if c in used and named.count(c) > 1})
    if repeated:
        raise DatasetError(f"{path}: the header names the column(s) {repeated} more than once; "
                           "keep one column of each name")  # fmt: skip
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; the file has "
                           f"{list(frame.columns)}, the book needs {list(CSV_COLUMNS)} "
                           "(and optionally timestamp, title)")  # fmt: skip
    if frame.empty:
        raise DatasetError(f"{path}: the file has a header but no ratings")
    # The ids again, as written: only an empty field is missing, nothing is parsed as a number.
    ids = _read_csv(path, usecols=list(_ID_COLUMNS), dtype=str, keep_default_na=False,
                    na_values=[""])  # fmt: skip
    if len(ids) != len(frame):
        raise DatasetError(f"{path} changed while it was read; load it again")
    for column in _ID_COLUMNS:
        frame[column] = _exact_ids(ids[column].set_axis(frame.index))
    columns = [*CSV_COLUMNS, *(["timestamp"] if "timestamp" in frame.columns else [])]
    ratings = frame[columns].copy()
    try:
        validate_ratings(ratings, require_timestamp="timestamp" in columns)
    except ValueError as exc:
        raise DatasetError(f"{path}: {exc}") from exc
    ids = np.unique(ratings["item_id"].to_numpy())
    if "title" in frame.columns:
        titles = frame.groupby("item_id")["title"].first().reindex(ids)
    else:
        titles = pd.Series(ids.astype(str), index=ids)
    items = pd.DataFrame({"item_id": ids, "title": titles.to_numpy(), "genres": ""})
    return MovieLens(name=name or path.stem, ratings=ratings.reset_index(drop=True), items=items,
                     users=None, genres=[], source=str(path))  # fmt: skip


def load_movielens_folder(path, name: str | None = None) -> MovieLens:
    """Load a folder of ratings in a MovieLens release's own layout, recognised by its files.

    * ML-1M's layout: ``ratings.dat`` and ``movies.dat`` (``::``-separated, titles in latin-1),
      and ``users.dat`` if the folder has it (demographics; ``users`` is ``None`` otherwise);
    * the CSV releases' layout: ``ratings.csv`` (``userId,movieId,rating,timestamp``) and
      ``movies.csv`` (``movieId,title,genres``), as in ml-latest-small, ml-latest, ML-20M,
      ML-25M and ML-32M.

    This is for copies the book has no checksums for (a larger release, a class's sample kept
    in the same format); ``ml-100k``, ``ml-1m`` and ``ml-latest-small`` themselves are loaded
    verified by :func:`load_movielens`. The files are checked like any copy's: every file
    parses, ratings have no missing values and no (user, item) pair twice; only the official
    counts and checksums are not checked. The folder is only read. Returns a :class:`MovieLens`
    named after the folder (or ``name``), with no official folds.
    """
    path = Path(path).expanduser()
    if not path.is_dir():
        raise DatasetError(f"{path} is not a folder")
    for layout in FOLDER_LAYOUTS.values():
        if all((path / f).is_file() for f in layout.files):
            data = layout.parse(_Source(path, remedy=_OWN_FOLDER_REMEDY), layout)
            return MovieLens(name=name or path.name, source=str(path), **data)
    expected = " or ".join(" and ".join(layout.files) for layout in FOLDER_LAYOUTS.values())
    found = sorted(p.name for p in path.iterdir())[:10]
    raise DatasetError(f"{path} holds no MovieLens ratings in a layout the book reads: expected "
                       f"{expected}; found {found}")  # fmt: skip


def load_dataset(name: str | None = None, **kwargs) -> MovieLens:
    """The chapters' data switch: a MovieLens name, the path of a ratings CSV file, or the path
    of a folder in a MovieLens release's layout.

    ``name`` defaults to the environment variable ``RECSYS_DATASET``, then ``"ml-100k"``. A name
    of :data:`DATASETS` goes to :func:`load_movielens` (with ``kwargs``, e.g. ``base_url=``); a
    path ending in ``.csv`` to :func:`load_ratings_csv`; an existing folder to
    :func:`load_movielens_folder`. Anything else raises ``ValueError`` listing the choices.
    """
    name = name or os.environ.get(DATASET_VAR) or "ml-100k"
    if name in DATASETS:
        return load_movielens(name, **kwargs)
    if str(name).lower().endswith(".csv"):
        return load_ratings_csv(name)
    if Path(name).expanduser().is_dir():
        return load_movielens_folder(name)
    raise ValueError(f"unknown data set {name!r}: use one of {sorted(DATASETS)}, the path of a "
                     "ratings CSV file (columns user_id, item_id, rating[, timestamp, title]) or "
                     "of a folder in a MovieLens release's layout (ratings.dat and movies.dat, "
                     "or ratings.csv and movies.csv)")
