"""IPU board power: which boards this process measures, and the meter that reads them.

Graphcore reports power per board, and a board carries two IPUs (an IPU-Machine has two boards,
a C600 card one), so power is read once per board, keyed by the board's serial number (unique
worldwide, so the same board seen from two hosts of a pod is still one device).

A process measures the boards whose IPUs it has attached (the tools report the attaching
process id). When no IPU names this process (the tools predate that attribute, or the model is
not attached yet) the mapping is unknowable: local rank 0 then measures every board it sees
and says so, and the other ranks measure none, so no board is counted twice on a host.
Both sources, the gcipuinfo library and the gc-monitor tool, produce the same statuses.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from accelbench.energy.meter import DeviceReading, Unavailable


@dataclass(frozen=True)
class IpuStatus:
    """One IPU as a monitoring tool reports it."""

    ipu_id: int
    board_serial: str
    process_id: int | None  # the process attached to it, if the tool says
    board_power_w: float | None  # None: not read, or shown on the board's other IPU


Poll = Callable[[], Sequence[IpuStatus]]


class IpuBoardMeter:
    """Board power of a fixed set of boards, from whichever tool `poll` asks."""

    def __init__(self, name: str, poll: Poll, boards: Sequence[str], description: str) -> None:
        self.name = name
        self._poll = poll
        self._boards = tuple(boards)
        self.devices = tuple(board_device_id(b) for b in self._boards)
        self.description = description

    def read(self) -> dict[str, DeviceReading]:
        power = board_power(self._poll())
        return {board_device_id(b): DeviceReading(power_w=power.get(b)) for b in self._boards}

    def close(self) -> None:
        """Nothing to release: each poll stands alone."""


def board_device_id(serial: str) -> str:
    return f"ipu:board-{serial}"


def board_power(statuses: Sequence[IpuStatus]) -> dict[str, float | None]:
    """Each board's power: the first reading among its IPUs (the tools show it on one of them)."""
    power: dict[str, float | None] = {}
    for status in statuses:
        if power.get(status.board_serial) is None:
            power[status.board_serial] = status.board_power_w
    return power


def board_meter(name: str, poll: Poll, local_rank: int, process_id: int) -> IpuBoardMeter | Unavailable:
    """The meter over this process's boards (see the module's rule), probed by one poll."""
    try:
        statuses = poll()
    except Exception as error:  # a vendor tool: its failures have no common type
        return Unavailable(f"{name} failed: {error}")
    if not statuses:
        return Unavailable(f"{name} reports no IPU board in use on this host")
    mine = sorted({s.board_serial for s in statuses if s.process_id == process_id})
    if mine:
        return IpuBoardMeter(name, poll, mine, f"{name}: board power of the {len(mine)} board(s) "
                             f"holding the IPUs of process {process_id}")
    if local_rank != 0:
        return Unavailable("measured by local rank 0 of this host: no IPU names this process, "
                           "so rank 0 measures every board")
    every = sorted({s.board_serial for s in statuses})
    return IpuBoardMeter(name, poll, every, f"{name}: board power of all {len(every)} board(s) seen "
                         "by local rank 0 (no IPU names this process, so which boards are its own "
                         "is unknown)")
