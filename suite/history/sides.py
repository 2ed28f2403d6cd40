"""What one side of `compare` names: result files on disk, or runs in the store.

A side is a path (a results directory, run_N.json files' folder, or a pytest-benchmark JSON),
read and verified without storing it; a selection `key=value,...` over the store; or a bare
commit hash, short for `commit=HASH`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable
from pathlib import Path

from accelbench.errors import UserError
from accelbench.history.importing import read_records
from accelbench.history.queries import SELECTION_KEYS, SetKey, Values, parse_selection, select_values
from accelbench.history.records import Record
from accelbench.history.store import Store

COMMIT = re.compile(r"^[0-9a-f]{6,40}$")


def grouped(records: Iterable[Record]) -> dict[SetKey, dict[str, Values]]:
    """Per set, per metric, the values of the records, in the order given."""
    found: dict[SetKey, dict[str, Values]] = defaultdict(dict)
    for record in records:
        metrics = found[SetKey(record.system, record.workload, record.scale, record.division)]
        for metric in record.metrics:
            metrics.setdefault(metric.name, Values(metric.higher_is_better, [])).values.append(metric.value)
    return dict(found)


def resolve_side(name: str, argument: str, store: Callable[[], Store],
                 trusted_key_ids: Collection[str] | None = None) -> dict[SetKey, dict[str, Values]]:
    """The values `argument` names; `store` opens the store only when a side needs it."""
    path = Path(argument)
    if path.exists():
        return grouped(read_records([path], trusted_key_ids))
    if "=" in argument:
        return select_values(store(), parse_selection(argument))
    if COMMIT.match(argument):
        return select_values(store(), parse_selection(f"commit={argument}"))
    raise UserError(f"{name} {argument!r} is neither an existing path, a commit hash, nor a selection "
                    f"key=value[,key=value] (keys {', '.join(SELECTION_KEYS)}): e.g. commit=3f2a9c1")
