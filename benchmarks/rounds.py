"""A benchmark's rounds: pytest-benchmark times its subject, and a peer (the baseline it is compared with) runs
just before the subject in every round, so that load on this shared machine hits both alike.

Each side also returns the figure it is compared by (its own seconds, or what a tool such as the harness or
LoadGen measured), kept in order in `Rounds`: the ratio comes from those, pytest-benchmark's stats and raw
rounds are the subject's wall time, and the peer's figures go into extra_info beside them.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Rounds:
    """The figures each side measured, round by round."""

    subject: list[float] = field(default_factory=list)
    peer: list[float] = field(default_factory=list)

    def pair_ratios(self) -> list[float]:
        """subject / peer in each round: their spread is the noise floor."""
        return [s / p for s, p in zip(self.subject, self.peer, strict=True)]

    def median_pair_ratio(self) -> float:
        return statistics.median(self.pair_ratios())

    def ratio_of_medians(self) -> float:
        return statistics.median(self.subject) / statistics.median(self.peer)


def run_rounds(benchmark, subject: Callable[[], float], rounds: int,
               peer: Callable[[], float] | None = None) -> Rounds:
    """`rounds` rounds of (peer, then subject) under benchmark.pedantic, one call each per round."""
    measured = Rounds()

    def run_peer() -> None:
        measured.peer.append(float(peer()))

    def run_subject() -> None:
        measured.subject.append(float(subject()))

    benchmark.pedantic(run_subject, setup=run_peer if peer else None, rounds=rounds, iterations=1)
    benchmark.extra_info["subject_rounds"] = measured.subject
    if peer:
        benchmark.extra_info["peer_rounds"] = measured.peer
    return measured


def seconds_of(work: Callable[[], object]) -> float:
    """Wall seconds of one call of `work`."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start
