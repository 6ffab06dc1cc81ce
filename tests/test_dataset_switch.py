"""The chapters' data switch, end to end: every chapter re-run on data other than ML-100K.

Each chapter's parameters cell reads ``RECSYS_DATASET``; here it points, in turn, at four small
synthetic data sets in the formats readers switch to, and whole chapters are executed on each
(in a temporary copy, so the stored notebooks are untouched; one test class per data set):

* a reader's own ratings CSV: half-star ratings, item ids in the hundreds of thousands and string
  user ids that no MovieLens id equals, titles that name no MovieLens film, no demographics;
* a folder in ML-1M's layout (``::``-separated ``.dat`` files, latin-1 titles, ``users.dat``
  with ML-1M's age and occupation codes, whole stars, item ids up to 3,952, so that some equal
  ML-100K ids of other films);
* a folder in ml-latest-small's layout (CSV files with headers, half stars, item ids up to
  ~190,000, ``(no genres listed)``, no demographics);
* a class's CSV with only the required columns (no timestamps, no titles, ratings 1-10): the
  cells that need an order are skipped (``book.skip_without``), with one printed line.

A chapter that looks up a film or a user by an ML-100K id or title, assumes a 1-5 scale, a
users table or timestamps, stops here or prints a film that is not the data's. The chapters that
bound their data on large sets get caps below the test data's size, ``MAX_RATINGS`` in ML-1M's
layout and ``MAX_ITEMS`` in ml-latest-small's, so that they run on a sample and print that they
do.

The solutions notebooks are not switched: they state the outcomes of the stored edition, so
their parameters cell fixes ``DATASET = "ml-100k"``.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest
from conftest import release_files, write_folder

from recsys_helpers.book import NOTEBOOKS, chapters, execute
from recsys_helpers.datasets import DATASET_VAR
from recsys_helpers.synthetic import make_ratings

CHAPTERS = [path.stem for path in chapters()]


@pytest.fixture(scope="module")
def own_csv(tmp_path_factory) -> Path:
    """150 users, 400 films, 6,000 ratings on a half-star scale, with timestamps and titles."""
    ratings = make_ratings(n_users=150, n_items=400, n_ratings=6000, seed=7).ratings
    rng = np.random.default_rng(0)
    ratings = ratings.assign(
        rating=ratings.rating - 0.5 * (rng.random(len(ratings)) < 0.4),  # 0.5 ... 5.0
        item_id=ratings.item_id * 1571 + 3,  # no ML-100K item id (1 ... 1682) is among them
        user_id="reader-" + (ratings.user_id + 10_000).astype(str),
    )
    ratings["title"] = [f"Film {i} ({1950 + i % 60})" for i in ratings.item_id]
    path = tmp_path_factory.mktemp("own") / "my_ratings.csv"
    ratings.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def bare_csv(tmp_path_factory) -> Path:
    """A class's own CSV with only the required columns: no timestamps, no titles, whole
    ratings on a 1-10 scale, integer ids."""
    ratings = make_ratings(n_users=150, n_items=400, n_ratings=6000, seed=5).ratings
    rng = np.random.default_rng(5)
    ratings["rating"] = 2 * ratings.rating - (rng.random(len(ratings)) < 0.5)  # 1 ... 10
    path = tmp_path_factory.mktemp("bare") / "class_ratings.csv"
    ratings[["user_id", "item_id", "rating"]].to_csv(path, index=False)
    return path


ML1M_GENRES = ["Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
               "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
               "Romance", "Sci-Fi", "Thriller", "War", "Western"]  # fmt: skip


def _release_tables(ids: np.ndarray, seed: int, half_stars: bool) -> tuple:
    """Ratings and films for a release-format folder: ``ids`` replace the synthetic item ids;
    titles in MovieLens' style, accented, some with commas, none a MovieLens film's."""
    ratings = make_ratings(n_users=150, n_items=400, n_ratings=6000, seed=seed).ratings
    rng = np.random.default_rng(seed)
    if half_stars:
        ratings["rating"] = ratings.rating - 0.5 * (rng.random(len(ratings)) < 0.4)
    ratings["item_id"] = ids[ratings.item_id.to_numpy() - 1]
    films = np.unique(ratings.item_id)
    kinds = ["Étude", "Crónica", "Nocturne, Part", "Résumé"]
    items = pd.DataFrame({
        "item_id": films,
        "title": [f"{kinds[k % 4]} {k} ({1930 + k % 70})" for k in range(len(films))],
        "genres": ["|".join(rng.choice(ML1M_GENRES, size=1 + k % 3, replace=False))
                   for k in range(len(films))],
    })  # fmt: skip
    return ratings, items


@pytest.fixture(scope="module")
def ml1m_folder(tmp_path_factory) -> Path:
    """ML-1M's layout: '::'-separated .dat files, latin-1 titles, demographics in users.dat, whole
    stars, its own item ids (1 ... 3952, so some equal ML-100K ids of other films)."""
    ids = np.random.default_rng(1).choice(np.arange(1, 3953), size=400, replace=False)
    ratings, items = _release_tables(ids, seed=11, half_stars=False)
    users = pd.DataFrame({"user_id": np.arange(1, 151)})
    users["gender"] = np.where(users.user_id % 3 == 0, "F", "M")
    users["age"] = np.array([1, 18, 25, 35, 45, 50, 56])[users.user_id % 7]  # ML-1M's age codes
    users["occupation"] = users.user_id % 21
    users["zip_code"] = [f"{(u * 7919) % 100_000:05d}" for u in users.user_id]
    return write_folder(tmp_path_factory.mktemp("ml1m") / "ml-1m-sample",
                        release_files(ratings, items, users, layout="ml-1m"))  # fmt: skip


@pytest.fixture(scope="module")
def latest_folder(tmp_path_factory) -> Path:
    """ml-latest-small's layout: CSV files with headers, half stars, item ids up to ~190,000,
    '(no genres listed)', no demographics."""
    ids = np.sort(np.random.default_rng(2).choice(np.arange(1, 193_610), size=400, replace=False))
    ratings, items = _release_tables(ids, seed=12, half_stars=True)
    items.loc[items.index[::50], "genres"] = "(no genres listed)"
    return write_folder(tmp_path_factory.mktemp("latest") / "ml-latest-sample",
                        release_files(ratings, items, layout="ml-latest"))  # fmt: skip


def outputs_text(path: Path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    return "\n".join(str(output.get("text", output.get("data", {}).get("text/plain", "")))
                     for cell in cells if cell.cell_type == "code" for output in cell.outputs)  # fmt: skip


def test_every_chapter_is_switched():
    # The list is discovered (book.chapters), so a new chapter is switched without editing this.
    on_disk = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert CHAPTERS == on_disk and len(CHAPTERS) >= 11


#: The data sets a chapter is switched to: the fixture that writes it, and its films' titles.
FORMATS = {"csv": ("own_csv", "Film "), "ml-1m layout": ("ml1m_folder", "Étude"),
           "ml-latest layout": ("latest_folder", "Étude"),
           "csv without timestamp or title": ("bare_csv", None)}  # fmt: skip


#: Parameters the switched runs lower, by chapter: sweeps that cost minutes whatever the data
#: (chapters 10 and 12 time synthetic data sets that do not depend on RECSYS_DATASET; chapter
#: 11's sweeps train on the data, and two epochs exercise them as well as five). The code that
#: runs is the chapter's own; only its parameters cell gets these values after its own.
LOWERED = {
    "10_challenges_faq": {"SCALE_SIZES": "[100_000, 200_000, 400_000]"},
    "11_large_models": {"SWEEP_EPOCHS": "2"},
    "12_beyond_one_machine": {"SCALE_SIZES": "[25_000, 50_000, 100_000]"},
}


#: The chapters that bound their data on larger sets (``book.cap_ratings``: ``MAX_RATINGS``, the
#: whole histories of random users; ``MAX_ITEMS``, the most-rated films). Every test data set is
#: far below the caps, so in ML-1M's layout (the large release the ratings cap is for) the ratings
#: cap is lowered to two thirds of the 6,000 ratings, and in ml-latest-small's (a catalogue larger
#: than ML-1M's) the films cap to 300: those chapters then run on a sample, and must say so.
CAPPED = {"03_user_based_cf", "04_item_based_cf", "05_latent_factors", "07_cnn_recommender",
          "08_rnn_recommender", "09_evaluation", "10_challenges_faq", "11_large_models",
          "12_beyond_one_machine"}  # fmt: skip
LOWERED_CAPS = {  # data format: the parameters lowered, and the line the chapter must print
    "ml-1m layout": ({"MAX_RATINGS": "4_000"}, re.compile(
        r"This chapter uses [\d,]+ of the data set's 6,000 ratings: the whole histories of \d+ of "
        r"its 150 users, drawn at random, to bound its run time \(MAX_RATINGS = 4,000, ")),
    "ml-latest layout": ({"MAX_ITEMS": "300"}, re.compile(
        r"This chapter uses [\d,]+ of the data set's 6,000 ratings: the ratings of its 300 "
        r"most-rated of \d+ films( \(\d+ of its 150 users rated any of them\))?, to bound its run "
        r"time \(MAX_RATINGS = [\d,]+, MAX_ITEMS = 300;")),
}


def set_parameters(path: Path, values: dict[str, str]) -> None:
    """Append ``NAME = value`` lines to the notebook's parameters cell (the cell tagged
    ``parameters``), as papermill would; each name must be one the cell already sets."""
    notebook = nbformat.read(path, as_version=4)
    (cell,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    for name, value in values.items():
        assert re.search(rf"^{name} = ", cell.source, re.MULTILINE), f"{path.stem} sets no {name}"
        cell.source += f"\n{name} = {value}  # lowered by the data-switch test"
    nbformat.write(notebook, path)


#: The chapters with work that needs timestamps (the sequence chapters, chapter 09's protocols
#: and next-item board, chapter 01's ratings over time): on a CSV without them it is skipped.
NEED_TIMESTAMPS = {"01_concepts", "07_cnn_recommender", "08_rnn_recommender", "09_evaluation",
                   "11_large_models"}  # fmt: skip
SKIPPED = ("This data set has no timestamps: the cells that need them (marked '# Needs "
           "timestamps.') are skipped.")


def run_switched(data_format, chapter, request, tmp_path, monkeypatch):
    """Run ``chapter`` on the data set of ``data_format`` and check what it printed."""
    fixture, a_title = FORMATS[data_format]
    copy = tmp_path / f"{chapter}.ipynb"
    shutil.copy(NOTEBOOKS / f"{chapter}.ipynb", copy)
    capped = data_format in LOWERED_CAPS and chapter in CAPPED
    lowered_cap, cap_line = LOWERED_CAPS.get(data_format, ({}, None))
    set_parameters(copy, LOWERED.get(chapter, {}) | (lowered_cap if capped else {}))
    monkeypatch.setenv(DATASET_VAR, str(request.getfixturevalue(fixture)))
    execute(copy, timeout=900)  # raises if any cell fails
    text = outputs_text(copy)
    assert "ml-100k" not in text.lower()
    for title in ("Star Wars", "Toy Story", "Godfather", "Silence of the Lambs"):
        assert title not in text  # every film shown is one of the data's
    if chapter == "01_concepts":
        skipped = "has no demographics (no users table): this section is skipped" in text
        assert skipped == (data_format != "ml-1m layout")  # only ML-1M's layout has users.dat
    elif chapter == "02_similarity":
        assert f"{150 * 149 // 2:,} user pairs" in text  # computed on the data's 150 users
    elif chapter == "04_item_based_cf" and a_title is not None:
        assert a_title in text  # the films discussed are chosen from the data
    elif chapter == "07_cnn_recommender" and data_format != "csv without timestamp or title":
        assert "(one per user)" in text and "Caser" in text
    elif chapter == "10_challenges_faq":  # the explanations are for one of the data's users
        user = "User reader-" if data_format == "csv" else "User "
        assert user in text and "ItemKNN predicts" in text
    assert "This chapter uses" not in text or capped
    if capped:
        assert cap_line.search(text), text[:2000]
    no_timestamps = data_format == "csv without timestamp or title"
    assert (SKIPPED in text) == (no_timestamps and chapter in NEED_TIMESTAMPS)


# One class per data set, so that pytest-xdist (--dist loadscope) can give each to a different
# worker; within a class the chapters run in order.
class _SwitchedChapters:
    data_format = ""

    @pytest.mark.parametrize("chapter", CHAPTERS)
    def test_a_chapter_runs_on_other_data(self, chapter, request, tmp_path, monkeypatch):
        run_switched(self.data_format, chapter, request, tmp_path, monkeypatch)


class TestOwnCSV(_SwitchedChapters):
    data_format = "csv"


class TestML1MLayout(_SwitchedChapters):
    data_format = "ml-1m layout"


class TestMLLatestLayout(_SwitchedChapters):
    data_format = "ml-latest layout"


class TestCSVWithoutTimestampOrTitle(_SwitchedChapters):
    data_format = "csv without timestamp or title"


def test_every_format_has_its_class():
    classes = [TestOwnCSV, TestML1MLayout, TestMLLatestLayout, TestCSVWithoutTimestampOrTitle]
    assert sorted(c.data_format for c in classes) == sorted(FORMATS)


def test_the_capped_chapters_are_those_that_set_a_cap():
    caps = {}  # chapter: the caps its parameters cell sets
    for path in chapters():
        (cell,) = [c for c in nbformat.read(path, as_version=4).cells
                   if "parameters" in c.metadata.get("tags", [])]  # fmt: skip
        caps[path.stem] = set(re.findall(r"^(MAX_RATINGS|MAX_ITEMS) = ", cell.source, re.M))
    assert {chapter for chapter, names in caps.items() if names} == CAPPED
    assert all(caps[chapter] == {"MAX_RATINGS", "MAX_ITEMS"} for chapter in CAPPED)


def test_lowered_parameters_are_the_chapters_own(tmp_path):
    every_cap = {name: value for caps, _ in LOWERED_CAPS.values() for name, value in caps.items()}
    lowered = LOWERED | {chapter: LOWERED.get(chapter, {}) | every_cap for chapter in CAPPED}
    for chapter, values in lowered.items():
        copy = tmp_path / f"{chapter}.ipynb"
        shutil.copy(NOTEBOOKS / f"{chapter}.ipynb", copy)
        set_parameters(copy, values)
        cell = next(c for c in nbformat.read(copy, as_version=4).cells
                    if "parameters" in c.metadata.get("tags", []))  # fmt: skip
        namespace = {"os": __import__("os")}
        exec(cell.source, namespace)  # the cell runs, and its last assignment wins
        assert {name: namespace[name] for name in values} == {
            name: eval(value) for name, value in values.items()}
    with pytest.raises(AssertionError, match="sets no"):
        set_parameters(copy, {"NOT_A_PARAMETER": "1"})


def test_a_malformed_csv_stops_the_chapter_with_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,stars\n1,2,3\n")
    copy = tmp_path / "02_similarity.ipynb"
    shutil.copy(NOTEBOOKS / "02_similarity.ipynb", copy)
    monkeypatch.setenv(DATASET_VAR, str(bad))
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match=r"missing column\(s\)"):
        execute(copy, timeout=600)


# --- No film by an ML-100K id or title in the chapters' code -----------------------------------

#: Lookups of an item by a literal id or title. A chapter finds its films with
#: ``MovieLens.find_items`` (a title pattern, with the data's most-rated films standing in).
LITERAL_LOOKUP = re.compile(
    r"""(items_?\.index|\.titles)\(\[\d+"""  # items_.index([50]), data.titles([50])
    r"""|titles(\.loc)?\[\d+\]"""  # titles[50], titles.loc[50]
    r"""|\.isin\(\[\d{2,}"""  # ratings.item_id.isin([50, 1])
    r"""|(item|user)_id\s*==\s*\d+"""  # ratings.item_id == 50, ratings.user_id == 196
    r"""|\.(recommend|explain)\(\[?\d+"""  # model.recommend([196])
    r"""|for\s+\w+\s+in\s+\[\d+(,\s*\d+)+\]\s*:\s*#.*\(?[A-Z][a-z]+"""  # for i in [50, 1]:  # Star Wars
    r"""|["'][^"'\n]+ \((19|20)\d\d\)["']""",  # "Star Wars (1977)"
)

#: Documented exceptions: (chapter, the start of the line).
ALLOWED = {
    # The toy ratings table's own ids (items 1-5), not MovieLens ids.
    ("04_item_based_cf", "position = model.items_.index([5, 1, 2, 3, 4])"),
    # The neighbours the text names, checked only on the stored edition (ON_BOOK_DATA).
    ("08_rnn_recommender", 'named = neighbours[neighbours["neighbour id"].isin([127'),
}


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_no_chapter_looks_up_a_film_by_a_literal_movielens_id_or_title(chapter):
    cells = json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text())["cells"]
    found = []
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        for line in "".join(cell["source"]).splitlines():
            code = line.strip()
            if LITERAL_LOOKUP.search(code) and not any(
                    chapter == name and code.startswith(start) for name, start in ALLOWED):  # fmt: skip
                found.append(code)
    assert not found, f"{chapter} looks up films by literal ids or titles: {found}"


def test_the_scan_finds_what_it_is_for():
    for line in ['for item_id in [50, 1, 127]:  # Star Wars, Toy Story, The Godfather',
                 "star = ease.items_.index([50])[0]", 'famous = {"Star Wars (1977)": 50}',
                 "print(titles[50])", "r = ratings[ratings.item_id == 50]",
                 "model.recommend([196], k=10)", "history = ratings[ratings.user_id == 196]",
                 "ratings[ratings.item_id.isin([50, 1])]", "titles.loc[50]"]:  # fmt: skip
        assert LITERAL_LOOKUP.search(line), line
    for line in ["for k in [10, 25, 50]:", 'films = data.find_items(r"^Star Wars \\(1977\\)")']:
        assert not LITERAL_LOOKUP.search(line), line


# --- Readings of the data are checked on any data, not only on the stored edition -------------

#: Asserts that stay inside ``if ON_BOOK_DATA:`` blocks, and why: they compare with numbers
#: published for ML-100K, or look at films only it has. Every other reading of the data a chapter
#: checks goes through ``book.check_reading``, which prints a line on other data where the text's
#: reading does not hold.
BOOK_DATA_ONLY = {
    ("01_concepts", "assert len(movies) == n_items == 1_682"),  # ML-100K's movie 267 ("unknown")
    ("01_concepts", "assert ratings.item_id.isin(unknown).sum() == 9"),
    ("04_item_based_cf", "assert (reference_gap.filter("),  # Surprise's numbers on ML-100K's folds
    ("04_item_based_cf", "assert abs(np.mean(surprise_like) - surprise_reference"),
    ("05_latent_factors", "assert (topn_table.loc[\"EASE\", bivae.index]"),  # published tables
    ("05_latent_factors", "assert abs(topn_table.loc[\"ImplicitALS\", \"NDCG@10\"] - bivae"),
    ("05_latent_factors", "assert topn_table.loc[\"ImplicitALS\", \"NDCG@10\"] > published"),
    ("06_deep_learning_basics", "assert ncf >= 0.40"),  # Microsoft Recommenders' NCF figure
    ("08_rnn_recommender", "assert len(named) == 5"),  # the named films, by their ML-100K ids
    ("08_rnn_recommender", "assert (named[\"consecutive for users\"]"),
    ("08_rnn_recommender", "assert (2 * named[\"of them same second\"]"),
}


def book_data_only_asserts(chapter: str) -> list[str]:
    """The assert lines inside ``if ON_BOOK_DATA:`` blocks of a chapter's code."""
    found = []
    for cell in json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text())["cells"]:
        if cell["cell_type"] != "code":
            continue
        lines = "".join(cell["source"]).splitlines()
        for n, line in enumerate(lines):
            if not re.match(r"\s*if ON_BOOK_DATA\b", line):
                continue
            indent = len(line) - len(line.lstrip())
            for inner in lines[n + 1:]:
                if inner.strip() and len(inner) - len(inner.lstrip()) <= indent:
                    break
                if inner.strip().startswith("assert"):
                    found.append(inner.strip())
    return found


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_readings_of_the_data_are_checked_on_any_data(chapter):
    unlisted = [line for line in book_data_only_asserts(chapter)
                if not any(chapter == name and line.startswith(start)
                           for name, start in BOOK_DATA_ONLY)]  # fmt: skip
    assert not unlisted, (f"{chapter} checks readings only on ML-100K; use book.check_reading "
                          f"(or list a published-number check in BOOK_DATA_ONLY): {unlisted}")

