"""The book runner (executes notebooks in place, reproducibly, reports failures), and the
standards every stored chapter meets: graded exercises with solutions, no warnings or errors."""

from __future__ import annotations

import re

import nbformat
import numpy as np
import pandas as pd
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from recsys_helpers.book import (
    cap_ratings,
    chapters,
    check_reading,
    execute,
    main,
    merge_streams,
    notebooks,
    show_source,
    skip_without,
    solutions_of,
)
from recsys_helpers.datasets import MovieLens


def write_notebook(path, *sources):
    cells = [new_markdown_cell("# a chapter")] + [new_code_cell(s) for s in sources]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}  # fmt: skip
    nbformat.write(nb, path)
    return path


def test_execute_stores_outputs_and_a_rerun_changes_nothing(tmp_path):
    path = write_notebook(tmp_path / "01_demo.ipynb", "x = 6 * 7\nprint(x)", "x + 1")
    execute(path)
    first = path.read_bytes()
    cells = nbformat.read(path, as_version=4).cells
    assert [c.execution_count for c in cells if c.cell_type == "code"] == [1, 2]
    assert cells[1].outputs[0]["text"] == "42\n"
    assert cells[2].outputs[0]["data"]["text/plain"] == "43"
    assert "execution" not in cells[1].metadata  # no timestamps stored
    execute(path)
    assert path.read_bytes() == first


def test_printed_text_is_stored_as_one_block_however_it_was_flushed(tmp_path):
    # The first line reaches the notebook before the second is printed: two stream messages.
    path = write_notebook(tmp_path / "01_flush.ipynb",
                          "import time\nprint('a', flush=True)\ntime.sleep(0.5)\nprint('b')")
    execute(path)
    outputs = nbformat.read(path, as_version=4).cells[1].outputs
    assert [(o["name"], o["text"]) for o in outputs] == [("stdout", "a\nb\n")]


def test_merge_streams_by_hand():
    out = [{"output_type": "stream", "name": "stdout", "text": "1\n"},
           {"output_type": "stream", "name": "stdout", "text": "2\n"},
           {"output_type": "execute_result", "data": {"text/plain": "3"}},
           {"output_type": "stream", "name": "stdout", "text": "4\n"}]
    assert merge_streams(out) == [{"output_type": "stream", "name": "stdout", "text": "1\n2\n"},
                                  out[2], out[3]]  # fmt: skip
    assert merge_streams([]) == []


def test_chapters_are_numbered_notebooks_in_order(tmp_path):
    for name in ["02_b.ipynb", "01_a.ipynb", "notes.ipynb", "10_c.ipynb"]:
        write_notebook(tmp_path / name, "1")
    assert [p.name for p in chapters(folder=tmp_path)] == ["01_a.ipynb", "02_b.ipynb",
                                                           "10_c.ipynb"]  # fmt: skip
    assert [p.name for p in chapters(["02", "10"], folder=tmp_path)] == ["02_b.ipynb",
                                                                         "10_c.ipynb"]  # fmt: skip
    with pytest.raises(SystemExit, match="no notebook"):
        chapters(["99"], folder=tmp_path)


def test_each_chapter_runs_before_its_solutions(tmp_path):
    for name in ["01_a.ipynb", "02_b.ipynb"]:
        write_notebook(tmp_path / name, "1")
    (tmp_path / "solutions").mkdir()
    write_notebook(tmp_path / "solutions" / "01_a_solutions.ipynb", "1")
    assert [str(p.relative_to(tmp_path)) for p in notebooks(folder=tmp_path)] == [
        "01_a.ipynb", "solutions/01_a_solutions.ipynb", "02_b.ipynb"]
    assert notebooks(["02"], folder=tmp_path) == [tmp_path / "02_b.ipynb"]


def test_main_reports_each_chapter_and_fails_when_one_fails(tmp_path, monkeypatch, capsys):
    write_notebook(tmp_path / "01_ok.ipynb", "1 + 1")
    write_notebook(tmp_path / "02_broken.ipynb", "raise ValueError('on purpose')")
    monkeypatch.setattr("recsys_helpers.book.NOTEBOOKS", tmp_path)
    monkeypatch.setattr("recsys_helpers.book.notebooks",
                        lambda selection=None: notebooks(selection, folder=tmp_path))  # fmt: skip
    assert main([]) == 1
    out = capsys.readouterr().out
    assert "01_ok" in out and " ok" in out
    assert "02_broken" in out and "FAILED: CellExecutionError" in out and "on purpose" in out
    # The failing notebook keeps what ran, up to the error, for the reader to inspect.
    broken = nbformat.read(tmp_path / "02_broken.ipynb", as_version=4)
    assert broken.cells[1].outputs[0]["ename"] == "ValueError"


def test_show_source_renders_a_python_block():
    shown = show_source(chapters)
    assert shown.data.startswith("```python\ndef chapters(")
    assert shown.data.endswith("```")


def test_a_reading_is_asserted_on_the_book_data_and_reported_on_other_data(capsys):
    assert check_reading(2 > 1, "two is more than one", on_book_data=True) is None
    check_reading(2 > 1, "two is more than one", on_book_data=False)
    assert capsys.readouterr().out == ""  # a reading that holds prints nothing
    with pytest.raises(AssertionError, match="does not hold: one is more than two"):
        check_reading(1 > 2, "one is more than two", on_book_data=True)
    check_reading(np.bool_(False), "one is more than two", on_book_data=False)
    out = capsys.readouterr().out
    assert out == ("On this data the text's reading does not hold (the text describes the "
                   "stored edition): one is more than two\n")


def outputs(path):
    return ["".join(o.get("text", o.get("data", {}).get("text/plain", "")) for o in c.outputs)
            for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code"]


def test_cells_that_need_what_the_data_lacks_are_skipped_in_a_kernel(tmp_path):
    cells = ["from recsys_helpers.book import skip_without\n"
             "skip_without('timestamps', HAS)",
             "# Needs timestamps.\nprint('sequence'); assert HAS",  # fails if run without
             "print('any data')",
             "\n# Needs timestamps.\nprint('order')"]
    with_them = write_notebook(tmp_path / "01_with.ipynb", "HAS = True", *cells)
    execute(with_them)
    assert outputs(with_them) == ["", "", "sequence\n", "any data\n", "order\n"]
    without = write_notebook(tmp_path / "02_without.ipynb", "HAS = False", *cells)
    execute(without)
    assert outputs(without) == ["", "This data set has no timestamps: the cells that need them "
                                "(marked '# Needs timestamps.') are skipped.\n", "", "any data\n", ""]
    # Re-running the data cell on data that has them removes the skipping.
    again = write_notebook(tmp_path / "03_again.ipynb", "HAS = False", *cells[:1],
                           "HAS = True", *cells[:1], cells[3])
    execute(again)
    assert outputs(again)[-1] == "order\n"


def test_skip_without_outside_ipython_skips_nothing_and_says_so():
    assert skip_without("timestamps", True) is None
    with pytest.raises(ValueError, match="no timestamps"):
        skip_without("timestamps", False)


# --- the stored chapters themselves ---------------------------------------------------------


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_every_chapter_has_graded_exercises_and_executed_solutions(path):
    markdown = [c.source for c in nbformat.read(path, as_version=4).cells
                if c.cell_type == "markdown"]  # fmt: skip
    exercises = [m for m in markdown if re.search(r"^#+ .*Exercises", m, re.M)]
    assert len(exercises) == 1, "one Exercises section"
    text = exercises[0]
    assert len(re.findall(r"^\d+\. \*\*\(", text, re.M)) >= 3  # numbered, graded exercises
    assert "**(Predict, then run.)**" in text
    # Solutions live in a companion notebook a teacher can withhold, linked from the chapter.
    assert "<details>" not in text
    solutions = solutions_of(path)
    assert f"(solutions/{solutions.name})" in text
    cells = nbformat.read(solutions, as_version=4).cells
    # Every exercise of the chapter has its solution, and the solutions link back to it.
    numbers = [int(n) for n in re.findall(r"^(\d+)\. \*\*\(", text, re.M)]
    solved = [int(m.group(1)) for c in cells if c.cell_type == "markdown"
              for m in [re.match(r"## Exercise (\d+)", c.source)] if m]  # fmt: skip
    assert solved == numbers
    assert f"(../{path.name})" in cells[0].source
    # Each claimed outcome is checked where it is computed: at least three asserting cells.
    asserting = [c for c in cells if c.cell_type == "code" and re.search(r"^\s*assert ",
                                                                           c.source, re.M)]
    assert len(asserting) >= 3
    # Stored as executed, top to bottom, in one run.
    counts = [c.get("execution_count") for c in cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))


@pytest.mark.parametrize("path", notebooks(), ids=lambda p: p.stem)
def test_no_chapter_stores_warnings_or_log_noise(path):
    for cell in nbformat.read(path, as_version=4).cells:
        for output in cell.get("outputs", []):
            assert not (output.get("output_type") == "stream" and output.get("name") == "stderr")
            assert output.get("output_type") != "error"
            assert "Warning:" not in str(output.get("text", ""))


def test_cap_ratings_prints_what_it_keeps_and_leaves_fitting_data_alone(capsys):
    ratings = pd.DataFrame({"user_id": [1, 1, 2, 2, 2, 3], "item_id": [1, 2, 1, 2, 3, 3],
                            "rating": 4.0})
    data = MovieLens(name="six", ratings=ratings, items=pd.DataFrame({"item_id": [1, 2, 3]}),
                     users=None, genres=[], source="inline")
    assert cap_ratings(data, None) is data and cap_ratings(data, 6) is data
    assert capsys.readouterr().out == ""
    sample = cap_ratings(data, 3, seed=0)
    kept = len(sample.ratings)
    assert kept <= 3 and sample.ratings.user_id.nunique() < 3
    assert capsys.readouterr().out == (
        f"This chapter uses {kept:,} of the data set's 6 ratings: the whole histories of "
        f"{sample.ratings.user_id.nunique()} of its 3 users, drawn at random, to bound its run "
        "time (MAX_RATINGS = 3; None: no cap).\n")
    with pytest.raises(ValueError, match="max_ratings must be a positive integer"):
        cap_ratings(data, 1e5)  # refused even where nothing would be cut
    with pytest.raises(ValueError, match="max_items must be a positive integer"):
        cap_ratings(data, None, max_items=0)


def test_cap_ratings_keeps_the_most_rated_films_then_draws_users(capsys):
    # Films 1 (4 ratings), 2 (3) and 3 (1); users 1-4.
    ratings = pd.DataFrame({"user_id": [1, 1, 2, 2, 3, 3, 4, 4], "item_id": [1, 2, 1, 2, 1, 3, 1, 2],
                            "rating": 4.0})
    data = MovieLens(name="eight", ratings=ratings, items=pd.DataFrame({"item_id": [1, 2, 3]}),
                     users=None, genres=[], source="inline")
    assert cap_ratings(data, None, max_items=3) is data and capsys.readouterr().out == ""
    films = cap_ratings(data, None, max_items=2)
    assert set(films.ratings.item_id) == {1, 2} and len(films.ratings) == 7
    assert capsys.readouterr().out == (
        "This chapter uses 7 of the data set's 8 ratings: the ratings of its 2 most-rated of 3 "
        "films, to bound its run time (MAX_ITEMS = 2; None: no cap).\n")
    both = cap_ratings(data, 4, seed=0, max_items=2)
    assert set(both.ratings.item_id) <= {1, 2} and len(both.ratings) <= 4
    users = both.ratings.user_id.nunique()
    assert capsys.readouterr().out == (
        f"This chapter uses {len(both.ratings)} of the data set's 8 ratings: the ratings of its 2 "
        f"most-rated of 3 films; of the 4 users who rated them, all the ratings of those films by "
        f"{users}, drawn at random, to bound its run time (MAX_RATINGS = 4, MAX_ITEMS = 2; None: "
        "no cap).\n")
    only_film_1 = cap_ratings(data, None, max_items=1)  # user 3 also rated film 3; all rated 1
    assert set(only_film_1.ratings.item_id) == {1}
    capsys.readouterr()
    one = MovieLens(name="two", ratings=ratings[ratings.item_id != 1].reset_index(drop=True),
                    items=pd.DataFrame({"item_id": [2, 3]}), users=None, genres=[], source="inline")
    cap_ratings(one, None, max_items=1)  # film 2 (3 ratings by users 1, 2, 4); user 3 rated only film 3
    assert capsys.readouterr().out == (
        "This chapter uses 3 of the data set's 4 ratings: the ratings of its 1 most-rated of 2 "
        "films (3 of its 4 users rated any of them), to bound its run time (MAX_ITEMS = 1; None: "
        "no cap).\n")
