"""IPU statuses from gcipuinfo, the Python library of the Poplar SDK (not on PyPI).

Every device comes back as a mapping of the attribute names that `gc-info --device-info` prints
("id", "board serial number", "total board power", "user process id", ...) to strings. Multi-IPU
devices carry no board serial and are skipped: their IPUs are listed one by one as well.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from types import ModuleType

from accelbench.energy.ipu_boards import IpuStatus, Poll
from accelbench.energy.ipu_power import parse_power_w
from accelbench.energy.meter import Unavailable

NOT_INSTALLED = "gcipuinfo is not installed (it ships with the Poplar SDK, inside the Graphcore image)"


def gcipuinfo_poll(module: ModuleType | None = None) -> Poll | Unavailable:
    """A poll over gcipuinfo in update mode (fresh sensor values on every call)."""
    if module is None:
        try:
            module = importlib.import_module("gcipuinfo")
        except ImportError:
            return Unavailable(NOT_INSTALLED)
    info = module.gcipuinfo()
    info.setUpdateMode(True)
    return lambda: statuses_from_attributes([dict(device) for device in info.getDevices()])


def statuses_from_attributes(devices: Sequence[Mapping[str, str]]) -> list[IpuStatus]:
    """The single IPUs among gcipuinfo's devices, with their board and its power."""
    statuses = []
    for attributes in devices:
        serial = attributes.get("board serial number")
        if not serial:
            continue
        process = attributes.get("user process id")
        power = attributes.get("total board power")
        statuses.append(IpuStatus(
            ipu_id=int(attributes["id"]),
            board_serial=serial.strip(),
            process_id=int(process) if process else None,
            board_power_w=parse_power_w(power) if power is not None else None,
        ))
    return statuses
