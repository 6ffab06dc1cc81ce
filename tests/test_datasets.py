"""The loader: finding copies, parsing every format, downloading safely, failing clearly."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import socket
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_zip, ml100k_files, tiny_ratings, write_folder

from recsys_helpers import datasets
from recsys_helpers.datasets import (
    DATASET_VAR,
    DatasetError,
    DatasetNotFoundError,
    find_dataset,
    load_dataset,
    load_movielens,
    load_ratings_csv,
)

TINY_COUNTS = (12, 4, 5)


def _listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.fixture
def tiny_spec(monkeypatch):
    """Make "ml-100k" expect the tiny data set's counts; returns a function to point it at a URL."""

    def point(url: str = "http://127.0.0.1:9/ml-100k.zip", md5: str | None = None,
              sha256: dict[str, str] | None = None):  # fmt: skip
        spec = dataclasses.replace(
            datasets.DATASETS["ml-100k"], url=url, md5=md5 or "0" * 32, counts=TINY_COUNTS,
            sha256=sha256,
        )
        monkeypatch.setitem(datasets.DATASETS, "ml-100k", spec)
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


def test_md5_is_fetched_beside_the_archive_when_not_pinned(tmp_path, isolated_env, server,
                                                           monkeypatch):  # fmt: skip
    ratings = "userId,movieId,rating,timestamp\n1,1,4.5,964982703\n1,2,3.0,964981247\n"
    movies = 'movieId,title,genres\n1,"Toy Story (1995)",Adventure|Comedy\n2,Jumanji (1995),' \
             "(no genres listed)\n"  # fmt: skip
    body = make_zip({"ratings.csv": ratings.encode(), "movies.csv": movies.encode()},
                    prefix="ml-latest-small/")  # fmt: skip
    url = server.serve("/ml-latest-small.zip", body)
    server.serve("/ml-latest-small.zip.md5", f"{hashlib.md5(body).hexdigest()}  x.zip\n".encode())
    spec = dataclasses.replace(datasets.DATASETS["ml-latest-small"], url=url)
    monkeypatch.setitem(datasets.DATASETS, "ml-latest-small", spec)

    data = load_movielens("ml-latest-small", data_home=tmp_path, progress=False)

    assert data.ratings["rating"].tolist() == [4.5, 3.0]
    assert data.users is None and data.folds == {}
    assert data.items["genres"].tolist() == ["Adventure|Comedy", ""]
    assert data.items["year"].tolist() == [1995, 1995]
    assert data.genres == ["Adventure", "Comedy"]


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


@pytest.mark.parametrize("text, message", [
    ("user,item_id,rating\n1,2,3\n", r"missing column\(s\) \['user_id'\]"),
    ("user_id,item_id,rating\n", "no ratings"),
    ("user_id,item_id,rating\n1,2,\n", "missing or infinite"),
    ("user_id,item_id,rating\n1,2,good\n", "must be numeric"),
    ("user_id,item_id,rating\n1,2,3\n1,2,4\n", "duplicate"),
    ("user_id,item_id,rating,timestamp\n1,2,3,yesterday\n", "timestamp must hold integers"),
    ("", "not a readable CSV"),
])  # fmt: skip
def test_load_ratings_csv_names_the_file_and_the_problem(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(DatasetError, match=message) as caught:
        load_ratings_csv(path)
    assert str(path) in str(caught.value)


def test_load_dataset_switch(tmp_path, monkeypatch):
    path = write(tmp_path, GOOD_CSV)
    monkeypatch.setenv(DATASET_VAR, str(path))
    assert load_dataset().source == str(path)
    assert load_dataset(str(path)).ratings.shape == (3, 4)
    with pytest.raises(ValueError, match="unknown data set 'ml-10'"):
        load_dataset("ml-10")
    with pytest.raises(DatasetNotFoundError, match="no such file"):
        load_dataset(str(tmp_path / "absent.csv"))
