"""The built wheel holds the whole suite: every folder with Python in it under suite/, rules/,
reference/ and submissions/ imports from the wheel alone, and every source and rule file is in
it. setup.py finds the packages, so a folder that lacks its __init__.py would silently be left
out of the wheel while still importing from a checkout; this is the test that notices."""

import shutil
import subprocess
import sys
import zipfile

import pytest

from conftest import REPO

FOLDERS = {"suite": "accelbench", "rules": "accelbench.rules",
           "reference": "accelbench.reference", "submissions": "accelbench.submissions"}
BUILD_FILES = ("pyproject.toml", "setup.py", "README.md")


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory):
    """The wheel built from a copy of the checkout, unpacked: what `pip install` would put in
    site-packages."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    source.mkdir()
    for name in BUILD_FILES:
        shutil.copy(REPO / name, source / name)
    for folder in FOLDERS:
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
         "--wheel-dir", str(work / "dist"), str(source)],
        capture_output=True, text=True, timeout=300,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (work / "dist").glob("accelbench-*.whl")
    site = work / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(site)
    return site


def _source_folders():
    """(import name, folder) of every folder holding a .py file, the roots included."""
    found = []
    for folder, name in FOLDERS.items():
        for directory in sorted({path.parent for path in (REPO / folder).rglob("*.py")}):
            if "__pycache__" in directory.parts:
                continue
            parts = directory.relative_to(REPO / folder).parts
            found.append((".".join((name, *parts)), directory))
    return found


def _installed_path(relative_to_repo):
    folder, *rest = relative_to_repo.parts
    return "/".join((*FOLDERS[folder].split("."), *rest))


def test_every_source_and_rule_file_is_in_the_wheel(unpacked_wheel):
    for folder in FOLDERS:
        for path in (REPO / folder).rglob("*"):
            if path.suffix in (".py", ".toml") and "__pycache__" not in path.parts:
                installed = _installed_path(path.relative_to(REPO))
                assert (unpacked_wheel / installed).is_file(), f"{installed} is missing from the wheel"


def test_every_folder_with_python_imports_from_the_wheel(unpacked_wheel):
    names = [name for name, _ in _source_folders()]
    assert "accelbench.run" in names and "accelbench.submissions.ipu.snn_bptt" in names
    probe = (
        "import importlib, sys\n"
        f"sys.path.insert(0, {str(unpacked_wheel)!r})\n"
        f"for name in {names!r}:\n"
        "    module = importlib.import_module(name)\n"
        f"    assert module.__file__.startswith({str(unpacked_wheel)!r}), (name, module.__file__)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
