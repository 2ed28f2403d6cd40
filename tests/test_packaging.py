"""The wheel holds every package: pyproject lists each folder with an __init__.py, because
setuptools' package-dir mapping does not discover subpackages by itself."""

import sys

from conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

ROOTS = {"suite": "accelbench", "rules": "accelbench.rules",
         "reference": "accelbench.reference", "submissions": "accelbench.submissions"}


def test_every_package_folder_is_listed():
    listed = set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = set()
    for folder, name in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(REPO / folder).parts
            found.add(".".join((name, *parts)))
    assert found == listed
