"""The live progress line: shown in a Jupyter kernel, one line for nested tasks, emptied at the
end, and never in a stored notebook."""

from __future__ import annotations

import nbformat
import pytest

from recsys_helpers import progress
from recsys_helpers.book import execute
from recsys_helpers.progress import progress_enabled, task


class FakeHandle:
    def __init__(self, shown, data):
        self.shown = shown
        shown.append(data["text/plain"])

    def update(self, data, raw):
        assert raw
        self.shown.append(data["text/plain"])


@pytest.fixture
def in_kernel(monkeypatch):
    """Pretend to run in a Jupyter kernel; return the list of texts the line showed."""
    import IPython
    import IPython.display

    shown = []

    class Shell:
        kernel = object()

    def display(data, raw, display_id):
        assert raw and display_id is True
        return FakeHandle(shown, data)

    monkeypatch.setattr(IPython, "get_ipython", lambda: Shell())
    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setenv("RECSYS_PROGRESS", "auto")
    monkeypatch.setenv("JPY_SESSION_NAME", "/home/reader/05_latent_factors.ipynb")  # JupyterLab's
    monkeypatch.setattr(progress, "_EVERY", 0.0)  # every update shown
    return shown


def test_where_the_line_is_shown(in_kernel, monkeypatch):
    assert progress_enabled()  # a kernel JupyterLab started for a notebook
    monkeypatch.setenv("RECSYS_PROGRESS", "off")
    assert not progress_enabled()
    with task("fitting") as shown:
        shown.update("epoch 1 of 2")
    assert in_kernel == []
    monkeypatch.setenv("RECSYS_PROGRESS", "auto")
    monkeypatch.delenv("JPY_SESSION_NAME")  # a kernel executing a notebook: nbval, make book
    assert not progress_enabled()
    monkeypatch.setenv("RECSYS_PROGRESS", "On ")  # any kernel, e.g. VS Code's
    assert progress_enabled()
    monkeypatch.setattr("IPython.get_ipython", lambda: None)  # a script, a test, a terminal
    assert not progress_enabled()


def test_an_unknown_setting_is_refused_and_leaves_no_stuck_line(in_kernel, monkeypatch):
    monkeypatch.setenv("RECSYS_PROGRESS", "yes please")
    with pytest.raises(ValueError, match="must be 'auto', 'on' or 'off', got 'yes please'"):
        progress_enabled()
    with pytest.raises(ValueError, match="RECSYS_PROGRESS"), task("fitting"):
        pass
    assert progress._line.tasks == []  # a later task opens its own line again
    monkeypatch.setenv("RECSYS_PROGRESS", "auto")
    with task("fitting"):
        pass
    assert in_kernel[0].startswith("fitting · ") and in_kernel[-1] == ""


def test_each_task_shows_its_first_update_at_once(in_kernel, monkeypatch):
    monkeypatch.setattr(progress, "_EVERY", 3600.0)  # later updates are held back
    with task("top-N protocol") as outer:
        outer.update("ItemKNN (1 of 2)")
        with task("training") as inner:
            inner.update("epoch 1 of 40")
            inner.update("epoch 2 of 40")  # within the interval: not shown
    lines = [text.rsplit(" · ", 1)[0] for text in in_kernel[:-1]]
    assert "top-N protocol › ItemKNN (1 of 2)" in lines
    assert "top-N protocol › ItemKNN (1 of 2) › training › epoch 1 of 40" in lines
    assert not any("epoch 2" in line for line in lines)


def test_nested_tasks_share_one_line_that_is_emptied_at_the_end(in_kernel):
    with task("next-item protocol") as outer:
        outer.update("SASRec (1 of 2)")
        with task("training SASRec") as inner:
            inner.update("epoch 3 of 40")
        outer.update("GRU (2 of 2)")
    assert in_kernel[-1] == ""  # the line is emptied
    lines = [text.rsplit(" · ", 1)[0] for text in in_kernel[:-1]]  # without the elapsed time
    assert "next-item protocol › SASRec (1 of 2) › training SASRec › epoch 3 of 40" in lines
    assert lines[-1] == "next-item protocol › GRU (2 of 2)"  # the inner task has left the line
    assert all(text.rsplit(" · ", 1)[1] == "0:00" for text in in_kernel[:-1])
    assert progress._line.tasks == [] and progress._line.handle is None


def test_the_line_is_emptied_when_a_task_fails(in_kernel):
    with pytest.raises(KeyboardInterrupt), task("fitting"):
        raise KeyboardInterrupt  # a reader stopping the cell
    assert in_kernel[-1] == "" and progress._line.tasks == []
    with task("next"):  # a new outermost task opens a new line
        pass
    assert in_kernel[-2].startswith("next · ")


def test_training_shows_its_epochs(in_kernel):
    import numpy as np

    from recsys_helpers.deep import keras, train

    model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)], name="tiny")
    model.compile(optimizer="sgd", loss="mse")
    x = np.arange(8, dtype="float32").reshape(4, 2)
    train(model, (x, x.sum(axis=1)), n_epochs=2, batch_size=2, label="Tiny")
    assert in_kernel[0].startswith("training Tiny · ")
    assert any(text.startswith("training Tiny › epoch 2 of 2 · last loss ")
               for text in in_kernel)  # fmt: skip
    assert in_kernel[-1] == ""


def test_a_stored_notebook_keeps_no_trace_of_progress(tmp_path, monkeypatch):
    """``make book`` turns progress off in its kernels, whatever the reader's setting."""
    monkeypatch.setenv("RECSYS_PROGRESS", "on")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(
        "from recsys_helpers.progress import task, progress_enabled\n"
        "with task('fitting') as shown:\n"
        "    shown.update('epoch 1 of 1')\n"
        "print('enabled:', progress_enabled())")]
    path = tmp_path / "progress.ipynb"
    nbformat.write(notebook, path)
    execute(path, timeout=120)
    outputs = nbformat.read(path, as_version=4).cells[0].outputs
    assert [(o.output_type, o.get("text")) for o in outputs] == [("stream", "enabled: False\n")]
