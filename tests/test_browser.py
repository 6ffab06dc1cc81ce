"""Reading the book in JupyterLab, checked in a real browser.

Starts JupyterLab on 127.0.0.1 (as CI does: ``--allow-root``, a token, no browser of its own),
opens every chapter in headless Chromium driven by Selenium, and checks that the notebook
renders: its cells, at least one figure and one typeset formula where the stored notebook has
them, and no error output. A screenshot of each chapter is saved under ``artifacts/browser/``
(git-ignored) for a human to look at.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them). Without them
the test is skipped on a reader's machine and fails in CI.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from recsys_helpers.book import NOTEBOOKS, chapters

ROOT = NOTEBOOKS.parent
SHOTS = ROOT / "artifacts" / "browser"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _require_browser():
    if CHROMIUM and CHROMEDRIVER:
        return
    message = ("headless Chromium is needed: install Debian's chromium and chromium-driver "
               "(.ci/run does)")  # fmt: skip
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 serving the repository; yields (base URL, token)."""
    _require_browser()
    port, token = _free_port(), secrets.token_hex(16)
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    # Private settings and workspaces: nothing is written to the reader's ~/.jupyter, and the
    # "news" question does not pop up over the screenshots.
    settings = runtime / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(runtime),
           "JUPYTERLAB_SETTINGS_DIR": str(runtime / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(runtime / "workspaces"),
           # As on a reader's machine: the notebooks' kernels show the live progress line.
           "RECSYS_PROGRESS": "auto"}  # fmt: skip
    command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root",
               "--ip", "127.0.0.1", f"--port={port}", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={ROOT}",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]  # fmt: skip
    log = open(runtime / "lab.log", "w")  # closed in the finally block below
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("JupyterLab did not start:\n"
                                       + (runtime / "lab.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield base, token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,2000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(120)
    yield driver
    driver.quit()


def _expected(path: Path) -> dict:
    """What the stored notebook holds: figures (PNG outputs) and formulas (``$`` in markdown)."""
    notebook = json.loads(path.read_text())
    cells = notebook["cells"]
    figures = sum("image/png" in output.get("data", {})
                  for cell in cells for output in cell.get("outputs", []))  # fmt: skip
    formulas = any("$" in "".join(cell["source"]) for cell in cells
                   if cell["cell_type"] == "markdown")  # fmt: skip
    return {"cells": len(cells), "figures": figures, "formulas": formulas}


def _count(driver, selector: str) -> int:
    return driver.execute_script(f"return document.querySelectorAll({selector!r}).length")


def _wait_for(driver, condition, timeout: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


@pytest.mark.parametrize("path", chapters(), ids=lambda p: p.stem)
def test_chapter_renders_in_jupyterlab(path, lab, browser):
    base, token = lab
    expected = _expected(path)
    # ?reset: a fresh workspace each time, so only this chapter is open.
    browser.get(f"{base}/lab/tree/notebooks/{path.name}?reset&token={token}")
    _wait_for(browser, lambda: _count(browser, ".jp-NotebookPanel .jp-Cell") >= expected["cells"],
              what=f"the {expected['cells']} cells of {path.name}")  # fmt: skip
    # Bring every cell into view once, so that lazily rendered outputs and formulas exist.
    browser.execute_script("""
        const cells = document.querySelectorAll('.jp-NotebookPanel .jp-Cell');
        cells.forEach(c => c.scrollIntoView());
        cells[0].scrollIntoView();""")
    if expected["figures"]:
        _wait_for(browser, lambda: _count(browser, ".jp-RenderedImage img") >= 1,
                  what=f"a rendered figure in {path.name}")  # fmt: skip
    if expected["formulas"]:
        _wait_for(browser, lambda: _count(browser, "mjx-container") >= 1,
                  what=f"a typeset formula in {path.name}")  # fmt: skip
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / f"{path.stem}.png"))
    errors = _count(browser, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr'],"
                             " .jp-RenderedText[data-mime-type='application/vnd.jupyter.error']")  # fmt: skip
    dialogs = _count(browser, ".jp-Dialog")
    assert errors == 0, f"{path.name} shows {errors} error output(s)"
    assert dialogs == 0, f"JupyterLab opened a dialog while showing {path.name}"
    tab = browser.execute_script(
        "const t = document.querySelector("
        "'#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel');"
        "return t ? t.textContent : null;")
    assert tab == path.name, f"the current tab shows {tab!r}"


PROGRESS_CELL = """\
import time

import numpy as np

from recsys_helpers.deep import keras, train

model = keras.Sequential([keras.Input(shape=(2,)), keras.layers.Dense(1)])
model.compile(optimizer="sgd", loss="mse")
x = np.arange(8, dtype="float32").reshape(4, 2)


def slow_epoch(epoch):  # a training epoch that takes a second
    time.sleep(1)
    return x, x.sum(axis=1)


history = train(model, slow_epoch, n_epochs=15, label="a slow model")
print(f"trained {len(history)} epochs")"""


def test_a_training_cell_shows_live_progress_that_leaves_no_trace(lab, browser):
    """While a cell trains, its output shows the progress line (model, epoch, elapsed time);
    when it ends, only what the cell printed is left."""
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    base, token = lab
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / "progress_check.ipynb"  # git-ignored, inside the server's root
    path.write_text(json.dumps({
        "cells": [{"cell_type": "code", "execution_count": None, "id": "progress", "metadata": {},
                   "outputs": [], "source": PROGRESS_CELL}],
        "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                    "name": "python3"}},
        "nbformat": 4, "nbformat_minor": 5}))  # fmt: skip
    try:
        browser.get(f"{base}/lab/tree/{path.relative_to(ROOT).as_posix()}?reset&token={token}")
        _wait_for(browser, lambda: _count(browser, ".jp-NotebookPanel .jp-Cell .cm-content") >= 1,
                  what="the progress notebook's cell")  # fmt: skip
        time.sleep(3)  # JupyterLab may ask which kernel to start: take the one offered
        for button in browser.find_elements(By.CSS_SELECTOR, ".jp-Dialog .jp-mod-accept"):
            button.click()
        editor = browser.find_element(By.CSS_SELECTOR, ".jp-NotebookPanel .jp-Cell .cm-content")
        ActionChains(browser).click(editor).key_down(Keys.CONTROL).send_keys(Keys.ENTER) \
            .key_up(Keys.CONTROL).perform()  # run the cell

        def output_text():
            return browser.execute_script(
                "const o = document.querySelector('.jp-NotebookPanel .jp-Cell .jp-OutputArea');"
                "return o ? o.innerText : '';")

        _wait_for(browser, lambda: "epoch" in output_text(), timeout=120,
                  what="the progress line while the cell trains")  # fmt: skip
        browser.save_screenshot(str(SHOTS / "progress_while_training.png"))
        line = output_text()
        assert "training a slow model › epoch" in line and "of 15" in line, line
        assert any(f"0:{s:02d}" in line for s in range(60)), f"no elapsed time in {line!r}"
        _wait_for(browser, lambda: "trained 15 epochs" in output_text(), timeout=120,
                  what="the end of training")  # fmt: skip
        assert output_text().strip() == "trained 15 epochs", f"left behind: {output_text()!r}"
        browser.save_screenshot(str(SHOTS / "progress_after_training.png"))
    except AssertionError:
        browser.save_screenshot(str(SHOTS / "progress_failed.png"))
        raise
    finally:
        path.unlink(missing_ok=True)
