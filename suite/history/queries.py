"""Reading the store: selections written on the command line, and the values they pick.

A selection is `key=value[,key=value...]` over the keys the store is indexed by, e.g.
`commit=3f2a9c1,system=cpu` or `import=accepted,scale=smoke`: commit matches a prefix, import
is an import's number, `last` or `accepted` (the latest accepted), since/until are dates.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, fields, replace
from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import Select, func, select

from accelbench.errors import UserError
from accelbench.history.store import ImportBatch, MetricRow, RunRow, Store

SELECTION_KEYS = ("system", "workload", "scale", "division", "commit", "import", "since", "until")
_VALUE = re.compile(r"^[A-Za-z0-9_.:/\-\[\]]+$")


@dataclass(frozen=True)
class Selection:
    system: str | None = None
    workload: str | None = None
    scale: str | None = None
    division: str | None = None
    commit: str | None = None  # a prefix of the suite commit
    batch: str | None = None  # `import=`: a number, last or accepted
    since: date | None = None
    until: date | None = None

    def text(self) -> str:
        """The selection as `parse_selection` reads it back."""
        parts = []
        for key in SELECTION_KEYS:
            value = getattr(self, "batch" if key == "import" else key)
            if value is not None:
                parts.append(f"{key}={value.isoformat() if isinstance(value, date) else value}")
        return ",".join(parts)


def _date(key: str, value: str, text: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise UserError(f"selection {text!r}: {key}={value!r} is not a date: write it YYYY-MM-DD") from None


def parse_selection(text: str) -> Selection:
    """`key=value,...` as a Selection; one line naming the bad part and the keys there are."""
    if not text.strip():
        raise UserError(f"selection {text!r} is empty: write key=value[,key=value], keys {', '.join(SELECTION_KEYS)}")
    chosen: dict[str, object] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or key not in SELECTION_KEYS:
            raise UserError(f"selection {text!r}: {part!r} is not key=value with a key of {', '.join(SELECTION_KEYS)}")
        if not _VALUE.match(value):
            raise UserError(f"selection {text!r}: {key}={value!r}: the value must be letters, digits or _.:/-[]")
        name = "batch" if key == "import" else key
        if name in chosen:
            raise UserError(f"selection {text!r}: {key} is given twice: give each key once")
        if name == "batch" and value not in ("last", "accepted") and not value.isdigit():
            raise UserError(f"selection {text!r}: import={value!r}: give an import number, last or accepted")
        chosen[name] = _date(key, value, text) if name in ("since", "until") else value
    return Selection(**chosen)  # type: ignore[arg-type]


@dataclass(frozen=True)
class SetKey:
    """The runs one comparison or one history line is over."""

    system: str
    workload: str
    scale: str
    division: str

    def __str__(self) -> str:
        return f"{self.system}/{self.workload}/{self.scale} ({self.division})"


@dataclass
class Values:
    higher_is_better: bool | None
    values: list[float]


def _batch_id(store: Store, session, which: str) -> int | None:
    if which.isdigit():
        return int(which)
    query = select(func.max(ImportBatch.id))
    if which == "accepted":
        query = query.where(ImportBatch.accepted.is_(True))
    return session.scalar(query)


def _where(query: Select, selection: Selection, batch_id: int | None) -> Select:
    for name in ("system", "workload", "scale", "division"):
        value = getattr(selection, name)
        if value is not None:
            query = query.where(getattr(RunRow, name) == value)
    if selection.commit is not None:
        query = query.where(RunRow.suite_commit.startswith(selection.commit, autoescape=True))
    if selection.batch is not None:
        query = query.where(RunRow.import_id == batch_id)
    if selection.since is not None:
        query = query.where(RunRow.created_at >= datetime.combine(selection.since, time(), timezone.utc))
    if selection.until is not None:
        end = datetime.combine(selection.until + timedelta(days=1), time(), timezone.utc)
        query = query.where(RunRow.created_at < end)
    return query


def select_values(store: Store, selection: Selection) -> dict[SetKey, dict[str, Values]]:
    """Per set, per metric, the values of every stored run the selection picks (one line if none)."""
    with store.sessions() as session:
        batch_id = _batch_id(store, session, selection.batch) if selection.batch is not None else None
        query = _where(
            select(RunRow.system, RunRow.workload, RunRow.scale, RunRow.division, MetricRow.name,
                   MetricRow.value, MetricRow.higher_is_better).join(MetricRow, MetricRow.run_id == RunRow.id),
            selection, batch_id,
        ).order_by(RunRow.id, MetricRow.name, MetricRow.position)
        rows = session.execute(query).all()
    if not rows:
        raise UserError(f"{store.url}: no stored runs match {selection.text()!r}: see `accelbench store list`")
    found: dict[SetKey, dict[str, Values]] = defaultdict(dict)
    for system, workload, scale, division, name, value, higher in rows:
        metrics = found[SetKey(system, workload, scale, division)]
        metrics.setdefault(name, Values(higher, [])).values.append(value)
    return dict(found)


@dataclass(frozen=True)
class StoredSet:
    key: SetKey
    runs: int
    commits: int
    first: datetime
    last: datetime


def stored_sets(store: Store) -> list[StoredSet]:
    """What the store holds, one line per set (for `store list` and the dashboard)."""
    with store.sessions() as session:
        rows = session.execute(
            select(RunRow.system, RunRow.workload, RunRow.scale, RunRow.division, func.count(RunRow.id),
                   func.count(RunRow.suite_commit.distinct()), func.min(RunRow.created_at),
                   func.max(RunRow.created_at))
            .group_by(RunRow.system, RunRow.workload, RunRow.scale, RunRow.division)
            .order_by(RunRow.system, RunRow.workload, RunRow.scale, RunRow.division)
        ).all()
    return [StoredSet(SetKey(*row[:4]), row[4], row[5], row[6], row[7]) for row in rows]


def stored_metrics(store: Store, key: SetKey) -> list[str]:
    with store.sessions() as session:
        return list(session.scalars(
            select(MetricRow.name).distinct().join(RunRow, MetricRow.run_id == RunRow.id)
            .where(*(getattr(RunRow, f.name) == getattr(key, f.name) for f in fields(key)))
            .order_by(MetricRow.name)
        ))


def with_batch(selection: Selection, batch_id: int) -> Selection:
    return replace(selection, batch=str(batch_id))
