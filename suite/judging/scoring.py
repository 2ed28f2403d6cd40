"""Olympic scoring: the mean time-to-train after dropping the fastest and the slowest run.

As in MLPerf Training: a non-converged run counts as the slowest and may be dropped, but more
non-converged runs than the rules allow make the score invalid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OlympicScore:
    value_s: float | None
    valid: bool
    reason: str
    kept: tuple[int, ...]
    dropped: tuple[int, ...]
    non_converged: int


def olympic_score(
    times_s: Sequence[float | None], minimum_runs: int, max_non_converged: int
) -> OlympicScore:
    """Score runs given their times to train (None for a run that did not converge)."""
    runs = len(times_s)
    failed = [i for i, t in enumerate(times_s) if t is None or not math.isfinite(t)]
    if runs == 0:
        return OlympicScore(None, False, "no runs", (), (), 0)
    order = sorted(range(runs), key=lambda i: math.inf if i in failed else times_s[i])
    dropped = (order[0], order[-1]) if runs >= 3 else ()
    kept = tuple(sorted(i for i in order if i not in dropped))
    kept_failed = [i for i in kept if i in failed]
    value = None if kept_failed else sum(times_s[i] for i in kept) / len(kept)  # type: ignore[misc]
    if len(failed) > max_non_converged:
        reason = f"{len(failed)} of {runs} runs did not converge; at most {max_non_converged} allowed"
        return OlympicScore(None, False, reason, kept, dropped, len(failed))
    if value is None:
        reason = f"{len(kept_failed)} non-converged run(s) remain after dropping the slowest"
        return OlympicScore(None, False, reason, kept, dropped, len(failed))
    if runs < minimum_runs:
        reason = f"{runs} run(s) but the rules require {minimum_runs}: mean reported, not a valid score"
        return OlympicScore(value, False, reason, kept, dropped, len(failed))
    return OlympicScore(value, True, "ok", kept, dropped, len(failed))
