"""Dropping the operating system's page cache before a run, as MLPerf's training rules ask
(their logs must hold a `cache_clear` event): a run must not start faster because an earlier
one left its files in memory.

Only root may write /proc/sys/vm/drop_caches, and a container sees /proc/sys read-only, so a
process often cannot; it then says why, and the result and the log record that the cache was
not cleared. One process per host clears it (the ranks of a host share its cache).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DROP_CACHES = Path("/proc/sys/vm/drop_caches")


@dataclass(frozen=True)
class CacheClearing:
    """Whether this host's page cache was dropped, and how, or why not."""

    cleared: bool
    detail: str


def clear_page_cache(drop_caches: Path = DROP_CACHES, euid: int | None = None) -> CacheClearing:
    """Write back dirty pages, then drop the page cache, dentries and inodes ("3")."""
    euid = os.geteuid() if euid is None else euid
    if euid != 0:
        return CacheClearing(False, f"not root (euid {euid}): only root may write {drop_caches}")
    os.sync()
    try:
        with open(drop_caches, "w", encoding="ascii") as handle:
            handle.write("3\n")
    except OSError as err:
        return CacheClearing(False, f"cannot write {drop_caches} ({err.strerror}; read-only inside a container)")
    return CacheClearing(True, f"synced, then wrote 3 to {drop_caches}")


def combined(hosts: list[CacheClearing]) -> CacheClearing:
    """One verdict for a run over several hosts: cleared only if every host's cache was."""
    failed = [host.detail for host in hosts if not host.cleared]
    if not failed:
        return hosts[0] if len(hosts) == 1 else CacheClearing(True, f"{hosts[0].detail}, on each of {len(hosts)} hosts")
    return CacheClearing(False, failed[0] + (f" (and {len(failed) - 1} more hosts)" if len(failed) > 1 else ""))
