"""Which code runs a workload on a device: the vendor submission if there is one, else the
reference (which runs on any torch device, so it is the `cpu` system and the fallback)."""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

from accelbench.errors import UserError
from accelbench.rules.schema import BenchmarkRules
from accelbench.run.devices import Device


def _import_if_present(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name is not None and name.startswith(err.name):
            return None
        raise


def resolve_implementation(rules: BenchmarkRules, device: Device) -> ModuleType:
    """The module whose `create_session(context)` runs the workload on `device`: one per
    workload family, so every variant of a family runs the same code."""
    from accelbench.run.kinds import IMPLEMENTATION_MODULES

    workload, family, kind_module = rules.workload, rules.family, IMPLEMENTATION_MODULES[rules.kind]
    submission = _import_if_present(f"accelbench.submissions.{device.name}.{family}")
    if submission is not None:  # a family trained and served has a module per kind (`training`, `inference`)
        return _import_if_present(f"{submission.__name__}.{kind_module}") or submission
    if device.torch_device == "ipu":
        raise UserError(
            f"there is no ipu submission for '{workload}' yet (no module "
            f"accelbench.submissions.ipu.{family}); the reference cannot run on an IPU"
        )
    reference = _import_if_present(f"accelbench.reference.{family}.{kind_module}")
    if reference is None:
        raise UserError(f"workload '{workload}' has rules but no reference implementation")
    return reference


def implementation_directory(module: ModuleType) -> Path:
    """The folder whose sources are hashed into the result (the whole submission or reference)."""
    return Path(module.__file__).resolve().parent  # type: ignore[arg-type]
