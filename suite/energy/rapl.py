"""Host CPU energy from RAPL, through the Linux powercap tree (/sys/class/powercap).

Only package domains ("package-N") and their DRAM sub-domains are read: core, uncore and psys
overlap the package (core and uncore lie inside it, psys contains it), so adding them would
count the same joules twice. AMD processors show up through the same intel-rapl driver, usually
with package domains only; whatever the tree shows is what is read.

Since Linux 5.10 energy_uj is readable by root only (CVE-2020-8694), so "not readable" is the
common answer on shared machines, and it is reported as such rather than as zero.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from accelbench.energy.meter import DeviceReading, Unavailable
from accelbench.energy.wrapping_counter import WrappingCounter

POWERCAP = Path("/sys/class/powercap")
_PACKAGE_ZONE = re.compile(r"intel-rapl:(\d+)")
_SUB_ZONE = re.compile(r"intel-rapl:(\d+):(\d+)")
MICRO = 1e-6


@dataclass(frozen=True)
class RaplDomain:
    device_id: str  # "rapl:package-0" or "rapl:package-0/dram"
    energy_file: Path
    max_energy_range_uj: int


class RaplMeter:
    """Reads the package and DRAM counters of this host, unwrapped, in joules."""

    name = "rapl"

    def __init__(self, domains: list[RaplDomain]) -> None:
        self.domains = domains
        self.devices = tuple(d.device_id for d in domains)
        self.description = "RAPL " + ", ".join(d.device_id.removeprefix("rapl:") for d in domains)
        # energy_uj reaches max_energy_range_uj itself before it restarts from 0.
        self._counters = [WrappingCounter(d.max_energy_range_uj + 1) for d in domains]

    def read(self) -> dict[str, DeviceReading]:
        return {
            domain.device_id: DeviceReading(energy_j=counter.update(_read_int(domain.energy_file)) * MICRO)
            for domain, counter in zip(self.domains, self._counters)
        }

    def close(self) -> None:
        """Nothing to release: every read opens its file afresh."""


def rapl_meter(root: Path = POWERCAP) -> RaplMeter | Unavailable:
    """A meter over the RAPL domains under `root`, or why there is none (probed by one read)."""
    try:
        domains = find_domains(root)
    except (OSError, ValueError) as error:
        return Unavailable(_why_unreadable(error))
    if not domains:
        return Unavailable(f"no {root}/intel-rapl:* package domains on this machine")
    meter = RaplMeter(domains)
    try:
        meter.read()
    except (OSError, ValueError) as error:
        return Unavailable(_why_unreadable(error))
    return meter


def find_domains(root: Path) -> list[RaplDomain]:
    """The package domains under `root`, each followed by its DRAM sub-domain if it has one."""
    if not root.is_dir():
        return []
    zones = {path.name: path for path in root.iterdir()}
    packages = sorted(
        (int(match[1]), path) for name, path in zones.items() if (match := _PACKAGE_ZONE.fullmatch(name))
    )
    domains = []
    for index, path in packages:
        package = _read_name(path)
        if not package.startswith("package-"):
            continue  # psys (the whole platform) would contain the packages
        domains.append(_domain(f"rapl:{package}", path))
        subzones = sorted(
            (int(match[2]), sub) for name, sub in zones.items()
            if (match := _SUB_ZONE.fullmatch(name)) and int(match[1]) == index
        )
        domains.extend(_domain(f"rapl:{package}/dram", sub)
                       for _, sub in subzones if _read_name(sub) == "dram")
    return domains


def _domain(device_id: str, zone: Path) -> RaplDomain:
    return RaplDomain(device_id, zone / "energy_uj", _read_int(zone / "max_energy_range_uj"))


def _read_name(zone: Path) -> str:
    with open(zone / "name", encoding="ascii") as file:
        return file.read().strip()


def _read_int(path: Path) -> int:
    with open(path, "rb") as file:
        text = file.read()
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{path} holds {text[:40]!r}, not a whole number of microjoules") from None


def _why_unreadable(error: OSError | ValueError) -> str:
    if isinstance(error, PermissionError):
        where = Path(error.filename) if error.filename else Path("energy_uj")
        return (f"RAPL {where.name} is not readable by this user (permission denied): run as root "
                f"or grant read access to {where}")
    if isinstance(error, OSError):
        return f"RAPL file {error.filename} cannot be read: {error.strerror or error}"
    return f"RAPL counter is malformed: {error}"
