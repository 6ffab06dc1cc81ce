"""Where a chapter spends its time: the slowest cells of each notebook.

Runs each chapter in a fresh kernel **on a copy** (the stored notebook is not touched), records
each code cell's wall time, and prints the slowest cells of every chapter, then one line per
chapter::

    .venv/bin/python benchmarks/slow_cells.py                 # every chapter, 5 cells each
    .venv/bin/python benchmarks/slow_cells.py 09 11 --top 10  # chapters chosen as in `make book`
    .venv/bin/python benchmarks/slow_cells.py --solutions     # the solutions notebooks too

A cell is named by its number among the code cells (1 is the first code cell) and by its first
line that is not a comment. The times are of one run on this machine: compare cells with each
other, not with another machine's seconds.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import datetime
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from recsys_helpers.book import chapters, notebooks


def _first_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return source.strip().splitlines()[0] if source.strip() else "(empty)"


def cell_times(path: Path, timeout: int = 1800) -> tuple[float, list[tuple[int, float, str]]]:
    """Execute a copy of ``path``; return the total seconds and (code cell number, seconds, line)."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            extra_arguments=["--IPKernelApp.log_level=ERROR"],
                            resources={"metadata": {"path": str(path.parent)}},
                            record_timing=True)
    start = time.perf_counter()
    client.execute(env={**os.environ, "RECSYS_PROGRESS": "off"})  # no progress line stored
    total = time.perf_counter() - start
    rows = []
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells, start=1):
        timing = cell.metadata.get("execution", {})
        began, ended = timing.get("iopub.execute_input"), timing.get("shell.execute_reply")
        if began and ended:
            seconds = (datetime.fromisoformat(ended.replace("Z", "+00:00"))
                       - datetime.fromisoformat(began.replace("Z", "+00:00"))).total_seconds()
            rows.append((number, seconds, _first_line(cell.source)[:70]))
    return total, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*", help="chapter numbers or name prefixes")
    parser.add_argument("--top", type=int, default=5, help="cells shown per notebook")
    parser.add_argument("--solutions", action="store_true", help="also the solutions notebooks")
    args = parser.parse_args(argv)

    paths = notebooks(args.chapters) if args.solutions else chapters(args.chapters)
    summary = []
    for path in paths:
        total, rows = cell_times(path)
        summary.append((path.stem, total, len(rows)))
        print(f"\n{path.stem}: {total:.1f} s in {len(rows)} code cells; the slowest:")
        print(f"  {'cell':>4}  {'seconds':>8}  {'share':>5}  first line")
        for number, seconds, line in sorted(rows, key=lambda row: -row[1])[:args.top]:
            print(f"  {number:>4}  {seconds:8.1f}  {seconds / total:5.0%}  {line}")
        sys.stdout.flush()

    width = max(len(name) for name, _, _ in summary)
    print(f"\n{'notebook':<{width}}  {'seconds':>8}  cells")
    for name, total, cells in summary:
        print(f"{name:<{width}}  {total:8.1f}  {cells:>5}")
    print(f"{'total':<{width}}  {sum(total for _, total, _ in summary):8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
