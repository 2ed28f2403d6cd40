"""How the reference code sets torch's CPU threads, and why: a weights recipe trains on one thread
so that the same torch version computes the same bits whatever the core count; a serving session
leaves one core to LoadGen, whose scheduler spins while it waits (with torch's threads on every core
of a 2-core machine a Server p99 went from 29 ms to 474 ms between two runs; with 1, 38-51 ms)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def leave_one_core() -> int:
    """Use every core this process may run on but one; returns the thread count before."""
    before = torch.get_num_threads()
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - 1))
    return before
