"""What ``pip install .`` installs: one namespace, ``hanzi_grader``, and everything it needs.

The wheel is built from a copy of the sources in a temporary folder, so the build leaves no
``build/`` or ``*.egg-info`` in the checkout.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.test_layers import FOLDERS, ROOT

# What the wheel needs to build: pyproject.toml and the files it names.
SOURCES = ["pyproject.toml", "README.md", "LICENSE"]
INSTALLED = {folder: package for folder, package in FOLDERS.items()
             if package.startswith("hanzi_grader")}


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory) -> list[str]:
    source = tmp_path_factory.mktemp("source")
    for name in SOURCES:
        shutil.copy2(ROOT / name, source / name)
    for folder in INSTALLED:
        shutil.copytree(ROOT / folder, source / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                           "--wheel-dir", str(out), str(source)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    [wheel] = out.glob("hanzi_grader-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


@pytest.mark.slow
def test_the_wheel_installs_nothing_but_hanzi_grader_at_the_top(wheel_files):
    # Given the wheel's file list, then its only top-level names are the package and its
    # metadata: no `models`, `worker`, `producer`, `migrations` or `benchmarks` of ours
    top = {name.split("/")[0] for name in wheel_files}
    assert {name for name in top if not name.endswith(".dist-info")} == {"hanzi_grader"}
    for other in ("models", "scans", "worker", "producer", "migrations", "benchmarks",
                  "tests"):
        assert not any(name.startswith((f"{other}/", f"{other}.py")) for name in wheel_files)


@pytest.mark.slow
def test_the_wheel_holds_every_module_and_the_data_they_read(wheel_files):
    # Given every module of the installed folders, then each is in the wheel at its
    # hanzi_grader path (a new subpackage missing from pyproject.toml's list fails here)
    expected = {
        "/".join([*package.split("."), *path.relative_to(ROOT / folder).parts])
        for folder, package in INSTALLED.items()
        for path in (ROOT / folder).rglob("*.py") if "__pycache__" not in path.parts
    }
    assert expected - set(wheel_files) == set()
    # And the shipped bundle and stroke kinds, the migrations' configuration, the sheets'
    # font and the desk's templates and assets come with them
    for data in ("hanzi_grader/models/bundle/model.keras",
                 "hanzi_grader/models/bundle/templates.npz",
                 "hanzi_grader/models/bundle/manifest.json",
                 "hanzi_grader/models/stroke_kinds.txt",
                 "hanzi_grader/migrations/alembic.ini",
                 "hanzi_grader/migrations/script.py.mako",
                 "hanzi_grader/producer/sheets/font/HanziGraderSans-Regular.otf",
                 "hanzi_grader/producer/sheets/font/OFL.txt",
                 *(f"hanzi_grader/api/web/{path.relative_to(ROOT / 'api' / 'web')}"
                   for path in sorted((ROOT / "api" / "web").glob("*/*.*")))):
        assert data in wheel_files
