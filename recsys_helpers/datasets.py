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
(``ml-100k.zip``, read in place after its checksum is verified) or, if the folder itself is the
extracted archive, that. It only reads an existing copy and never writes beside it. An extracted
ML-100K copy is verified file by file against the canonical SHA-256 values (``DatasetSpec.sha256``):
a damaged or edited copy raises :class:`DatasetError` naming the file, both checksums and the
remedy, so it can never silently produce a different book (``verify=False`` loads it on purpose).

With no copy anywhere and ``download=True`` it downloads the official zip from GroupLens into the
first folder of that list, verifies its MD5 checksum, and extracts it atomically: members are
written to a temporary folder that is renamed into place only when everything is complete, and
members whose path would escape the target folder are refused.
"""

from __future__ import annotations

import hashlib
import http.client
import io
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import NamedTuple

import numpy as np
import pandas as pd

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
    "default_data_home",
    "find_dataset",
    "load_dataset",
    "load_movielens",
    "load_ratings_csv",
]

ENV_VAR = "RECSYS_DATA_HOME"
#: The environment variable the chapters' parameters cells read to choose their data set.
DATASET_VAR = "RECSYS_DATASET"
GROUPLENS_URL = "https://files.grouplens.org/datasets/movielens/"
_CHUNK = 1 << 16


class DatasetError(ValueError):
    """A copy of a data set was found or downloaded, but it is corrupt, partial or malformed."""


class DatasetNotFoundError(FileNotFoundError):
    """No copy of the data set exists locally, and none could be downloaded."""


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

    def genre_matrix(self) -> pd.DataFrame:
        """Items × genres indicator matrix (0/1), indexed by ``item_id``, one column per genre."""
        flags = self.items.set_index("item_id")["genres"].str.get_dummies(sep="|")
        return flags.reindex(columns=self.genres, fill_value=0).astype(np.int8)

    def titles(self, item_ids) -> pd.Series:
        """Titles of ``item_ids`` in the given order (``NaN`` for items without metadata)."""
        lookup = self.items.set_index("item_id")["title"]
        return lookup.reindex(np.asarray(item_ids)).rename("title")


# --------------------------------------------------------------------------------------------
# Reading files from a folder or from inside a zip, through one small interface.


class _Source:
    """Files of one extracted data set, in a folder or under a top folder inside a zip."""

    def __init__(self, location: Path, zip_path: Path | None = None, prefix: str = ""):
        self.location = location
        self._zip = zipfile.ZipFile(zip_path) if zip_path is not None else None
        self._prefix = prefix

    def exists(self, name: str) -> bool:
        if self._zip is not None:
            return self._prefix + name in self._zip.NameToInfo
        return (self.location / name).is_file()

    def read(self, name: str) -> bytes:
        if self._zip is not None:
            return self._zip.read(self._prefix + name)
        return (self.location / name).read_bytes()

    def describe(self, name: str) -> str:
        if self._zip is not None:
            return f"{self.location}!{self._prefix}{name}"
        return str(self.location / name)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()


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
        raise DatasetError(f"{source.describe(name)} could not be parsed: {exc}") from exc


def _read_ratings_file(source: _Source, name: str, sep: str, header=None) -> pd.DataFrame:
    names = ["user_id", "item_id", "rating", "timestamp"]
    frame = _read_table(
        source, name, sep=sep, header=header, names=None if header is not None else names
    )
    if frame.empty:
        raise DatasetError(f"{source.describe(name)} holds no ratings")
    if header is not None:
        frame = frame.rename(columns={"userId": "user_id", "movieId": "item_id"})
    if list(frame.columns) != names:
        raise DatasetError(
            f"{source.describe(name)} has columns {list(frame.columns)}, expected {names}"
        )
    try:
        validate_ratings(frame, require_timestamp=True)
    except ValueError as exc:
        raise DatasetError(f"{source.describe(name)}: {exc}") from exc
    frame = frame.astype({"user_id": np.int64, "item_id": np.int64, "timestamp": np.int64})
    return frame.astype({"rating": np.float64})


def _expect_columns(frame: pd.DataFrame, n: int, source: _Source, name: str) -> None:
    if frame.shape[1] != n:
        raise DatasetError(
            f"{source.describe(name)} has {frame.shape[1]} fields per line, expected {n}"
        )


def _year_from_title(titles: pd.Series) -> pd.Series:
    return pd.to_numeric(titles.str.extract(r"\((\d{4})\)\s*$")[0], errors="coerce").astype(
        "Int64"
    )


# --------------------------------------------------------------------------------------------
# Parsers, one per file layout.


def _parse_ml100k(source: _Source) -> dict:
    ratings = _read_ratings_file(source, "u.data", sep="\t")

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
                f"expected {len(ratings):,} (u.data)"
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


def _parse_ml1m(source: _Source) -> dict:
    ratings = _read_ratings_file(source, "ratings.dat", sep="::")
    movies = _read_table(
        source, "movies.dat", sep="::", header=None, names=["item_id", "title", "genres"],
        encoding="latin-1",
    )  # fmt: skip
    _expect_columns(movies, 3, source, "movies.dat")
    items, genres = _parse_movies_with_genres(movies)
    users = _read_table(
        source, "users.dat", sep="::", header=None,
        names=["user_id", "gender", "age", "occupation", "zip_code"], dtype={"zip_code": str},
    )  # fmt: skip
    users["occupation"] = users["occupation"].map(dict(enumerate(_ML1M_OCCUPATIONS)))
    return {"ratings": ratings, "items": items, "users": users, "genres": genres, "folds": {}}


def _parse_ml_latest(source: _Source) -> dict:
    ratings = _read_ratings_file(source, "ratings.csv", sep=",", header=0)
    movies = _read_table(source, "movies.csv", sep=",", header=0, encoding="utf-8")
    if list(movies.columns) != ["movieId", "title", "genres"]:
        raise DatasetError(
            f"{source.describe('movies.csv')} has columns {list(movies.columns)}, "
            "expected ['movieId', 'title', 'genres']"
        )
    items, genres = _parse_movies_with_genres(movies)
    return {"ratings": ratings, "items": items, "users": None, "genres": genres, "folds": {}}


@dataclass(frozen=True)
class DatasetSpec:
    """How to fetch, recognise, parse and check one data set.

    ``md5`` is the checksum of the official archive; ``None`` means "fetch it from
    ``url + '.md5'``" (GroupLens publishes one beside each archive). ``counts`` are the expected
    numbers of ratings, users and items, or ``None`` where the data set is updated over time.
    ``sha256`` maps each file the parser reads to the SHA-256 of its canonical bytes, so that an
    extracted copy (which no archive checksum covers) is verified file by file; ``None`` where
    the canonical values are not recorded.
    """

    name: str
    url: str
    md5: str | None
    files: tuple[str, ...]
    parse: Callable[[_Source], dict]
    counts: tuple[int, int, int] | None = None
    sha256: Mapping[str, str] | None = None


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
    ),  # fmt: skip
    "ml-1m": DatasetSpec(
        "ml-1m",
        GROUPLENS_URL + "ml-1m.zip",
        "c4d9eecfca2ab87c1945afe126590906",
        ("ratings.dat", "movies.dat", "users.dat"),
        _parse_ml1m,
        (1_000_209, 6_040, 3_706),
    ),
    "ml-latest-small": DatasetSpec(
        "ml-latest-small",
        GROUPLENS_URL + "ml-latest-small.zip",
        None,
        ("ratings.csv", "movies.csv"),
        _parse_ml_latest,
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


def _zip_prefix(zip_path: Path, spec: DatasetSpec) -> str:
    """The folder inside the zip that holds the data set's files ("ml-100k/" in GroupLens')."""
    with zipfile.ZipFile(zip_path) as archive:
        names = set(archive.namelist())
    for prefix in (f"{spec.name}/", ""):
        if prefix + spec.files[0] in names:
            return prefix
    raise DatasetError(f"{zip_path} does not contain {spec.name}/{spec.files[0]}")


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
# Downloading.


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _expected_md5(spec: DatasetSpec) -> str:
    if spec.md5 is not None:
        return spec.md5
    with urllib.request.urlopen(spec.url + ".md5", timeout=30) as response:
        text = response.read().decode("ascii", errors="replace")
    token = next((t for t in text.split() if len(t) == 32), None)
    if token is None:
        raise DatasetError(f"{spec.url}.md5 holds no MD5 checksum: {text[:80]!r}")
    return token.lower()


def _download(url: str, target: Path, progress: bool) -> None:
    """Stream ``url`` into ``target``; raise DatasetError if fewer bytes arrive than announced."""
    with urllib.request.urlopen(url, timeout=60) as response, open(target, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        try:
            while block := response.read(_CHUNK):
                out.write(block)
                done += len(block)
                if progress:
                    _print_progress(target.name, done, total)
        except (OSError, http.client.HTTPException) as exc:
            raise DatasetError(
                f"download of {url} broke off after {done:,} of {total:,} bytes ({exc!r}); "
                "nothing was saved"
            ) from exc
    if progress:
        print(file=sys.stderr)
    if total and done != total:
        raise DatasetError(
            f"download of {url} was truncated: {done:,} of {total:,} bytes arrived; "
            "nothing was saved"
        )


def _print_progress(name: str, done: int, total: int) -> None:
    if total:
        filled = int(30 * done / total)
        bar = "#" * filled + "-" * (30 - filled)
        text = f"\rDownloading {name} [{bar}] {done / 1e6:5.1f}/{total / 1e6:.1f} MB"
    else:
        text = f"\rDownloading {name}: {done / 1e6:5.1f} MB"
    print(text, end="", file=sys.stderr, flush=True)


def _safe_extract(archive: Path, target: Path) -> None:
    """Extract every member of ``archive`` under ``target``, refusing any that would escape it."""
    target = target.resolve()
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            member = PurePosixPath(info.filename.replace("\\", "/"))
            destination = (target / member).resolve()
            if member.is_absolute() or not destination.is_relative_to(target):
                raise DatasetError(
                    f"{archive.name} contains the member {info.filename!r}, whose path escapes "
                    "the folder it is extracted to; refusing to extract it"
                )
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                raise DatasetError(f"{archive.name} contains a symbolic link {info.filename!r}")
        zf.extractall(target)


def _download_and_extract(spec: DatasetSpec, root: Path, progress: bool) -> Path:
    """Download, verify and atomically extract ``spec`` into ``root / spec.name``."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{spec.name}-download-", dir=root))
    except OSError as exc:
        raise DatasetNotFoundError(
            f"cannot write a copy of {spec.name} into {root}: {exc}. Set {ENV_VAR} or pass "
            "data_home= to a writable folder, or put the extracted files there yourself."
        ) from exc
    try:
        archive = staging / f"{spec.name}.zip"
        _download(spec.url, archive, progress)
        expected, actual = _expected_md5(spec), _md5(archive)
        if actual != expected:
            raise DatasetError(
                f"checksum mismatch for {spec.url}: MD5 {actual}, expected {expected}; the "
                "download is corrupt or partial, and nothing was saved. Try again."
            )
        _safe_extract(archive, staging / "extracted")
        prefix = _zip_prefix(archive, spec)
        extracted = staging / "extracted" / prefix if prefix else staging / "extracted"
        missing = [name for name in spec.files if not (extracted / name).is_file()]
        if missing:
            raise DatasetError(f"{spec.url} lacks the files {missing}; nothing was saved")
        final = root / spec.name
        os.replace(extracted, final)  # atomic: readers see no folder or a complete one
        return final
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The public entry point.


def _spec(name: str) -> DatasetSpec:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(DATASETS)}")
    return DATASETS[name]


def _open_source(path: Path, spec: DatasetSpec) -> _Source:
    if path.is_file():
        if spec.md5 is not None and _md5(path) != spec.md5:
            raise DatasetError(
                f"{path} does not have the official MD5 checksum {spec.md5}: it is corrupt or "
                "partial. Delete it and load again to download a fresh copy."
            )
        try:
            return _Source(path, zip_path=path, prefix=_zip_prefix(path, spec))
        except zipfile.BadZipFile as exc:
            raise DatasetError(f"{path} is not a readable zip archive: {exc}") from exc
    missing = [name for name in spec.files if not (path / name).is_file()]
    if missing:
        raise DatasetError(
            f"{path} is an incomplete copy of {spec.name}: missing {', '.join(missing)}. "
            "Delete the folder and load again, or restore the files."
        )
    return _Source(path)


_WARNED_MODIFIED: set[str] = set()


def _verify_files(source: _Source, spec: DatasetSpec, verify: bool) -> None:
    """Check an extracted copy file by file against the canonical SHA-256 values.

    A zip is not checked here: :func:`_open_source` has verified the whole archive's MD5.
    With ``verify=False`` a modified copy is loaded on purpose, and a warning says so once per
    copy, naming the files that differ.
    """
    if spec.sha256 is None or source._zip is not None:
        return
    differing = []
    for name, expected in spec.sha256.items():
        found = hashlib.sha256(source.read(name)).hexdigest()
        if found != expected:
            differing.append((name, expected, found))
    if not differing:
        return
    if verify:
        name, expected, found = differing[0]
        others = f" ({len(differing) - 1} other file(s) differ too)" if len(differing) > 1 else ""
        raise DatasetError(
            f"{source.describe(name)} is not the canonical {spec.name} file: SHA-256 {found}, "
            f"expected {expected}{others}. The copy is damaged or modified (a changed byte, "
            f"other line endings). Point {ENV_VAR} at a clean copy, or delete the folder (if it is "
            "yours to delete) and load again to download a fresh one; pass verify=False to load "
            "a modified copy on purpose."
        )
    key = str(source.location)
    if key not in _WARNED_MODIFIED:
        _WARNED_MODIFIED.add(key)
        names = ", ".join(name for name, _, _ in differing)
        warnings.warn(
            f"loading a modified copy of {spec.name} from {key} (verify=False): {names} "
            "differ from the canonical files, so results will differ from the book's",
            UserWarning,
            stacklevel=3,
        )


def _check_counts(data: dict, spec: DatasetSpec, source: _Source) -> None:
    if spec.counts is None:
        return
    ratings = data["ratings"]
    found = (len(ratings), ratings["user_id"].nunique(), ratings["item_id"].nunique())
    if found != spec.counts:
        raise DatasetError(
            f"{source.describe(spec.files[0])} holds {found[0]:,} ratings from {found[1]:,} users "
            f"on {found[2]:,} items; {spec.name} has {spec.counts[0]:,} / {spec.counts[1]:,} / "
            f"{spec.counts[2]:,}. The copy is corrupt or is another data set."
        )


def load_movielens(
    name: str = "ml-100k",
    data_home=None,
    download: bool = True,
    progress: bool = True,
    verify: bool = True,
) -> MovieLens:
    """Load a MovieLens data set as tidy DataFrames, downloading it once if needed.

    Parameters
    ----------
    name : {"ml-100k", "ml-1m", "ml-latest-small"}
    data_home : path, optional
        A folder to look in first (and to download into). Otherwise ``$RECSYS_DATA_HOME``, then
        the repository's ``data/`` folder.
    download : bool
        Download from GroupLens when no local copy exists. With ``False`` a missing copy raises
        :class:`DatasetNotFoundError`.
    progress : bool
        Show a progress bar on standard error while downloading.
    verify : bool
        Check an extracted ML-100K copy file by file against the canonical SHA-256 values (a
        zip is always checked by its MD5). With ``False`` a modified copy is loaded, with one
        warning naming the files that differ.

    Returns
    -------
    MovieLens
        ``ratings``, ``items``, ``users`` (``None`` for ml-latest-small), ``genres``, ``folds``
        (ML-100K's official splits; empty for the others) and ``source``.

    Raises
    ------
    DatasetNotFoundError
        No local copy, and downloading was disabled or failed. The message names what is
        missing, the URL, the folders searched and the environment variable to set.
    DatasetError
        A copy was found or downloaded but is corrupt, partial, modified or malformed; for a
        file that differs from the canonical one, the message names it, both checksums and the
        remedy.
    """
    spec = _spec(name)
    path = find_dataset(name, data_home)
    if path is None:
        roots = _search_roots(data_home)
        looked = ", ".join(str(r) for r in roots)
        advice = (
            f"No copy of {name} was found (looked for {name}/ or {name}.zip in: {looked}). "
            f"Download {spec.url}, unzip it into one of those folders, or set {ENV_VAR} to a "
            "folder that holds it"
        )
        if not download:
            raise DatasetNotFoundError(advice + "; or call with download=True.")
        try:
            path = _download_and_extract(spec, roots[0], progress)
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise DatasetNotFoundError(f"{advice}. Downloading failed: {reason}.") from exc
    source = _open_source(path, spec)
    try:
        _verify_files(source, spec, verify)
        data = spec.parse(source)
        _check_counts(data, spec, source)
    finally:
        source.close()
    return MovieLens(name=name, source=str(path), **data)


CSV_COLUMNS = ("user_id", "item_id", "rating")


def load_ratings_csv(path, name: str | None = None) -> MovieLens:
    """Load a reader's own ratings from a CSV file, validated like MovieLens.

    The file needs a header with the columns ``user_id, item_id, rating`` and may have
    ``timestamp`` (integer Unix seconds; needed by the sequential chapters 07–08) and ``title``
    (one per item). Ids may be integers or strings; other columns are ignored. Every problem
    raises :class:`DatasetError` naming the file and what is wrong: a missing column, a missing
    or non-numeric rating, a duplicate (user, item) pair, a timestamp that is not an integer.

    Returns a :class:`MovieLens` with ``ratings``, an ``items`` table (``item_id, title``; the
    id as title when the file has none), no ``users``, no genres and no official folds.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetNotFoundError(f"{path}: no such file")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: not a readable CSV file ({exc})") from exc
    missing = [c for c in CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; the file has "
                           f"{list(frame.columns)}, the book needs {list(CSV_COLUMNS)} "
                           "(and optionally timestamp, title)")  # fmt: skip
    if frame.empty:
        raise DatasetError(f"{path}: the file has a header but no ratings")
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


def load_dataset(name: str | None = None, **kwargs) -> MovieLens:
    """The chapters' data switch: a MovieLens name, or the path of a ratings CSV file.

    ``name`` defaults to the environment variable ``RECSYS_DATASET``, then ``"ml-100k"``. A name
    of :data:`DATASETS` goes to :func:`load_movielens` (with ``kwargs``); a path ending in
    ``.csv`` to :func:`load_ratings_csv`. Anything else raises ``ValueError`` listing the
    choices.
    """
    name = name or os.environ.get(DATASET_VAR) or "ml-100k"
    if name in DATASETS:
        return load_movielens(name, **kwargs)
    if str(name).lower().endswith(".csv"):
        return load_ratings_csv(name)
    raise ValueError(f"unknown data set {name!r}: use one of {sorted(DATASETS)} or the path of "
                     "a ratings CSV file (columns user_id, item_id, rating[, timestamp, title])")
