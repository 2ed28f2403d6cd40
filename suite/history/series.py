"""A metric of one set over commits or dates: the points `history` prints, plots and steps through.

A point is every stored run of one suite commit (or of one UTC day), in the order the commits
were first run; its spread is the runs' minimum to maximum, its level their median.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Literal

from sqlalchemy import select

from accelbench.errors import UserError
from accelbench.history.queries import SetKey, stored_metrics
from accelbench.history.store import MetricRow, RunRow, Store

Axis = Literal["commit", "date"]
UNCOMMITTED = "(no commit)"


@dataclass(frozen=True)
class Point:
    label: str  # the commit's first 10 hex digits, or the date
    commit: str | None
    first_run_at: datetime
    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)


@dataclass(frozen=True)
class Series:
    key: SetKey
    metric: str
    axis: Axis
    higher_is_better: bool | None
    points: tuple[Point, ...]


def _utc(moment: datetime) -> datetime:
    """SQLite hands times back naive; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def metric_series(store: Store, key: SetKey, metric: str, axis: Axis = "commit") -> Series:
    """`metric` of the set `key` over commits or dates; one line if the store has none of it."""
    with store.sessions() as session:
        rows = session.execute(
            select(RunRow.suite_commit, RunRow.created_at, MetricRow.value, MetricRow.higher_is_better)
            .join(MetricRow, MetricRow.run_id == RunRow.id)
            .where(RunRow.system == key.system, RunRow.workload == key.workload, RunRow.scale == key.scale,
                   RunRow.division == key.division, MetricRow.name == metric)
            .order_by(RunRow.created_at, RunRow.id, MetricRow.position)
        ).all()
    if not rows:
        metrics = stored_metrics(store, key)
        if not metrics:
            raise UserError(f"{store.url}: the history of {key} is empty: import its results with "
                            "`accelbench store import RESULTS_DIR` (see `accelbench store list`)")
        raise UserError(f"{store.url}: no {metric} stored for {key}: pass --metric with one of {', '.join(metrics)}")
    groups: dict[str, list] = {}
    for commit, created_at, value, _ in rows:
        label = created_at.date().isoformat() if axis == "date" else (commit[:10] if commit else UNCOMMITTED)
        groups.setdefault(label, [commit, _utc(created_at), []])[2].append(value)
    points = tuple(Point(label, commit if axis == "commit" else None, first, tuple(values))
                   for label, (commit, first, values) in groups.items())
    return Series(key, metric, axis, rows[0][3], points)
