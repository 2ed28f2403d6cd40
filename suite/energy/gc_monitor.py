"""IPU statuses from the text that the `gc-monitor` tool prints, when gcipuinfo is missing.

gc-monitor prints a card table (IPU ID -> board serial) and a table of attached processes, one
row per IPU, whose "Board Power" column is filled on one IPU of each board and blank on the
other. Only IPUs with an attached process are listed there, which is all a run needs. The card
table is required (do not pass --no-card-info): without serials, boards cannot be told apart.

Each reading runs the tool (tens of milliseconds or more), so sample this source at 1-2 Hz.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable

from accelbench.energy.ipu_boards import IpuStatus, Poll
from accelbench.energy.ipu_power import parse_power_w
from accelbench.energy.meter import Unavailable

TIMEOUT_S = 10.0


def gc_monitor_poll(run: Callable[[], str] | None = None) -> Poll | Unavailable:
    """A poll that runs gc-monitor (or `run`, which returns its output) and parses it."""
    if run is None:
        executable = shutil.which("gc-monitor")
        if executable is None:
            return Unavailable("gc-monitor is not on PATH (it ships with the Poplar SDK)")

        def run() -> str:
            return subprocess.run([executable], capture_output=True, text=True, timeout=TIMEOUT_S,
                                  check=True).stdout

    return lambda: parse_gc_monitor(run())


def parse_gc_monitor(text: str) -> list[IpuStatus]:
    """One status per IPU in the attached-processes table; raises on a shape it does not know."""
    serials: dict[int, str] = {}
    rows: list[tuple[int, int, str]] = []  # (IPU id, process id, power cell)
    header: list[str] | None = None
    for line in text.splitlines():
        line = line.strip()
        if not (line.startswith("|") and line.endswith("|")):
            continue  # borders, blank lines, anything around the tables
        cells = [cell.strip() for cell in line[1:-1].split("|")]
        if {"ID", "Serial"} <= set(cells) or {"ID", "PID", "Power"} <= set(cells):
            header = cells
        elif header is not None and len(cells) == len(header):
            ipu_id = _whole_number(cells[header.index("ID")], "IPU ID", line)
            if "Serial" in header:
                serials[ipu_id] = cells[header.index("Serial")]
            else:
                power_column = len(header) - 1 - header[::-1].index("Power")
                rows.append((ipu_id, _whole_number(cells[header.index("PID")], "PID", line),
                             cells[power_column]))
        else:
            header = None  # a title row: a new table starts
    missing = sorted({ipu for ipu, _, _ in rows} - serials.keys())
    if missing:
        raise ValueError(f"gc-monitor lists IPU(s) {missing} without a board serial: run it "
                         "without --no-card-info")
    return [IpuStatus(ipu, serials[ipu], process, parse_power_w(power) if power else None)
            for ipu, process, power in rows]


def _whole_number(cell: str, what: str, line: str) -> int:
    if not cell.isdigit():
        raise ValueError(f"gc-monitor {what} {cell!r} is not a whole number in: {line}")
    return int(cell)
