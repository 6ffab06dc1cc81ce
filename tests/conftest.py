"""Fixtures shared by the tests: tiny data sets in MovieLens' own formats, and a local server."""

from __future__ import annotations

import http.server
import io
import os
import sys
import threading
import zipfile
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

matplotlib.use("Agg")

# The kernels nbval starts inherit this environment: no live progress line in the outputs it
# compares (recsys_helpers.progress), also when pytest is run from a notebook's own kernel.
os.environ["RECSYS_PROGRESS"] = "off"
os.environ.pop("JPY_SESSION_NAME", None)

GENRES = ["unknown", "Action", "Comedy", "Drama"]


def tiny_ratings() -> pd.DataFrame:
    """12 ratings from 4 users on 5 items, small enough to check by hand."""
    rows = [
        (1, 1, 5, 881250949), (1, 2, 3, 881250950), (1, 3, 4, 881250951),
        (2, 1, 4, 891717742), (2, 3, 1, 891717743), (2, 4, 2, 891717744),
        (3, 2, 5, 878887116), (3, 4, 4, 878887117), (3, 5, 3, 878887118),
        (4, 1, 2, 880606923), (4, 5, 5, 880606924), (4, 3, 3, 880606925),
    ]  # fmt: skip
    return pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])


def _tsv(frame: pd.DataFrame) -> str:
    return "".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in frame.itertuples(index=False))


def ml100k_files() -> dict[str, bytes]:
    """The files of an ML-100K-shaped data set, built from :func:`tiny_ratings`."""
    ratings = tiny_ratings()
    date = "01-Jan-1995"
    items = [
        f"1|Toy Story (1995)|{date}||http://x|0|0|1|0",
        f"2|GoldenEye (1995)|{date}||http://x|0|1|0|0",
        f"3|Misérables, Les (1995)|{date}||http://x|0|0|0|1",
        "4|unknown||||1|0|0|0",
        f"5|Heat (1995)|{date}||http://x|0|1|0|1",
    ]
    users = ["1|24|M|technician|85711", "2|53|F|other|94043", "3|23|M|writer|32067",
             "4|24|M|technician|43537"]  # fmt: skip
    files = {
        "u.data": _tsv(ratings).encode(),
        "u.item": ("\n".join(items) + "\n").encode("latin-1"),
        "u.user": ("\n".join(users) + "\n").encode(),
        "u.genre": ("".join(f"{g}|{k}\n" for k, g in enumerate(GENRES)) + "\n").encode(),
    }
    for k, fold in enumerate(["u1", "u2", "u3", "u4", "u5", "ua", "ub"]):
        test = ratings.iloc[[k % 12, (k + 5) % 12]]
        files[f"{fold}.base"] = _tsv(ratings.drop(test.index)).encode()
        files[f"{fold}.test"] = _tsv(test).encode()
    return files


def write_folder(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


def release_files(ratings: pd.DataFrame, items: pd.DataFrame, users: pd.DataFrame | None = None,
                  layout: str = "ml-1m") -> dict[str, bytes]:
    """The files of a MovieLens release in its exact format, from tidy tables.

    ``layout="ml-1m"``: ``ratings.dat``, ``movies.dat`` (latin-1) and ``users.dat`` (``users``:
    ``user_id, gender, age, occupation`` as ML-1M's code, ``zip_code``), ``::``-separated, no
    header. ``layout="ml-latest"``: ``ratings.csv`` and ``movies.csv`` with ml-latest-small's
    headers, ratings written as ``4.0``/``3.5``, titles quoted where they hold a comma.
    ``items`` has ``item_id, title, genres`` (genres joined by ``|``).
    """
    if layout == "ml-1m":
        if (ratings.rating % 1 != 0).any():  # astype(int) would turn 3.5 into 3 silently
            raise ValueError("ML-1M's layout has whole-star ratings only")
        rows = ratings[["user_id", "item_id", "rating", "timestamp"]].astype(int)
        files = {
            "ratings.dat": "".join(f"{u}::{i}::{r}::{t}\n" for u, i, r, t in rows.itertuples(
                index=False)).encode(),
            "movies.dat": "".join(f"{i}::{title}::{g}\n" for i, title, g in items[
                ["item_id", "title", "genres"]].itertuples(index=False)).encode("latin-1"),
        }  # fmt: skip
        if users is not None:
            files["users.dat"] = "".join("::".join(map(str, row)) + "\n" for row in users[
                ["user_id", "gender", "age", "occupation", "zip_code"]].itertuples(index=False)
            ).encode()  # fmt: skip
        return files
    if layout == "ml-latest":
        frame = ratings.rename(columns={"user_id": "userId", "item_id": "movieId"})
        frame = frame[["userId", "movieId", "rating", "timestamp"]].astype({"rating": float})
        movies = items.rename(columns={"item_id": "movieId"})[["movieId", "title", "genres"]]
        return {"ratings.csv": frame.to_csv(index=False, float_format="%.1f").encode(),
                "movies.csv": movies.to_csv(index=False).encode()}  # fmt: skip
    raise ValueError(f"unknown layout {layout!r}")


def make_zip(files: dict[str, bytes], prefix: str = "ml-100k/") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(prefix + name, content)
    return buffer.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict[str, tuple[bytes, int]] = {}

    def do_GET(self):  # the name http.server calls
        if self.path not in self.routes:
            self.send_error(404)
            return
        body, announced = self.routes[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/zip")
        self.send_header("Content-Length", str(announced))
        self.end_headers()
        self.wfile.write(body)  # fewer bytes than announced simulates a broken download
        self.close_connection = True

    def log_message(self, *args):  # keep test output quiet
        pass


class LocalServer:
    """An HTTP server on 127.0.0.1 serving in-memory files; ``serve`` adds one."""

    def __init__(self):
        handler = type("Handler", (_Handler,), {"routes": {}})
        self.routes = handler.routes
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, announced: int | None = None) -> str:
        self.routes[path] = (body, len(body) if announced is None else announced)
        return self.url + path

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="session", autouse=True)
def _stop_spark_at_the_end():
    """Tests that fit a Spark model share one local session (recsys_helpers.spark starts it on
    first use); at the end of the run it is stopped, with its Java process, by that process's
    PID. Nothing is started here when no test used Spark."""
    yield
    if "pyspark" in sys.modules:
        from pyspark.sql import SparkSession

        from recsys_helpers.spark import stop_session

        active = SparkSession.getActiveSession()
        if active is not None:
            stop_session(active)


@pytest.fixture
def server():
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def isolated_env(monkeypatch, tmp_path):
    """No RECSYS_DATA_HOME and an empty default folder, so only what a test sets is found."""
    monkeypatch.delenv("RECSYS_DATA_HOME", raising=False)
    default = tmp_path / "default-home"
    monkeypatch.setattr("recsys_helpers.datasets.default_data_home", lambda: default)
    return default
