"""Which meter a process reads, chosen from the platform and the process's local rank.

Every process of a run measures its own device, and a device shared by the processes of a host
is measured by one of them, so that summing the processes counts each device once:
  cpu  - the RAPL domains of the host, on local rank 0 only (all ranks share the packages);
  a100 - this process's GPU through NVML;
  ipu  - the boards of this process's IPUs through gcipuinfo, else gc-monitor (see ipu_boards).
Whatever is missing comes back as Unavailable with the reason, never as a meter that reads 0.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from accelbench.energy.gc_monitor import gc_monitor_poll
from accelbench.energy.gcipuinfo_source import gcipuinfo_poll
from accelbench.energy.ipu_boards import IpuBoardMeter, board_meter
from accelbench.energy.meter import PowerMeter, Unavailable
from accelbench.energy.nvml import nvml_meter_for_rank
from accelbench.energy.rapl import POWERCAP, rapl_meter

PLATFORMS = ("cpu", "a100", "ipu")
RAPL_ON_RANK_0 = ("measured by local rank 0 of this host: all ranks on a host share its RAPL "
                  "packages, so only one of them counts their energy")
GCDA_MONITOR_HINT = ("GCDA_MONITOR is not set: IPU applications read their power sensors only when "
                     "it is (GCDA_MONITOR=1), so board power may read N/A")


def choose_meter(platform: str, local_rank: int, *,
                 powercap_root: Path = POWERCAP) -> PowerMeter | Unavailable:
    """The meter for this process on `platform` ("cpu", "a100" or "ipu"), or why there is none."""
    if local_rank < 0:
        raise ValueError(f"local rank {local_rank} is negative")
    if platform == "cpu":
        return rapl_meter(powercap_root) if local_rank == 0 else Unavailable(RAPL_ON_RANK_0)
    if platform == "a100":
        return nvml_meter_for_rank(local_rank)
    if platform == "ipu":
        return ipu_meter(local_rank, os.getpid())
    raise ValueError(f"no power meter for platform {platform!r}: use one of {', '.join(PLATFORMS)}")


def ipu_meter(local_rank: int, process_id: int, gcipuinfo_module: ModuleType | None = None,
              gc_monitor_run: Callable[[], str] | None = None) -> IpuBoardMeter | Unavailable:
    """Board power through gcipuinfo if it is installed, else through gc-monitor's output."""
    reasons = []
    for name, poll in (("gcipuinfo", gcipuinfo_poll(gcipuinfo_module)),
                       ("gc-monitor", gc_monitor_poll(gc_monitor_run))):
        if isinstance(poll, Unavailable):
            reasons.append(poll.reason)
            continue
        meter = board_meter(name, poll, local_rank, process_id)
        if isinstance(meter, IpuBoardMeter) and "GCDA_MONITOR" not in os.environ:
            meter.description += f" ({GCDA_MONITOR_HINT})"
        return meter
    return Unavailable("no IPU power source: " + "; ".join(reasons))
