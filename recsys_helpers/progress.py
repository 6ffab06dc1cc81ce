"""Live progress for long cells: one line, updated in place while a cell runs, gone when it ends.

A cell that trains for a minute would otherwise show nothing until it ends. The package's long
loops (Keras training epochs, the models of an evaluation, the folds of a protocol) announce
themselves with :func:`task`; nested tasks share **one** line in the notebook, outermost first::

    next-item protocol › SASRec (1 of 3) › training SASRec › epoch 12 of 40 · last loss 6.0412 · best validation 0.1204 · 0:41

The line is an IPython display updated in place. When the outermost task ends, the line is
emptied, so a finished cell shows only what it printed. Where it is shown is set by the
environment variable ``RECSYS_PROGRESS``:

* ``auto`` (the default): in a kernel that a Jupyter server started for a notebook — JupyterLab
  or Notebook, which tell the kernel its notebook in ``JPY_SESSION_NAME``. Kernels started to
  *execute* a notebook and store or compare its outputs (``make book``, nbval, ``jupyter
  nbconvert --execute``) are not, so the stored outputs keep **no trace** of progress;
* ``on``: in any IPython kernel (e.g. VS Code's);
* ``off``: never (``make book`` also sets this for its kernels, whatever the reader's setting).

In a script, a test or a terminal nothing is ever shown.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator

__all__ = ["ENVIRONMENT_VARIABLE", "Task", "progress_enabled", "task"]

#: ``auto`` (the default), ``on`` or ``off``: see the module docstring.
ENVIRONMENT_VARIABLE = "RECSYS_PROGRESS"
_EVERY = 0.5  # seconds between two updates of the line (the first and last are always shown)


def progress_enabled() -> bool:
    """Whether progress is shown here and now (``RECSYS_PROGRESS``; module docstring)."""
    setting = os.environ.get(ENVIRONMENT_VARIABLE, "auto").strip().lower()
    if setting not in ("auto", "on", "off"):
        raise ValueError(f"{ENVIRONMENT_VARIABLE} must be 'auto', 'on' or 'off', got "
                         f"{os.environ[ENVIRONMENT_VARIABLE]!r}")
    if setting == "off" or (setting == "auto" and not os.environ.get("JPY_SESSION_NAME")):
        return False
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython comes with JupyterLab
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class Task:
    """One level of the progress line: a label and what it is doing now (see :func:`task`)."""

    def __init__(self, label: str):
        self.label = label
        self.detail = ""

    def update(self, detail: str) -> None:
        """Say what the task is doing now: a task's first update is shown at once, later ones
        at most every half second."""
        first, self.detail = not self.detail, detail
        _line.refresh(force=first)


class _Line:
    """The one displayed line that every active task writes to."""

    def __init__(self):
        self.tasks: list[Task] = []
        self.handle = None
        self.started = 0.0
        self.shown = 0.0

    def text(self) -> str:
        parts = [f"{t.label} › {t.detail}" if t.detail else t.label for t in self.tasks]
        elapsed = int(time.monotonic() - self.started)
        return " › ".join(parts) + f" · {elapsed // 60}:{elapsed % 60:02d}"

    def refresh(self, force: bool = False) -> None:
        if self.handle is None or (not force and time.monotonic() - self.shown < _EVERY):
            return
        self.shown = time.monotonic()
        self.handle.update({"text/plain": self.text()}, raw=True)

    def open(self) -> None:
        if not progress_enabled():
            return
        from IPython.display import display

        self.started = self.shown = time.monotonic()
        self.handle = display({"text/plain": self.text()}, raw=True, display_id=True)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.update({"text/plain": ""}, raw=True)
        self.handle = None


_line = _Line()


@contextlib.contextmanager
def task(label: str) -> Iterator[Task]:
    """Show ``label`` on the progress line while the ``with`` block runs.

    Inside, ``t.update("epoch 3 of 40")`` says what it is doing now. Tasks nest: a task started
    inside another joins the same line after it. Where no line is shown (see
    :func:`progress_enabled`) the calls cost next to nothing.
    """
    current = Task(label)
    outermost = not _line.tasks
    try:
        _line.tasks.append(current)
        if outermost:
            _line.open()  # may raise (a bad RECSYS_PROGRESS): the finally block still cleans up
        else:
            _line.refresh(force=True)
        yield current
    finally:
        if current in _line.tasks:
            _line.tasks.remove(current)
        if outermost:
            _line.tasks.clear()
            _line.close()
        else:
            _line.refresh(force=True)
