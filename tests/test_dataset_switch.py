"""The chapters' data switch, end to end: chapters re-run on a reader's own ratings CSV.

Each chapter's parameters cell reads ``RECSYS_DATASET``; here it points at a small synthetic CSV
with the columns the book uses, and whole chapters are executed on it (in a temporary copy, so
the stored notebooks are untouched).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

from recsys_helpers.book import NOTEBOOKS, execute
from recsys_helpers.datasets import DATASET_VAR
from recsys_helpers.synthetic import make_ratings


@pytest.fixture(scope="module")
def own_csv(tmp_path_factory) -> Path:
    world = make_ratings(n_users=150, n_items=120, n_ratings=4000, seed=7)
    ratings = world.ratings.assign(user_id=lambda r: "reader-" + r.user_id.astype(str))
    path = tmp_path_factory.mktemp("own") / "my_ratings.csv"
    ratings.to_csv(path, index=False)
    return path


def outputs_text(path: Path) -> str:
    cells = nbformat.read(path, as_version=4).cells
    return "\n".join(str(output.get("text", output.get("data", {}).get("text/plain", "")))
                     for cell in cells if cell.cell_type == "code" for output in cell.outputs)  # fmt: skip


@pytest.mark.parametrize("chapter", ["02_similarity", "07_cnn_recommender", "10_challenges_faq"])
def test_a_chapter_runs_on_a_readers_csv(chapter, own_csv, tmp_path, monkeypatch):
    copy = tmp_path / f"{chapter}.ipynb"
    shutil.copy(NOTEBOOKS / f"{chapter}.ipynb", copy)
    monkeypatch.setenv(DATASET_VAR, str(own_csv))
    execute(copy, timeout=600)  # raises if any cell fails
    text = outputs_text(copy)
    assert "ml-100k" not in text.lower()
    if chapter == "02_similarity":
        assert f"{150 * 149 // 2:,} user pairs" in text  # computed on the CSV's 150 users
    elif chapter == "07_cnn_recommender":
        assert "(one per user)" in text and "Caser" in text
    else:  # the explanations are for one of the CSV's users
        assert "User reader-" in text and "ItemKNN predicts" in text


def test_a_malformed_csv_stops_the_chapter_with_a_clear_error(tmp_path, monkeypatch):
    bad = tmp_path / "bad.csv"
    bad.write_text("user,item,stars\n1,2,3\n")
    copy = tmp_path / "02_similarity.ipynb"
    shutil.copy(NOTEBOOKS / "02_similarity.ipynb", copy)
    monkeypatch.setenv(DATASET_VAR, str(bad))
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match=r"missing column\(s\)"):
        execute(copy, timeout=600)
