"""The images' requirement locks: complete for the suite, consistent with pyproject.toml, and free
of the two-cuDNN clash the GPU image is designed to avoid."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

if sys.version_info >= (3, 11):
    import tomllib
else:  # the IPU image's Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
IMAGE_PYTHON = {"gpu": "3.12", "ipu": "3.10"}  # Ubuntu 24.04 and 22.04 system Pythons


def pins(vendor: str) -> dict[str, Version]:
    found = {}
    for line in (REPO / f"containers/requirements-{vendor}.lock").read_text().splitlines():
        if line and not line.startswith((" ", "#")):
            name, _, version = line.partition("==")
            found[name.strip().lower()] = Version(version.strip())
    return found


def suite_requirements(extras: tuple[str, ...]) -> list[Requirement]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    listed = project["dependencies"] + [r for extra in extras for r in project["optional-dependencies"][extra]]
    return [Requirement(r) for r in listed]


@pytest.mark.parametrize("vendor,extras", [("gpu", ("gpu", "sampling")), ("ipu", ())])
def test_the_lock_pins_every_suite_dependency_within_its_range(vendor, extras):
    locked = pins(vendor)
    environment = {"python_version": IMAGE_PYTHON[vendor], "sys_platform": "linux", "platform_system": "Linux"}
    for requirement in suite_requirements(extras):
        if requirement.marker and not requirement.marker.evaluate(environment):
            continue
        if vendor == "ipu" and requirement.name == "torch":
            continue  # PopTorch's wheel brings torch 2.0.1+cpu
        name = requirement.name.lower()
        assert name in locked, f"{name} is missing from the {vendor} lock: run containers/compile-locks.sh"
        assert requirement.specifier.contains(locked[name], prereleases=True), (name, str(locked[name]))


def test_the_gpu_lock_holds_one_cudnn_and_one_nccl_shared_by_torch_and_tensorflow():
    locked = pins("gpu")
    assert [n for n in locked if n.startswith("nvidia-cudnn")] == ["nvidia-cudnn-cu12"]
    assert [n for n in locked if n.startswith("nvidia-nccl")] == ["nvidia-nccl-cu12"]
    assert not any(n.endswith("-cu13") or n == "cuda-toolkit" for n in locked)
    assert locked["torch"] == Version("2.10.0")
    assert locked["tensorflow"].release[:2] == (2, 20)
    assert "tensorflow-probability" in locked and "tf-keras" in locked


def test_the_ipu_lock_leaves_torch_and_cuda_to_poptorch_and_keeps_numpy_1():
    locked = pins("ipu")
    assert "torch" not in locked and "triton" not in locked
    assert not any(n.startswith("nvidia-") for n in locked)
    assert locked["numpy"].major == 1
    assert {"sympy", "networkx", "jinja2", "filelock"} <= set(locked)  # torch's own dependencies


@pytest.mark.parametrize("vendor", ["gpu", "ipu"])
def test_each_lock_says_how_it_was_compiled_and_pins_the_build_backend(vendor):
    header = (REPO / f"containers/requirements-{vendor}.lock").read_text().splitlines()[:2]
    assert f"uv pip compile pyproject.toml containers/requirements-{vendor}.in" in header[1]
    assert f"-o containers/requirements-{vendor}.lock" in header[1]
    assert f"containers/requirements-{vendor}.in" in (REPO / "containers/compile-locks.sh").read_text()
    assert "setuptools" in pins(vendor)
