"""The loader: finding copies, parsing every format, downloading safely, failing clearly."""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import os
import re
import socket
import subprocess
import sys
import threading
import time
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_zip, ml100k_files, release_files, tiny_ratings, write_folder

from recsys_helpers import datasets
from recsys_helpers.datasets import (
    DATASET_VAR,
    DatasetError,
    DatasetNotFoundError,
    Fold,
    MovieLens,
    find_dataset,
    load_dataset,
    load_movielens,
    load_movielens_folder,
    load_ratings_csv,
)

TINY_COUNTS = (12, 4, 5)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def tiny_spec(monkeypatch):
    """Make "ml-100k" expect the tiny data set's counts; returns a function to point it at a URL."""

    def point(url: str = "http://127.0.0.1:9/ml-100k.zip", md5: str | None = None,
              sha256: dict[str, str] | None = None, **changes):  # fmt: skip
        spec = dataclasses.replace(
            datasets.DATASETS["ml-100k"], url=url, md5=md5 or "0" * 32, counts=TINY_COUNTS,
            sha256=sha256, **changes,
        )
        monkeypatch.setitem(datasets.DATASETS, "ml-100k", spec)
        return spec

    point()
    return point


def latest_files() -> dict[str, bytes]:
    """The four files of an ml-latest-small-shaped data set, in its formats."""
    return {
        "ratings.csv": b"userId,movieId,rating,timestamp\n1,1,4.5,964982703\n1,2,3.0,964981247\n",
        "movies.csv": b'movieId,title,genres\n1,"Toy Story (1995)",Adventure|Comedy\n'
                      b"2,Jumanji (1995),(no genres listed)\n",
        "links.csv": b"movieId,imdbId,tmdbId\n1,0114709,862\n2,0113497,8844\n",
        "tags.csv": b"userId,movieId,tag,timestamp\n1,2,fun,1445714994\n",
    }  # fmt: skip


@pytest.fixture
def latest_spec(monkeypatch):
    """Make "ml-latest-small" expect the tiny files' checksums (the real ones are GroupLens'),
    at a closed port unless told a URL; returns a function to change it further."""

    def point(sha256: dict[str, str] | None = None, **changes):
        spec = dataclasses.replace(
            datasets.DATASETS["ml-latest-small"], url="http://127.0.0.1:9/ml-latest-small.zip",
            sha256=sha256 or _sha256s(latest_files()),
        )
        spec = dataclasses.replace(spec, **changes)
        monkeypatch.setitem(datasets.DATASETS, "ml-latest-small", spec)
        return spec

    point()
    return point


# --- finding and reading a local copy --------------------------------------------------------


def test_extracted_folder_in_data_home_is_loaded_with_tidy_columns(tmp_path, isolated_env,
                                                                   tiny_spec):  # fmt: skip
    write_folder(tmp_path / "ml-100k", ml100k_files())
    data = load_movielens("ml-100k", data_home=tmp_path)

    assert list(data.ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert data.ratings.dtypes.tolist() == [np.int64, np.int64, np.float64, np.int64]
    pd.testing.assert_frame_equal(data.ratings, tiny_ratings().astype({"rating": float}))
    assert list(data.items.columns) == ["item_id", "title", "year", "genres"]
    assert data.items.loc[2, "title"] == "Misérables, Les (1995)"  # Latin-1 decoded
    assert data.items["genres"].tolist() == ["Comedy", "Action", "Drama", "unknown",
                                             "Action|Drama"]  # fmt: skip
    assert data.genres == ["unknown", "Action", "Comedy", "Drama"]
    assert data.users["zip_code"].tolist()[0] == "85711"
    assert set(data.folds) == {"u1", "u2", "u3", "u4", "u5", "ua", "ub"}
    assert all(len(f.train) + len(f.test) == 12 for f in data.folds.values())
    assert data.source == str(tmp_path / "ml-100k")


def test_release_year_comes_from_title_or_release_date(tmp_path, isolated_env, tiny_spec):
    files = ml100k_files()
    # A title without "(year)" takes the year of its release date, GroupLens' 01-Jan-1995.
    files["u.item"] = files["u.item"].replace(b"Heat (1995)|01-Jan", b"Heat|01-Jan")
    write_folder(tmp_path / "ml-100k", files)
    items = load_movielens(data_home=tmp_path).items
    assert items["year"].tolist()[:3] == [1995, 1995, 1995]
    assert items.loc[4, "title"] == "Heat" and items.loc[4, "year"] == 1995
    assert items.loc[3, "title"] == "unknown" and pd.isna(items.loc[3, "year"])


# --- an extracted copy is verified file by file ------------------------------------------------


def _sha256s(files: dict[str, bytes]) -> dict[str, str]:
    return {name: hashlib.sha256(body).hexdigest() for name, body in files.items()}


@pytest.mark.parametrize("damage", ["one byte in u.item", "CRLF line endings"])
def test_a_damaged_extracted_copy_is_refused_naming_file_checksums_and_remedy(
    tmp_path, isolated_env, tiny_spec, damage
):
    canonical = ml100k_files()
    tiny_spec(sha256=_sha256s(canonical))
    files = dict(canonical)
    if damage == "one byte in u.item":
        files["u.item"] = files["u.item"].replace(b"GoldenEye", b"GoldenEyf")
    else:
        files = {name: body.replace(b"\n", b"\r\n") for name, body in files.items()}
    write_folder(tmp_path / "ml-100k", files)
    first = "u.item" if damage == "one byte in u.item" else "u.data"

    with pytest.raises(DatasetError) as caught:
        load_movielens(data_home=tmp_path, download=False)

    message = str(caught.value)
    assert str(tmp_path / "ml-100k" / first) in message
    assert canonical[first] != files[first]
    assert hashlib.sha256(canonical[first]).hexdigest() in message  # expected
    assert hashlib.sha256(files[first]).hexdigest() in message  # found
    assert "RECSYS_DATA_HOME at a clean copy" in message and "delete the folder" in message
    assert "verify=False" in message
    if damage == "CRLF line endings":
        assert "17 other file(s) differ too" in message


def test_a_copy_with_a_missing_file_is_refused_naming_it(tmp_path, isolated_env, tiny_spec):
    files = ml100k_files()
    tiny_spec(sha256=_sha256s(files))
    del files["u.item"]
    write_folder(tmp_path / "ml-100k", files)
    with pytest.raises(DatasetError, match=r"incomplete copy of ml-100k: missing u\.item"):
        load_movielens(data_home=tmp_path, download=False)


def test_verify_false_loads_a_modified_copy_and_says_so_once(tmp_path, isolated_env, tiny_spec,
                                                             monkeypatch):  # fmt: skip
    canonical = ml100k_files()
    tiny_spec(sha256=_sha256s(canonical))
    monkeypatch.setattr(datasets, "_WARNED_MODIFIED", set())
    files = dict(canonical)
    files["u.item"] = files["u.item"].replace(b"GoldenEye", b"GoldenEyf")
    write_folder(tmp_path / "ml-100k", files)

    with pytest.warns(UserWarning, match=r"modified copy of ml-100k.*u\.item differ") as seen:
        data = load_movielens(data_home=tmp_path, download=False, verify=False)
        load_movielens(data_home=tmp_path, download=False, verify=False)
    assert len(seen) == 1
    assert data.titles([2]).tolist() == ["GoldenEyf (1995)"]


def test_a_canonical_extracted_copy_loads_without_a_warning(tmp_path, isolated_env, tiny_spec,
                                                            recwarn):  # fmt: skip
    files = ml100k_files()
    tiny_spec(sha256=_sha256s(files))
    write_folder(tmp_path / "ml-100k", files)
    assert len(load_movielens(data_home=tmp_path, download=False).ratings) == 12
    assert not [w for w in recwarn if "modified copy" in str(w.message)]


def test_genre_matrix_and_titles(tmp_path, isolated_env, tiny_spec):
    write_folder(tmp_path / "ml-100k", ml100k_files())
    data = load_movielens(data_home=tmp_path)
    flags = data.genre_matrix()
    assert list(flags.columns) == data.genres
    assert flags.loc[5].tolist() == [0, 1, 0, 1]
    assert data.titles([5, 1]).tolist() == ["Heat (1995)", "Toy Story (1995)"]
    assert data.titles([99]).isna().all()


def test_official_zip_is_read_in_place_without_writing(tmp_path, isolated_env, tiny_spec):
    body = make_zip(ml100k_files())
    tiny_spec(md5=hashlib.md5(body).hexdigest())
    (tmp_path / "ml-100k.zip").write_bytes(body)
    before = _listing(tmp_path)

    data = load_movielens(data_home=tmp_path, download=False)

    assert len(data.ratings) == 12
    assert _listing(tmp_path) == before


def test_a_folder_that_is_itself_the_data_set_is_accepted(tmp_path, isolated_env, tiny_spec):
    folder = write_folder(tmp_path / "copy", ml100k_files())
    assert find_dataset("ml-100k", data_home=folder) == folder
    assert len(load_movielens(data_home=folder).ratings) == 12


def test_lookup_order_is_argument_then_env_var_then_default(tmp_path, isolated_env, tiny_spec,
                                                            monkeypatch):  # fmt: skip
    arg, env = tmp_path / "arg", tmp_path / "env"
    write_folder(env / "ml-100k", ml100k_files())
    write_folder(isolated_env / "ml-100k", ml100k_files())
    monkeypatch.setenv("RECSYS_DATA_HOME", str(env))
    assert find_dataset("ml-100k") == env / "ml-100k"
    write_folder(arg / "ml-100k", ml100k_files())
    assert find_dataset("ml-100k", data_home=arg) == arg / "ml-100k"
    monkeypatch.delenv("RECSYS_DATA_HOME")
    assert find_dataset("ml-100k") == isolated_env / "ml-100k"


def test_local_copy_is_used_without_touching_the_network(tmp_path, isolated_env, tiny_spec):
    # The spec points at a closed port: any download attempt would fail loudly.
    write_folder(tmp_path / "ml-100k", ml100k_files())
    assert len(load_movielens(data_home=tmp_path, download=True).ratings) == 12


# --- bad local copies ---------------------------------------------------------------------


def test_incomplete_folder_names_the_missing_files(tmp_path, isolated_env, tiny_spec):
    files = ml100k_files()
    del files["u3.test"]
    write_folder(tmp_path / "ml-100k", files)
    with pytest.raises(DatasetError, match=r"incomplete copy of ml-100k: missing u3\.test"):
        load_movielens(data_home=tmp_path)


def test_corrupt_local_zip_fails_its_checksum(tmp_path, isolated_env, tiny_spec):
    body = make_zip(ml100k_files())
    tiny_spec(md5=hashlib.md5(body).hexdigest())
    (tmp_path / "ml-100k.zip").write_bytes(body[: len(body) // 2])
    with pytest.raises(DatasetError, match="official MD5 checksum"):
        load_movielens(data_home=tmp_path)


@pytest.mark.parametrize(
    "line, problem",
    [("1\t1\tfive\t881250949\n", "rating must be numeric"),
     ("1\t1\t\t881250949\n", "missing or infinite"),
     ("1\t1\n", "missing"),
     ("1\t1\t5\t881250949\n", "duplicate")],
)  # fmt: skip
def test_malformed_ratings_file_is_named_with_its_problem(tmp_path, isolated_env, tiny_spec,
                                                          line, problem):  # fmt: skip
    files = ml100k_files()
    files["u.data"] += line.encode()
    write_folder(tmp_path / "ml-100k", files)
    with pytest.raises(DatasetError, match=rf"u\.data.*{problem}"):
        load_movielens(data_home=tmp_path)


def test_wrong_number_of_item_fields_is_reported(tmp_path, isolated_env, tiny_spec):
    files = ml100k_files()
    files["u.item"] = b"1|Toy Story (1995)|01-Jan-1995||http://x|0|0\n"
    write_folder(tmp_path / "ml-100k", files)
    with pytest.raises(DatasetError, match=r"u\.item has 7 fields per line, expected 9"):
        load_movielens(data_home=tmp_path)


def test_counts_that_differ_from_the_official_ones_are_reported(tmp_path, isolated_env,
                                                                monkeypatch):  # fmt: skip
    write_folder(tmp_path / "ml-100k", ml100k_files())
    # The real spec refuses the tiny copy by its checksums first; past them (verify=False), by
    # its counts: 100,000 ratings are expected, and the tiny copy must not be half-used.
    with pytest.raises(DatasetError, match=r"u\.data is not the canonical ml-100k file"):
        load_movielens(data_home=tmp_path)
    with pytest.warns(UserWarning, match="modified copy"), pytest.raises(
        DatasetError, match=r"12 ratings from 4 users on 5 items.*100,000"
    ):
        load_movielens(data_home=tmp_path, verify=False)


def test_fold_that_does_not_add_up_is_reported(tmp_path, isolated_env, tiny_spec):
    files = ml100k_files()
    files["u2.test"] = files["u2.test"].splitlines(keepends=True)[0]
    write_folder(tmp_path / "ml-100k", files)
    with pytest.raises(DatasetError, match=r"u2\.base and \.test hold 11 ratings"):
        load_movielens(data_home=tmp_path)
    files["u2.test"] = b""
    write_folder(tmp_path / "ml-100k", files)
    with pytest.raises(DatasetError, match=r"u2\.test holds no ratings"):
        load_movielens(data_home=tmp_path)


def test_unknown_data_set_name():
    with pytest.raises(ValueError, match=r"unknown data set 'ml-10m'.*ml-100k"):
        load_movielens("ml-10m")


# --- downloading ----------------------------------------------------------------------------


def test_download_verifies_and_extracts_into_the_first_search_folder(tmp_path, isolated_env,
                                                                     tiny_spec, server, capsys):  # fmt: skip
    body = make_zip(ml100k_files())
    tiny_spec(server.serve("/ml-100k.zip", body), hashlib.md5(body).hexdigest())

    data = load_movielens(data_home=tmp_path)

    assert len(data.ratings) == 12
    assert _listing(tmp_path) == sorted(["ml-100k"] + [f"ml-100k/{n}" for n in ml100k_files()])
    assert "Downloading ml-100k.zip" in capsys.readouterr().err
    # A second load finds the cache and does not download again.
    server.routes.clear()
    assert len(load_movielens(data_home=tmp_path, progress=False).ratings) == 12


def test_download_into_env_var_folder_when_no_argument(tmp_path, isolated_env, tiny_spec, server,
                                                       monkeypatch):  # fmt: skip
    body = make_zip(ml100k_files())
    tiny_spec(server.serve("/ml-100k.zip", body), hashlib.md5(body).hexdigest())
    monkeypatch.setenv("RECSYS_DATA_HOME", str(tmp_path / "env"))
    load_movielens(progress=False)
    assert (tmp_path / "env" / "ml-100k" / "u.data").is_file()
    assert not isolated_env.exists()


def test_checksum_mismatch_leaves_no_cache(tmp_path, isolated_env, tiny_spec, server):
    body = make_zip(ml100k_files())
    tiny_spec(server.serve("/ml-100k.zip", body), "f" * 32)
    with pytest.raises(DatasetError, match="checksum mismatch.*nothing was saved"):
        load_movielens(data_home=tmp_path, progress=False)
    assert _listing(tmp_path) == []


def test_truncated_download_leaves_no_cache(tmp_path, isolated_env, tiny_spec, server):
    body = make_zip(ml100k_files())
    url = server.serve("/ml-100k.zip", body[:100], announced=len(body))
    tiny_spec(url, hashlib.md5(body).hexdigest())
    with pytest.raises(DatasetError, match=rf"100 of {len(body):,} bytes"):
        load_movielens(data_home=tmp_path, progress=False)
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("member", ["../evil.txt", "ml-100k/../../evil.txt", "/tmp/evil.txt"])
def test_archive_member_escaping_the_folder_is_refused(tmp_path, isolated_env, tiny_spec, server,
                                                       member):  # fmt: skip
    files = ml100k_files()
    body = make_zip(files)
    buffer = io.BytesIO(body)
    with zipfile.ZipFile(buffer, "a") as archive:
        archive.writestr(member, b"gotcha")
    body = buffer.getvalue()
    target = tmp_path / "home"
    tiny_spec(server.serve("/ml-100k.zip", body), hashlib.md5(body).hexdigest())

    with pytest.raises(DatasetError, match="escapes the folder"):
        load_movielens(data_home=target, progress=False)
    assert not list(tmp_path.rglob("evil.txt"))
    assert _listing(target) == []


def test_ml_latest_small_download_is_verified_file_by_file_without_an_md5(
    tmp_path, isolated_env, server, latest_spec
):
    # GroupLens re-packs ml-latest-small.zip, so no archive checksum is pinned or fetched (the
    # server here has no .md5 beside the zip): the files' SHA-256 values are checked instead.
    body = make_zip(latest_files(), prefix="ml-latest-small/")
    latest_spec(url=server.serve("/ml-latest-small.zip", body))

    data = load_movielens("ml-latest-small", data_home=tmp_path, progress=False)

    assert data.ratings["rating"].tolist() == [4.5, 3.0]
    assert data.ratings.dtypes.tolist() == [np.int64, np.int64, np.float64, np.int64]
    assert data.users is None and data.folds == {}
    assert data.items["genres"].tolist() == ["Adventure|Comedy", ""]
    assert data.items["year"].tolist() == [1995, 1995]
    assert data.genres == ["Adventure", "Comedy"]
    assert _listing(tmp_path) == sorted(["ml-latest-small"] + [f"ml-latest-small/{name}"
                                                               for name in latest_files()])  # fmt: skip


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/ml-100k.zip"


def test_offline_without_a_copy_says_what_where_and_how(tmp_path, isolated_env, tiny_spec):
    url = _closed_port_url()
    tiny_spec(url)
    with pytest.raises(DatasetNotFoundError) as error:
        load_movielens(data_home=tmp_path / "nowhere", progress=False)
    message = str(error.value)
    for expected in ["ml-100k", url, str(tmp_path / "nowhere"), "RECSYS_DATA_HOME",
                     "Downloading failed"]:  # fmt: skip
        assert expected in message
    assert not (tmp_path / "nowhere" / "ml-100k").exists()


def test_download_false_never_downloads(tmp_path, isolated_env, tiny_spec, server):
    body = make_zip(ml100k_files())
    tiny_spec(server.serve("/ml-100k.zip", body), hashlib.md5(body).hexdigest())
    with pytest.raises(DatasetNotFoundError, match="download=True"):
        load_movielens(data_home=tmp_path, download=False)
    assert _listing(tmp_path) == []


def test_http_error_is_reported_as_not_found(tmp_path, isolated_env, tiny_spec, server):
    tiny_spec(server.url + "/missing.zip")
    with pytest.raises(DatasetNotFoundError, match="Downloading failed: Not Found"):
        load_movielens(data_home=tmp_path, progress=False)


# --- ML-1M's format ------------------------------------------------------------------------


def test_ml1m_format_is_parsed(tmp_path, isolated_env, monkeypatch):
    folder = write_folder(tmp_path / "ml-1m", {
        "ratings.dat": b"1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n",
        "movies.dat": "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n"
                      "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
                      .encode("latin-1"),
        "users.dat": b"1::F::1::10::48067\n2::M::56::16::70072\n",
    })  # fmt: skip
    spec = dataclasses.replace(datasets.DATASETS["ml-1m"], counts=(3, 2, 2))
    monkeypatch.setitem(datasets.DATASETS, "ml-1m", spec)

    data = load_movielens("ml-1m", data_home=tmp_path)

    assert data.source == str(folder)
    assert data.ratings["item_id"].tolist() == [1193, 661, 1193]
    assert data.items["year"].tolist() == [1975, 1996]
    assert data.users["occupation"].tolist() == ["K-12 student", "self-employed"]
    assert data.users["zip_code"].tolist() == ["48067", "70072"]
    assert data.genres == ["Animation", "Children's", "Drama", "Musical"]


# --- a reader's folder in a release's layout (RECSYS_DATASET=/path/to/folder) --------------

FOLDER_ITEMS = pd.DataFrame({"item_id": [193_609, 7], "title": ["Amélie, Part 2 (2001)",
                                                               "Seven (a.k.a. Se7en) (1995)"],
                             "genres": ["Comedy|Romance", "(no genres listed)"]})  # fmt: skip
FOLDER_RATINGS = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [193_609, 7, 7],
                               "rating": [4.5, 0.5, 3.0],
                               "timestamp": [964982703, 964982224, 964981247]})  # fmt: skip


@pytest.mark.parametrize("layout", ["ml-1m", "ml-latest"])
def test_a_folder_in_a_release_layout_is_loaded_without_writing(tmp_path, layout):
    ratings = FOLDER_RATINGS.assign(rating=[5, 1, 3]) if layout == "ml-1m" else FOLDER_RATINGS
    folder = write_folder(tmp_path / "my-release", release_files(ratings, FOLDER_ITEMS,
                                                                 layout=layout))  # fmt: skip
    before = _listing(tmp_path)
    data = load_movielens_folder(folder)
    assert _listing(tmp_path) == before  # only read
    assert data.name == "my-release" and data.source == str(folder) and data.folds == {}
    assert data.users is None  # neither layout has demographics here
    assert data.ratings.rating.tolist() == ratings.rating.astype(float).tolist()
    assert data.ratings.item_id.tolist() == [193_609, 7, 7]
    assert data.titles([7, 193_609]).tolist() == ["Seven (a.k.a. Se7en) (1995)",
                                                  "Amélie, Part 2 (2001)"]  # latin-1 / utf-8
    assert data.items.year.tolist() == [2001, 1995]
    assert data.genres == ["Comedy", "Romance"]  # "(no genres listed)" is no genre
    switched = load_dataset(str(folder))
    assert switched.ratings.equals(data.ratings) and switched.name == "my-release"


def test_an_ml1m_layout_folder_with_users_dat_has_demographics(tmp_path):
    users = pd.DataFrame({"user_id": [1, 2], "gender": ["F", "M"], "age": [1, 56],
                          "occupation": [10, 16], "zip_code": ["02139", "70072"]})  # fmt: skip
    ratings = FOLDER_RATINGS.assign(rating=[5, 1, 3])
    folder = write_folder(tmp_path / "class", release_files(ratings, FOLDER_ITEMS, users))
    data = load_dataset(str(folder))
    assert data.users.occupation.tolist() == ["K-12 student", "self-employed"]
    assert data.users.zip_code.tolist() == ["02139", "70072"]  # the leading zero is kept


@pytest.mark.parametrize("files, message", [
    ({"ratings.dat": b"1::2::3::4\n"}, r"no MovieLens ratings in a layout the book reads: "
     r"expected ratings.dat and movies.dat or ratings.csv and movies.csv; found \['ratings.dat'\]"),
    ({"ratings.dat": b"1::2::3\n", "movies.dat": b"2::A (2000)::Drama\n"},
     r"ratings.dat: ratings.timestamp has 1 missing value"),  # three fields, not four
    ({"ratings.csv": b"userId,movieId,rating,timestamp\n1,2,,4\n",
      "movies.csv": b"movieId,title,genres\n2,A (2000),Drama\n"}, "missing or infinite"),
    ({"ratings.csv": b"userId,movieId,rating,timestamp\n1,2,4,5\n",
      "movies.csv": b"id,title\n2,A (2000)\n"}, r"movies.csv has columns \['id', 'title'\]"),
])  # fmt: skip
def test_a_folder_that_is_not_in_a_release_layout_is_refused_naming_the_file(tmp_path, files,
                                                                             message):
    folder = write_folder(tmp_path / "mine", files)
    with pytest.raises(DatasetError, match=message) as caught:
        load_dataset(str(folder))
    assert str(folder) in str(caught.value)


# --- the real data set, where a copy is configured (CI sets RECSYS_DATA_HOME) ---------------

real_copy = pytest.mark.skipif(
    find_dataset("ml-100k") is None, reason="no local copy of ml-100k (set RECSYS_DATA_HOME)"
)


@real_copy
def test_real_ml100k_has_the_documented_sizes():
    data = load_movielens("ml-100k", download=False)
    r = data.ratings
    assert (len(r), r.user_id.nunique(), r.item_id.nunique()) == (100_000, 943, 1_682)
    assert set(r.rating.unique()) == {1.0, 2.0, 3.0, 4.0, 5.0}
    sizes = {name: (len(f.train), len(f.test)) for name, f in data.folds.items()}
    assert sizes == {**{f"u{k}": (80_000, 20_000) for k in range(1, 6)},
                     "ua": (90_570, 9_430), "ub": (90_570, 9_430)}  # fmt: skip
    key = ["user_id", "item_id"]
    # The five u-folds' test sets are disjoint and cover every rating once.
    tests = pd.concat([data.folds[f"u{k}"].test for k in range(1, 6)])
    assert not tests.duplicated(key).any() and len(tests) == 100_000
    # ua/ub hold exactly ten test ratings per user.
    assert (data.folds["ua"].test.groupby("user_id").size() == 10).all()
    for fold in data.folds.values():
        assert fold.train.merge(fold.test, on=key).empty


@real_copy
def test_real_extracted_copy_matches_the_canonical_checksums():
    folder = find_dataset("ml-100k")
    if not folder.is_dir():
        pytest.skip("the configured copy is the zip, checked by its MD5")
    for name, expected in datasets.DATASETS["ml-100k"].sha256.items():
        assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == expected, name
    items = load_movielens("ml-100k", download=False).items
    assert len(items) == 1_682 and items.loc[items.item_id == 267, "title"].item() == "unknown"


@real_copy
def test_real_copy_is_read_without_writing_beside_it():
    folder = find_dataset("ml-100k")
    before = sorted(os.listdir(folder if folder.is_dir() else folder.parent))
    load_movielens("ml-100k", download=False)
    assert sorted(os.listdir(folder if folder.is_dir() else folder.parent)) == before


# -- a reader's own ratings CSV, and the chapters' data switch ------------------------------------
GOOD_CSV = """user_id,item_id,rating,timestamp,title
ann,m1,4,100,Alpha
ann,m2,3.5,101,Beta
bob,m1,5,102,Alpha
"""


def write(tmp_path, text, name="mine.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_load_ratings_csv_reads_ratings_items_and_titles(tmp_path):
    data = load_ratings_csv(write(tmp_path, GOOD_CSV))
    assert data.name == "mine" and data.users is None and data.folds == {}
    assert list(data.ratings.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert data.ratings.rating.tolist() == [4.0, 3.5, 5.0]
    assert data.titles(["m2", "m1"]).tolist() == ["Beta", "Alpha"]
    no_titles = load_ratings_csv(write(tmp_path, "user_id,item_id,rating\n1,10,4\n2,11,2\n"))
    assert no_titles.titles([11]).tolist() == ["11"] and "timestamp" not in no_titles.ratings
    assert data.has_timestamps and not no_titles.has_timestamps


@pytest.mark.parametrize("text, message", [
    ("user,item_id,rating\n1,2,3\n", r"missing column\(s\) \['user_id'\]"),
    ("user_id,item_id,rating\n", "no ratings"),
    ("user_id,item_id,rating\n1,2,\n", "missing or infinite"),
    ("user_id,item_id,rating\n,2,3\n", r"user_id has 1 missing value"),
    ("user_id,item_id,rating\n1,2,good\n", "must be numeric"),
    ("user_id,item_id,rating\n1,2,3\n1,2,4\n", "duplicate"),
    ("user_id,item_id,rating,timestamp\n1,2,3,yesterday\n", "timestamp must hold integers"),
    ("user_id,item_id,rating,rating\n1,2,3,5\n", r"names the column\(s\) \['rating'\] more than once"),
    ("", "not a readable CSV"),
])  # fmt: skip
def test_load_ratings_csv_names_the_file_and_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError, match=message) as caught:
        load_ratings_csv(path)
    assert str(path) in str(caught.value)


def test_csv_ids_round_trip_exactly_as_written(tmp_path):
    text = "user_id,item_id,rating\n007,1,4\n7,1,3\n07,2,5\nNA,2,1\n+7,1,2\n"
    data = load_ratings_csv(write(tmp_path, text))
    assert data.ratings["user_id"].tolist() == ["007", "7", "07", "NA", "+7"]  # five readers
    assert data.ratings["item_id"].dtype == np.int64 and data.items["item_id"].tolist() == [1, 2]
    # One id not written as its integer would be keeps the whole column as strings.
    mixed = load_ratings_csv(write(tmp_path, "user_id,item_id,rating\n1,10,4\n2,010,3\n", "m.csv"))
    assert mixed.ratings["user_id"].dtype == np.int64
    assert mixed.ratings["item_id"].tolist() == ["10", "010"]
    assert mixed.titles(["010", "10"]).tolist() == ["010", "10"]


def test_load_dataset_switch(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD_CSV)
    monkeypatch.setenv(DATASET_VAR, str(path))
    assert load_dataset().source == str(path)
    assert load_dataset(str(path)).ratings.shape == (3, 4)
    with pytest.raises(ValueError, match="unknown data set 'ml-10'"):
        load_dataset("ml-10")
    with pytest.raises(DatasetNotFoundError, match="no such file"):
        load_dataset(str(tmp_path / "absent.csv"))


# --- helpers for the reliability tests below ------------------------------------------------------


class SlowServer:
    """A server on 127.0.0.1 that answers every request with ``body`` in ``pieces``, ``pause``
    seconds apart, once ``together`` requests have arrived (so that downloads start at once)."""

    def __init__(self, body: bytes, pieces: int = 1, pause: float = 0.0, together: int = 1):
        barrier = threading.Barrier(together, timeout=30)

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # the name http.server calls
                barrier.wait()
                self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                step = -(-len(body) // pieces)
                try:
                    for start in range(0, len(body), step):
                        self.wfile.write(body[start : start + step])
                        time.sleep(pause)
                except OSError:  # the client gave up
                    pass

            def log_message(self, *args):  # keep test output quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/ml-100k.zip"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def slow_server():
    started = []

    def start(body: bytes, **kwargs) -> SlowServer:
        started.append(SlowServer(body, **kwargs))
        return started[-1]

    yield start
    for srv in started:
        srv.close()


# A loader in another process, pointed at ``url`` for a tiny ML-100K; optionally with a limit on
# the size of the files it may write (a full disk). It prints how the load ended.
_LOADER = """
import dataclasses, sys
from pathlib import Path
from recsys_helpers import datasets
url, home, md5, limit = sys.argv[1], Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
if limit:
    import resource, signal
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
datasets.default_data_home = lambda: home
datasets.DATASETS["ml-100k"] = dataclasses.replace(
    datasets.DATASETS["ml-100k"], url=url, md5=md5, counts=(12, 4, 5), sha256=None)
try:
    datasets.load_movielens(data_home=home, progress=False)
    print("loaded")
except Exception as exc:
    print(f"{type(exc).__name__}: {exc}")
"""


def _loader_process(url: str, home: Path, md5: str = "0" * 32,
                    file_size_limit: int = 0) -> subprocess.Popen:  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k not in ("RECSYS_DATA_HOME", "RECSYS_DATA_MIRROR")}
    return subprocess.Popen(
        [sys.executable, "-c", _LOADER, url, str(home), md5, str(file_size_limit)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _wait_for(condition, seconds: float = 30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.05)
    raise AssertionError(f"nothing happened within {seconds} s")


@pytest.fixture
def unreadable(monkeypatch):
    """Make a file unreadable: mode 000 and, where that is not enough (root reads anything),
    opening it fails as it would for anyone else."""

    def make(path: Path) -> Path:
        path.chmod(0)
        if os.access(path, os.R_OK):
            real_open = io.open

            def guarded(file, *args, **kwargs):
                if isinstance(file, str | os.PathLike) and Path(file) == path:
                    raise PermissionError(13, "Permission denied", str(path))
                return real_open(file, *args, **kwargs)

            monkeypatch.setattr("builtins.open", guarded)
            monkeypatch.setattr(io, "open", guarded)
        return path

    return make


def _zip_member_flag(body: bytes, member: str, flag: int) -> bytes:
    """``body`` with ``flag`` set in the central-directory entry of ``member``."""
    data = bytearray(body)
    at = data.index(b"PK\x01\x02")
    while data[at + 46 : at + 46 + int.from_bytes(data[at + 28 : at + 30], "little")] != member.encode():
        at = data.index(b"PK\x01\x02", at + 4)
    data[at + 8] |= flag
    return bytes(data)


# --- integrity: ml-latest-small by its files' checksums, and any zip by its directory -------------


def test_ml_latest_small_is_pinned_by_its_files_checksums():
    spec = datasets.DATASETS["ml-latest-small"]
    assert spec.md5 is None  # GroupLens re-packs the zip: no MD5 is stable, none is fetched
    assert dict(spec.sha256) == {
        "ratings.csv": "aa289ca83157595d0df6aea1be6a4ded676ddc4385472e8313a8ed9805352646",
        "movies.csv": "5a5f32dd9bb3797b8e728a1b98958789d2b13f294a69fdfbc5727f8a9611aa07",
        "links.csv": "97ad18e4e56a09363c65676b6cb3482ce3e2cea2372a24620c1599c843325f31",
        "tags.csv": "92a9f8bb7916dceef6151209845788c3643f794dfa79d1feaec7121b5960399d",
    }
    assert set(spec.sha256) <= set(spec.files)
    with pytest.raises(ValueError, match="needs an archive md5 or per-file sha256"):
        dataclasses.replace(spec, sha256=None)


@pytest.mark.parametrize("layout", ["zip", "folder"])
def test_a_local_ml_latest_small_copy_that_is_not_the_canonical_one_is_refused(tmp_path,
                                                                               isolated_env, layout):  # fmt: skip
    # The real spec: the tiny files are not GroupLens', so they must not load as ml-latest-small.
    files = latest_files()
    if layout == "zip":
        (tmp_path / "ml-latest-small.zip").write_bytes(make_zip(files, prefix="ml-latest-small/"))
        where = f"{tmp_path / 'ml-latest-small.zip'}!ml-latest-small/ratings.csv"
    else:
        write_folder(tmp_path / "ml-latest-small", files)
        where = str(tmp_path / "ml-latest-small" / "ratings.csv")

    with pytest.raises(DatasetError) as caught:
        load_movielens("ml-latest-small", data_home=tmp_path, download=False)

    message = str(caught.value)
    assert message.startswith(f"{where} is not the canonical ml-latest-small file")
    assert hashlib.sha256(files["ratings.csv"]).hexdigest() in message  # found
    assert datasets.DATASETS["ml-latest-small"].sha256["ratings.csv"] in message  # expected
    assert "3 other file(s) differ too" in message
    assert "clean copy" in message and "verify=False" in message


@pytest.mark.parametrize("layout", ["zip", "folder"])
def test_ml_latest_small_checks_every_file_even_one_it_does_not_parse(tmp_path, isolated_env,
                                                                     latest_spec, monkeypatch,
                                                                     layout):  # fmt: skip
    def put(home: Path, files: dict[str, bytes]) -> None:
        if layout == "zip":
            home.mkdir()
            (home / "ml-latest-small.zip").write_bytes(make_zip(files, prefix="ml-latest-small/"))
        else:
            write_folder(home / "ml-latest-small", files)

    put(tmp_path / "good", latest_files())
    assert len(load_movielens("ml-latest-small", data_home=tmp_path / "good").ratings) == 2
    files = latest_files()
    files["tags.csv"] = files["tags.csv"].replace(b"fun", b"fan")
    put(tmp_path / "bad", files)
    with pytest.raises(DatasetError, match=r"tags\.csv is not the canonical ml-latest-small file"):
        load_movielens("ml-latest-small", data_home=tmp_path / "bad")
    monkeypatch.setattr(datasets, "_WARNED_MODIFIED", set())
    with pytest.warns(UserWarning, match=r"modified copy of ml-latest-small.*tags\.csv differ"):
        data = load_movielens("ml-latest-small", data_home=tmp_path / "bad", verify=False)
    assert len(data.ratings) == 2


def test_a_downloaded_file_that_differs_is_refused_and_nothing_is_saved(tmp_path, isolated_env,
                                                                       latest_spec, server):  # fmt: skip
    files = latest_files()
    files["links.csv"] = files["links.csv"].replace(b"862", b"863")
    url = server.serve("/ml-latest-small.zip", make_zip(files, prefix="ml-latest-small/"))
    latest_spec(url=url)
    with pytest.raises(DatasetError) as caught:
        load_movielens("ml-latest-small", data_home=tmp_path, progress=False)
    message = str(caught.value)
    assert message.startswith(f"{url}!ml-latest-small/links.csv is not the canonical")
    assert "Nothing was saved" in message and "verify=False" not in message
    assert _listing(tmp_path) == []


def test_a_zip_missing_a_member_is_refused_naming_zip_and_member(tmp_path, isolated_env,
                                                                latest_spec):  # fmt: skip
    files = latest_files()
    del files["movies.csv"]
    path = tmp_path / "ml-latest-small.zip"
    path.write_bytes(make_zip(files, prefix="ml-latest-small/"))
    with pytest.raises(DatasetError) as caught:
        load_movielens("ml-latest-small", data_home=tmp_path, download=False)
    message = str(caught.value)
    assert message.startswith(f"{path} is an incomplete copy of ml-latest-small: missing "
                              "ml-latest-small/movies.csv")  # fmt: skip
    assert f"delete {path}" in message


@pytest.mark.parametrize("damage", ["bad CRC", "encrypted"])
def test_a_corrupt_member_is_refused_naming_zip_and_member(tmp_path, isolated_env, latest_spec,
                                                          damage):  # fmt: skip
    body = make_zip(latest_files(), prefix="ml-latest-small/")  # stored: the bytes are in clear
    if damage == "bad CRC":
        body = body.replace(b"Jumanji", b"Jumanjj")
    else:
        body = _zip_member_flag(body, "ml-latest-small/movies.csv", 0x1)
    path = tmp_path / "ml-latest-small.zip"
    path.write_bytes(body)
    with pytest.raises(DatasetError) as caught:
        load_movielens("ml-latest-small", data_home=tmp_path, download=False)
    message = str(caught.value)
    assert message.startswith(f"{path}!ml-latest-small/movies.csv is corrupt inside the archive")
    assert f"delete {path}" in message


def test_every_data_set_bounds_what_its_archive_may_unpack_to():
    real = {"ml-100k": 16_000_000, "ml-1m": 24_900_000, "ml-latest-small": 3_300_000}
    for name, unpacked in real.items():
        assert 2 * unpacked <= datasets.DATASETS[name].max_bytes <= 12 * unpacked, name


def test_an_archive_that_would_unpack_too_big_is_refused_before_reading(tmp_path, isolated_env,
                                                                       latest_spec, server,
                                                                       monkeypatch):  # fmt: skip
    buffer = io.BytesIO(make_zip(latest_files(), prefix="ml-latest-small/"))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ml-latest-small/README.txt", bytes(1_000_000))
    body = buffer.getvalue()
    assert len(body) < 10_000  # small on the wire, big once unpacked
    latest_spec(max_bytes=100_000, url=server.serve("/ml-latest-small.zip", body))
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "ml-latest-small.zip").write_bytes(body)

    def no_reading(*args, **kwargs):
        raise AssertionError("a member was read before the archive's sizes were checked")

    monkeypatch.setattr(zipfile.ZipFile, "open", no_reading)
    too_big = r"would unpack to [\d,]+ bytes \(ml-latest-small/README\.txt alone to 1,000,000\)"
    with pytest.raises(DatasetError, match=too_big):
        load_movielens("ml-latest-small", data_home=tmp_path / "local", download=False)
    with pytest.raises(DatasetError, match=too_big + ".*Nothing was saved"):
        load_movielens("ml-latest-small", data_home=tmp_path / "home", progress=False)
    assert _listing(tmp_path / "home") == []


def test_an_archive_with_too_many_members_is_refused(tmp_path, isolated_env, latest_spec):
    files = latest_files() | {f"extra/{k}.txt": b"" for k in range(1_001)}
    (tmp_path / "ml-latest-small.zip").write_bytes(make_zip(files, prefix="ml-latest-small/"))
    with pytest.raises(DatasetError, match=r"has 1,005 members, more than the 1,000 accepted"):
        load_movielens("ml-latest-small", data_home=tmp_path, download=False)


def test_a_download_that_does_not_parse_is_not_installed(tmp_path, isolated_env, tiny_spec,
                                                        server):  # fmt: skip
    files = ml100k_files()
    files["u.item"] = b"1|Toy Story (1995)|01-Jan-1995||http://x|0|0\n"
    body = make_zip(files)
    url = server.serve("/ml-100k.zip", body)
    tiny_spec(url, hashlib.md5(body).hexdigest())  # the archive is intact: its content is wrong
    with pytest.raises(DatasetError, match=rf"^{re.escape(url)}!ml-100k/u\.item has 7 fields per "
                                           r"line, expected 9\. Nothing was saved"):  # fmt: skip
        load_movielens(data_home=tmp_path, progress=False)
    assert _listing(tmp_path) == []


def test_a_download_that_is_not_a_zip_is_refused_naming_the_url(tmp_path, isolated_env,
                                                               latest_spec, server):  # fmt: skip
    page = b"<html>Down for maintenance</html>"
    url = server.serve("/ml-latest-small.zip", page)
    server.serve("/ml-latest-small.zip.md5", hashlib.md5(page).hexdigest().encode())
    latest_spec(url=url)
    with pytest.raises(DatasetError, match=rf"^{re.escape(url)} is not a readable zip archive.*"
                                           "Nothing was saved"):  # fmt: skip
        load_movielens("ml-latest-small", data_home=tmp_path, progress=False)
    assert _listing(tmp_path) == []


# --- several processes downloading into one folder ----------------------------------------------


def test_concurrent_downloads_into_one_folder_all_succeed(tmp_path, isolated_env, tiny_spec,
                                                         slow_server):  # fmt: skip
    # The server answers once all three requests have arrived: all three loaders found no copy
    # and are staging theirs when the first one installs it.
    body = make_zip(ml100k_files())
    slow = slow_server(body, together=3)
    tiny_spec(slow.url, hashlib.md5(body).hexdigest())
    results, errors = [], []

    def load():
        try:
            results.append(load_movielens(data_home=tmp_path, progress=False))
        except Exception as exc:  # collected, to fail the test below with it
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and len(results) == 3
    for data in results:
        assert len(data.ratings) == 12 and data.source == str(tmp_path / "ml-100k")
    assert _listing(tmp_path) == sorted(["ml-100k"] + [f"ml-100k/{n}" for n in ml100k_files()])


# --- a slow server: a deadline for the whole download, progress by time -------------------------


def test_a_trickling_server_is_abandoned_at_the_download_deadline(tmp_path, isolated_env,
                                                                 tiny_spec, slow_server,
                                                                 monkeypatch):  # fmt: skip
    body = make_zip(ml100k_files())
    slow = slow_server(body, pieces=40, pause=0.25)  # the whole body in 10 s
    tiny_spec(slow.url, hashlib.md5(body).hexdigest())
    monkeypatch.setenv("RECSYS_DOWNLOAD_TIMEOUT", "1")
    started = time.monotonic()
    with pytest.raises(DatasetError, match=rf"download of {re.escape(slow.url)} did not finish "
                                           r"within 1 s.*RECSYS_DOWNLOAD_TIMEOUT"):  # fmt: skip
        load_movielens(data_home=tmp_path, progress=False)
    assert time.monotonic() - started < 6
    assert _listing(tmp_path) == []


def test_progress_is_shown_by_time_not_by_block(tmp_path, isolated_env, tiny_spec, server,
                                                slow_server, capsys):  # fmt: skip
    # Fast: 2 MB arrive in some thirty blocks within a second: a final line, not one per block.
    body = make_zip(ml100k_files() | {"README": os.urandom(2_000_000)})
    tiny_spec(server.serve("/ml-100k.zip", body), hashlib.md5(body).hexdigest())
    load_movielens(data_home=tmp_path / "fast")
    shown = capsys.readouterr().err
    assert 1 <= shown.count("Downloading ml-100k.zip") <= 3 and "2.0/2.0 MB" in shown
    # Slow: 2.5 s of trickling shows progress while it lasts, not only at the end.
    body = make_zip(ml100k_files())
    slow = slow_server(body, pieces=10, pause=0.25)
    tiny_spec(slow.url, hashlib.md5(body).hexdigest())
    load_movielens(data_home=tmp_path / "slow")
    assert 2 <= capsys.readouterr().err.count("Downloading ml-100k.zip") <= 6


# --- a mirror -------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["RECSYS_DATA_MIRROR", "base_url", "load_dataset", "file://"])
def test_downloads_come_from_a_mirror_when_one_is_set(tmp_path, isolated_env, tiny_spec, server,
                                                      monkeypatch, how):  # fmt: skip
    body = make_zip(ml100k_files())
    tiny_spec(md5=hashlib.md5(body).hexdigest())  # "GroupLens" is a closed port here
    server.serve("/mirror/movielens/ml-100k.zip", body)
    base = server.url + "/mirror/movielens/"
    home = tmp_path / "home"
    if how == "RECSYS_DATA_MIRROR":
        monkeypatch.setenv("RECSYS_DATA_MIRROR", base)
        with pytest.raises(DatasetNotFoundError, match=re.escape(f"Download {base}ml-100k.zip")):
            load_movielens(data_home=home, download=False)
        data = load_movielens(data_home=home, progress=False)
    elif how == "base_url":
        monkeypatch.setenv("RECSYS_DATA_MIRROR", "http://127.0.0.1:9/nowhere/")  # the argument wins
        data = load_movielens(data_home=home, progress=False, base_url=base.rstrip("/"))
    elif how == "load_dataset":
        data = load_dataset("ml-100k", data_home=home, progress=False, base_url=base)
    else:
        (tmp_path / "mirror").mkdir()
        (tmp_path / "mirror" / "ml-100k.zip").write_bytes(body)
        monkeypatch.setenv("RECSYS_DATA_MIRROR", (tmp_path / "mirror").as_uri())
        data = load_movielens(data_home=home, progress=False)
    assert len(data.ratings) == 12 and data.source == str(home / "ml-100k")


def test_a_mirror_cannot_change_the_data(tmp_path, isolated_env, tiny_spec, server, monkeypatch):
    files = ml100k_files()
    tiny_spec(md5=hashlib.md5(make_zip(files)).hexdigest())
    files["u.data"] = files["u.data"].replace(b"\t5\t", b"\t4\t", 1)
    url = server.serve("/m/ml-100k.zip", make_zip(files))
    monkeypatch.setenv("RECSYS_DATA_MIRROR", server.url + "/m")
    with pytest.raises(DatasetError, match=rf"checksum mismatch for {re.escape(url)}"):
        load_movielens(data_home=tmp_path, progress=False)
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("variable, value, message", [
    *(("RECSYS_DOWNLOAD_TIMEOUT", v, "is not a positive number of seconds")
      for v in ["soon", "0", "-5", "nan", "inf"]),
    *(("RECSYS_DATA_MIRROR", v, "is not a base URL")
      for v in ["mirror.example.org/movielens", "ftp://mirror.example.org/"]),
])  # fmt: skip
def test_a_bad_download_setting_is_refused_by_name(tmp_path, isolated_env, tiny_spec, monkeypatch,
                                                   variable, value, message):  # fmt: skip
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=rf"{variable}='{re.escape(value)}' {message}"):
        load_movielens(data_home=tmp_path, progress=False)
    assert _listing(tmp_path) == []


# --- staging folders of killed downloads ---------------------------------------------------------


def test_a_killed_download_leaves_a_staging_folder_that_the_next_run_removes(tmp_path,
                                                                            isolated_env,
                                                                            tiny_spec, server,
                                                                            slow_server):  # fmt: skip
    body = make_zip(ml100k_files())
    slow = slow_server(body, pieces=len(body), pause=0.2)  # would take minutes
    home = tmp_path / "home"
    child = _loader_process(slow.url, home)
    try:
        staged = _wait_for(lambda: list(home.glob(".*")) if home.exists() else [])
    finally:
        child.kill()
        child.wait()
    assert len(staged) == 1 and staged[0].is_dir()  # a killed process cleans nothing up
    assert re.fullmatch(rf"\.ml-100k\.partial-.+-{child.pid}-\w+", staged[0].name)

    tiny_spec(server.serve("/ml-100k.zip", body), hashlib.md5(body).hexdigest())
    assert len(load_movielens(data_home=home, progress=False).ratings) == 12
    assert _listing(home) == sorted(["ml-100k"] + [f"ml-100k/{n}" for n in ml100k_files()])


def test_stale_staging_folders_are_removed_and_live_ones_kept(tmp_path, isolated_env, tiny_spec,
                                                              server):  # fmt: skip
    two_days_ago = time.time() - 2 * 24 * 3600

    def staging(name: str, old: bool = False) -> Path:
        folder = write_folder(tmp_path / name, {"ml-100k.zip": b"partial"})
        if old:
            os.utime(folder, (two_days_ago, two_days_ago))
        return folder

    running_elsewhere = staging(f".ml-100k.partial-otherhost-{os.getpid()}-abc12345")
    stale_elsewhere = staging(".ml-100k.partial-otherhost-1-def67890", old=True)
    stale_legacy = staging(".ml-100k-download-x1y2z3", old=True)
    recent_legacy = staging(".ml-100k-download-a1b2c3")
    other_data_set = staging(".ml-1m.partial-otherhost-1-ghi", old=True)
    readers_own = staging("my-notes", old=True)
    body = make_zip(ml100k_files())
    tiny_spec(server.serve("/ml-100k.zip", body), hashlib.md5(body).hexdigest())

    load_movielens(data_home=tmp_path, progress=False)

    assert not stale_elsewhere.exists() and not stale_legacy.exists()
    for kept in (running_elsewhere, recent_legacy, other_data_set, readers_own):
        assert kept.exists(), kept.name


# --- messages that name the right thing ---------------------------------------------------------


def test_a_truncated_ratings_file_is_named_itself_not_the_folds(tmp_path, isolated_env, tiny_spec):
    files = ml100k_files()
    files["u.data"] = b"".join(files["u.data"].splitlines(keepends=True)[:-1])
    write_folder(tmp_path / "ml-100k", files)
    with pytest.raises(DatasetError) as caught:
        load_movielens(data_home=tmp_path, download=False)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'ml-100k' / 'u.data'} holds 11 ratings")
    assert "u1.base" not in message and "clean copy" in message


@pytest.mark.parametrize("layout", ["folder", "zip"])
def test_an_unreadable_file_of_a_local_copy_is_named(tmp_path, isolated_env, tiny_spec, unreadable,
                                                     layout):  # fmt: skip
    files = ml100k_files()
    if layout == "folder":
        write_folder(tmp_path / "ml-100k", files)
        target = tmp_path / "ml-100k" / "u.item"
    else:
        body = make_zip(files)
        tiny_spec(md5=hashlib.md5(body).hexdigest())
        target = tmp_path / "ml-100k.zip"
        target.write_bytes(body)
    unreadable(target)
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(target))} cannot be read "
                                           r"\(Permission denied\)"):  # fmt: skip
        load_movielens(data_home=tmp_path, download=False)


@pytest.mark.parametrize("kind", ["folder", "unreadable file"])
def test_load_ratings_csv_refuses_a_folder_or_an_unreadable_file(tmp_path, unreadable, kind):
    if kind == "folder":
        path = tmp_path / "mine.csv"
        path.mkdir()
        problem = "is a folder, not a CSV file"
    else:
        path = unreadable(write(tmp_path, GOOD_CSV))
        problem = r"cannot be read \(Permission denied\)"
    with pytest.raises(DatasetError, match=rf"^{re.escape(str(path))} {problem}"):
        load_ratings_csv(path)


def test_a_server_that_does_not_speak_http_is_reported_as_unreachable(tmp_path, isolated_env,
                                                                     tiny_spec):  # fmt: skip
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()

    def answer():
        conn, _ = listener.accept()
        conn.recv(1024)
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        conn.close()

    threading.Thread(target=answer, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/ml-100k.zip"
    tiny_spec(url)
    try:
        with pytest.raises(DatasetNotFoundError, match=rf"Downloading failed: .*\({re.escape(url)}\)"):
            load_movielens(data_home=tmp_path, progress=False)
    finally:
        listener.close()
    assert _listing(tmp_path) == []


@pytest.mark.parametrize("announced", [True, False])
def test_a_download_bigger_than_the_limit_is_refused(tmp_path, isolated_env, tiny_spec, server,
                                                     announced):  # fmt: skip
    body = make_zip(ml100k_files() | {"README": os.urandom(200_000)})
    server.routes["/ml-100k.zip"] = (body, len(body) if announced else "unknown")
    tiny_spec(server.url + "/ml-100k.zip", hashlib.md5(body).hexdigest(), max_bytes=100_000)
    with pytest.raises(DatasetError, match=r"more than (the )?100,000.*nothing was saved"):
        load_movielens(data_home=tmp_path, progress=False)
    assert _listing(tmp_path) == []


def test_a_bogus_content_length_is_ignored(tmp_path, isolated_env, tiny_spec, server):
    body = make_zip(ml100k_files())
    server.routes["/ml-100k.zip"] = (body, "many")  # http.client then reads to the end
    tiny_spec(server.url + "/ml-100k.zip", hashlib.md5(body).hexdigest())
    assert len(load_movielens(data_home=tmp_path, progress=False).ratings) == 12


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE simulates a full disk")
def test_a_full_disk_is_reported_as_such_not_as_a_broken_download(tmp_path, server):
    body = make_zip(ml100k_files())
    assert len(body) > 2_000
    url = server.serve("/ml-100k.zip", body)
    child = _loader_process(url, tmp_path / "home", hashlib.md5(body).hexdigest(),
                            file_size_limit=1_000)  # fmt: skip
    out, _ = child.communicate(timeout=60)
    assert out.startswith(f"DatasetNotFoundError: cannot write a copy into {tmp_path / 'home'}"), out
    assert "broke off" not in out
    assert _listing(tmp_path / "home") == []


def test_find_items_by_title_with_the_most_rated_standing_in(tmp_path):
    # Three films; "B" is the most rated, then "C (1995)", then "A (1995)" and "A (2001)" once.
    path = tmp_path / "films.csv"
    path.write_text("user_id,item_id,rating,title\n"
                    "1,10,4,A (1995)\n2,20,4,B (1977)\n3,20,4,B (1977)\n4,20,5,B (1977)\n"
                    "1,30,3,C (1995)\n2,30,3,C (1995)\n5,40,2,A (2001)\n")  # fmt: skip
    data = load_ratings_csv(path)
    # The most-rated match; case-insensitive regular expressions; ties to the smaller id.
    assert data.find_items(r"^b \(1977\)$", r"\(1995\)", r"^A ") == [20, 30, 10]
    # No match: the most-rated film not chosen otherwise; never one film twice.
    assert data.find_items("Star Wars", r"^C", "Toy Story") == [20, 30, 10]
    assert data.find_items("no match", r"^B") == [30, 20]
    with warnings.catch_warnings():  # a pattern with a group (as the chapters' Star Wars one)
        warnings.simplefilter("error")
        assert data.find_items(r"^B( \(Special Edition\))? \(1977\)") == [20]
    with pytest.raises(ValueError, match="only 4"):
        data.find_items(*"abcde")


# --------------------------------------------------------------------------------------------
# MovieLens.sample_users: the whole histories of random users, within a number of ratings.


def _four_users():
    """Users 1–4 with 3, 2, 4 and 1 ratings; a users table, items 10–14, one fold."""
    ratings = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 3, 3, 3, 3, 4],
                            "item_id": [10, 11, 12, 10, 13, 11, 12, 13, 14, 14],
                            "rating": [5.0, 4, 3, 2, 1, 5, 4, 3, 2, 1],
                            "timestamp": range(10)})  # fmt: skip
    items = pd.DataFrame({"item_id": [10, 11, 12, 13, 14, 15],
                          "title": [f"Film {i}" for i in range(10, 16)]})
    users = pd.DataFrame({"user_id": [1, 2, 3, 4], "age": [20, 30, 40, 50]})
    fold = Fold(ratings.iloc[::2].reset_index(drop=True), ratings.iloc[1::2].reset_index(drop=True))
    return MovieLens(name="four", ratings=ratings, items=items, users=users, genres=[],
                     source="inline", folds={"u1": fold})


def test_sample_users_by_hand():
    data = _four_users()
    # Seed 0 orders the users (positions) as below; whole histories are taken while they fit.
    order = np.random.default_rng(0).permutation(4)
    counts = [3, 2, 4, 1]
    kept, total = [], 0
    for position in order:
        if total + counts[position] <= 5:
            kept.append(position + 1)
            total += counts[position]
    sample = data.sample_users(5, seed=0)
    assert sorted(sample.ratings.user_id.unique()) == sorted(kept)
    assert len(sample.ratings) == total <= 5
    # A user is kept with every rating or not at all, in the original order.
    for user in kept:
        pd.testing.assert_frame_equal(sample.ratings[sample.ratings.user_id == user].reset_index(drop=True),
                                      data.ratings[data.ratings.user_id == user].reset_index(drop=True))
    # No user left out would still fit.
    assert all(total + counts[u - 1] > 5 for u in {1, 2, 3, 4} - set(kept))
    assert set(sample.users.user_id) == set(kept)
    assert set(sample.items.item_id) == set(sample.ratings.item_id)  # film 15 (no ratings) goes
    fold = sample.folds["u1"]
    assert set(fold.train.user_id) | set(fold.test.user_id) <= set(kept)
    assert len(fold.train) + len(fold.test) == len(sample.ratings)


def test_sample_users_is_drawn_with_its_seed_and_leaves_fitting_data_alone():
    data = _four_users()
    assert data.sample_users(10) is data
    draws = {tuple(sorted(data.sample_users(4, seed=seed).ratings.user_id.unique()))
             for seed in range(20)}
    assert len(draws) > 1  # different seeds draw different users
    pd.testing.assert_frame_equal(data.sample_users(4, seed=3).ratings, data.sample_users(4, seed=3).ratings)


@pytest.mark.parametrize("bad", [0, -5, 2.5, 1e5, None, True])
def test_sample_users_refuses_a_bad_cap(bad):
    with pytest.raises(ValueError, match="max_ratings must be a positive integer"):
        _four_users().sample_users(bad)


def test_sample_users_takes_a_numpy_integer():
    assert len(_four_users().sample_users(np.int64(5), seed=0).ratings) <= 5


def test_most_rated_items_by_hand():
    data = _four_users()  # films 10-14 rated 2, 2, 2, 2 and 2 times; 15 never
    data.ratings = pd.concat([data.ratings, data.ratings.iloc[[4]].assign(user_id=4)],
                             ignore_index=True)  # user 4 also rates film 13: 3 ratings
    kept = data.most_rated_items(2)
    assert set(kept.ratings.item_id) == {13, 10}  # the most-rated, then the smaller id of a tie
    pd.testing.assert_frame_equal(kept.ratings, data.ratings[data.ratings.item_id.isin([10, 13])]
                                  .reset_index(drop=True))
    assert set(kept.items.item_id) == {10, 13}
    assert set(kept.users.user_id) == set(kept.ratings.user_id) == {1, 2, 3, 4}
    fold = kept.folds["u1"]
    assert set(fold.train.item_id) | set(fold.test.item_id) <= {10, 13}
    assert data.most_rated_items(5) is data
    only_13 = data.most_rated_items(1)  # user 1 rated no film 13: gone from ratings and users
    assert set(only_13.users.user_id) == set(only_13.ratings.user_id) == {2, 3, 4}
    with pytest.raises(ValueError, match="max_items must be a positive integer"):
        data.most_rated_items(0)


def test_sample_users_says_when_no_user_fits():
    data = _four_users()
    data.ratings = data.ratings[data.ratings.user_id.isin([1, 3])]  # 3 and 4 ratings
    with pytest.raises(ValueError, match="smaller than every user's history"):
        data.sample_users(2)
