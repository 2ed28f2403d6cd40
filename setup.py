"""The build's package list, found rather than written down.

The import package `accelbench` lives in four top folders (see ARCHITECTURE.md): suite/ is
`accelbench`, and rules/, reference/ and submissions/ are its subpackages of the same names.
Every folder below them with an `__init__.py` is a subpackage, so a new workload, kind or
system folder needs no change here or in pyproject.toml (tests/test_wheel.py checks that each
folder with Python in it is importable from the built wheel).
"""

from setuptools import find_packages, setup

FOLDERS = {
    "accelbench": "suite",
    "accelbench.rules": "rules",
    "accelbench.reference": "reference",
    "accelbench.submissions": "submissions",
}


def packages() -> list[str]:
    found = []
    for name, folder in FOLDERS.items():
        found.append(name)
        found.extend(f"{name}.{sub}" for sub in find_packages(folder))
    return found


setup(
    packages=packages(),
    package_dir=FOLDERS,
    package_data={"accelbench.rules": ["v1/*.toml"]},
)
