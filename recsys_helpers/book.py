"""Run the book: execute every notebook in order, in place, and print a per-chapter summary.

Usage (``make book`` does this after setting up the environment)::

    python -m recsys_helpers.book                  # every notebooks/NN_*.ipynb, in order
    python -m recsys_helpers.book 01 03            # only chapters whose file starts with 01, 03

Each chapter is followed by its companion notebook of executed exercise solutions,
``notebooks/solutions/NN_topic_solutions.ipynb`` (kept apart so that a teacher can hand out the
chapter without them). Each notebook runs top to bottom in a fresh kernel, and its outputs are written back into the
file, so what you then open in JupyterLab is what just ran. Execution counts run 1..n, no
per-cell timing metadata is recorded and a cell's printed text is stored as one block however
the kernel flushed it, so re-running an unchanged chapter leaves the file unchanged
(``git diff`` stays empty) — except for cells that report measurements of the machine
(chapter 06's and chapter 10's fit times, chapter 10's traced memory), which the tests do not
compare (they are tagged ``nbval-ignore-output`` and assert their invariants instead).
"""

from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .base import check_positive_int

if TYPE_CHECKING:
    from .datasets import MovieLens

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def show_source(obj):
    """Display the source code of a helper in a notebook, highlighted as Python."""
    from IPython.display import Markdown

    return Markdown(f"```python\n{inspect.getsource(obj).rstrip()}\n```")


def check_reading(holds, says: str, *, on_book_data: bool) -> None:
    """Check a reading of the data that a chapter's text states, on whatever data it runs on.

    The prose of a chapter describes the stored edition (ML-100K): "item-based is ahead on every
    fold", "the GRU beats RecentItemKNN". Each such sentence is checked in code beside it::

        check_reading((difference < 0).all(), "item-based CF is ahead on every fold",
                      on_book_data=ON_BOOK_DATA)

    On the book's data (``on_book_data``, the chapter's ``ON_BOOK_DATA``) a reading that does
    not hold raises ``AssertionError``: the text would be false. On other data it prints one line
    saying so, so that a reader who re-runs the chapter on their own data sees which sentence
    their data contradicts; a reading that holds prints nothing. It returns nothing, so that a
    check on a cell's last line adds no output.
    """
    if bool(holds):
        return
    if on_book_data:
        raise AssertionError(f"the text's reading does not hold: {says}")
    print(f"On this data the text's reading does not hold (the text describes the stored "
          f"edition): {says}")


def cap_ratings(data: MovieLens, max_ratings: int | None, seed: int = 0,
                max_items: int | None = None) -> MovieLens:
    """Bound a chapter's time on data larger than the book's: ``data`` cut to at most
    ``max_ratings`` ratings, the whole histories of randomly drawn users
    (:meth:`recsys_helpers.datasets.MovieLens.sample_users`).

    With ``max_items``, only the ratings of the ``max_items`` most-rated items are kept first
    (:meth:`~recsys_helpers.datasets.MovieLens.most_rated_items`; a catalogue much larger than
    the book's costs time however few users are drawn), and the users are drawn among those.

    A chapter calls it in its data cell, ``data = cap_ratings(load_dataset(DATASET), MAX_RATINGS,
    seed=SEED, max_items=MAX_ITEMS)``, with both in its parameters cell. Where the data fits
    (MovieLens 100K does, in every chapter), or both caps are None, it returns ``data`` and
    prints nothing. Where it cuts, it prints one line saying how many ratings it keeps of how
    many and which cut it made (how many films, and how many users, of how many), so that a
    reader never mistakes a sample for the whole data.
    """
    for name, value in (("max_ratings", max_ratings), ("max_items", max_items)):
        if value is not None:
            check_positive_int(name, value)  # on every data, not only where it cuts
    by_items = data if max_items is None else data.most_rated_items(max_items)
    sample = by_items if max_ratings is None else by_items.sample_users(max_ratings, seed=seed)
    if sample is data:
        return data
    parts = []
    n_users, rated_kept = data.ratings.user_id.nunique(), by_items.ratings.user_id.nunique()
    if by_items is not data:
        parts.append(f"the ratings of its {by_items.ratings.item_id.nunique():,} most-rated of "
                     f"{data.ratings.item_id.nunique():,} films"
                     + (f" ({rated_kept:,} of its {n_users:,} users rated any of them)"
                        if rated_kept < n_users else ""))
    if sample is not by_items:
        kept = sample.ratings.user_id.nunique()
        parts.append(f"of the {rated_kept:,} users who rated them, all the ratings of those films "
                     f"by {kept:,}, drawn at random" if parts else
                     f"the whole histories of {kept:,} of its {n_users:,} users, drawn at random")
    settings = ", ".join(f"{name} = {value:,}" for name, value in
                         (("MAX_RATINGS", max_ratings), ("MAX_ITEMS", max_items)) if value is not None)
    print(f"This chapter uses {len(sample.ratings):,} of the data set's {len(data.ratings):,} "
          f"ratings: {'; '.join(parts)}, to bound its run time ({settings}; None: no cap).")
    return sample


def needs_marker(what: str) -> str:
    """The first line of a code cell that needs ``what`` of the data (see :func:`skip_without`)."""
    return f"# Needs {what}."


def skip_without(what: str, available: bool) -> None:
    """Skip, on data that lacks ``what`` (timestamps, say), the later cells that need it.

    A chapter calls it in its data cell, e.g. ``skip_without("timestamps", data.has_timestamps)``.
    Where the data has ``what`` it does nothing and prints nothing. Where it lacks it, it prints
    one line saying so, and every later code cell run in this kernel whose first line is
    ``# Needs <what>.`` (:func:`needs_marker`) runs as an empty cell, so it prints nothing and
    cannot fail for want of the column. The skipping is done by an IPython input transformer;
    calling this again (re-running the data cell, say on other data) first removes the one
    installed before. Outside IPython (a script) nothing can be skipped, and it raises
    ``ValueError`` where the data lacks ``what``. It returns nothing, so that a call on a cell's
    last line adds no output.
    """
    shell = _ipython()
    if shell is not None:
        transformers = shell.input_transformers_cleanup
        transformers[:] = [t for t in transformers if not getattr(t, "_skips_for_book", False)]
    if available:
        return
    if shell is None:
        raise ValueError(f"this data has no {what}, which this code needs")
    marker = needs_marker(what)

    def skip(lines: list[str]) -> list[str]:
        first = next((line.strip() for line in lines if line.strip()), "")
        return [] if first == marker else lines

    skip._skips_for_book = True
    shell.input_transformers_cleanup.append(skip)
    print(f"This data set has no {what}: the cells that need them (marked '{marker}') are "
          "skipped.")


def _ipython():
    """The running IPython shell, or None (a plain Python process)."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        return None
    return get_ipython()


def chapters(selection: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """The numbered notebooks in ``folder``, optionally only those starting with a selection."""
    found = sorted(p for p in folder.glob("[0-9][0-9]_*.ipynb"))
    if selection:
        found = [p for p in found if any(p.name.startswith(s) for s in selection)]
        if not found:
            raise SystemExit(f"no notebook in {folder} starts with any of {selection}")
    return found


def solutions_of(chapter: Path) -> Path:
    """The companion notebook of ``chapter``'s exercise solutions (it may not exist)."""
    return chapter.parent / "solutions" / f"{chapter.stem}_solutions.ipynb"


def notebooks(selection: list[str] | None = None, folder: Path = NOTEBOOKS) -> list[Path]:
    """What ``make book`` runs: each selected chapter, then its solutions notebook if any."""
    found = []
    for chapter in chapters(selection, folder):
        found.append(chapter)
        if solutions_of(chapter).is_file():
            found.append(solutions_of(chapter))
    return found


def execute(path: Path, timeout: int = 1800) -> float:
    """Execute one notebook in place in a fresh kernel; return the seconds it took."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        # The kernel process's own start-up notices (not cell output) would clutter the summary.
        extra_arguments=["--IPKernelApp.log_level=ERROR"],
        resources={"metadata": {"path": str(path.parent)}},
        record_timing=False,
    )
    start = time.perf_counter()
    try:
        # The stored outputs keep no trace of the live progress line (recsys_helpers.progress).
        client.execute(env={**os.environ, "RECSYS_PROGRESS": "off"})
    finally:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs = merge_streams(cell.outputs)
        nbformat.write(notebook, path)  # keep what ran, also up to a failing cell
    return time.perf_counter() - start


def merge_streams(outputs: list) -> list:
    """Join consecutive ``stdout`` (or ``stderr``) outputs of a cell into one.

    How a cell's printed text is cut into stream outputs depends on when the kernel happened
    to flush it, so the same run can be stored as one block or as several; merging them makes
    re-runs byte-identical. (nbval compares the merged text too.)
    """
    merged = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (output.get("output_type") == "stream" and previous is not None
                and previous.get("output_type") == "stream"
                and previous.get("name") == output.get("name")):  # fmt: skip
            previous["text"] += output["text"]
        else:
            merged.append(output)
    return merged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter numbers or name prefixes")
    args = parser.parse_args(argv)

    rows = []
    for path in notebooks(args.chapters):
        print(f"running {path.name} ...", flush=True)
        start = time.perf_counter()
        try:
            seconds, status = execute(path), "ok"
        except Exception as exc:  # report every chapter, then fail
            seconds = time.perf_counter() - start
            status = f"FAILED: {type(exc).__name__}: {str(exc).strip().splitlines()[-1][:120]}"
        rows.append((path.stem, seconds, status))

    width = max(len(name) for name, _, _ in rows)
    print(f"\n{'chapter':<{width}}  {'seconds':>8}  status")
    for name, seconds, status in rows:
        print(f"{name:<{width}}  {seconds:8.1f}  {status}")
    print(f"{'total':<{width}}  {sum(s for _, s, _ in rows):8.1f}")
    return 0 if all(status == "ok" for _, _, status in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
