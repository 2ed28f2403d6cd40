"""The pipeline's baselines: the last accepted import that holds a set, and accepting an import.

An import is accepted when its pipeline run passed the gate; the next run is compared with it,
so a regression that was let through once does not become the new normal by accident.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from accelbench.history.queries import SetKey
from accelbench.history.store import ImportBatch, RunRow, Store


def sets_in_batch(store: Store, batch_id: int) -> list[SetKey]:
    with store.sessions() as session:
        rows = session.execute(
            select(RunRow.system, RunRow.workload, RunRow.scale, RunRow.division).where(RunRow.import_id == batch_id)
            .distinct().order_by(RunRow.system, RunRow.workload, RunRow.scale, RunRow.division)
        ).all()
    return [SetKey(*row) for row in rows]


def last_accepted(store: Store, key: SetKey, before: int) -> int | None:
    """The newest accepted import older than `before` that holds runs of `key`; None if none."""
    with store.sessions() as session:
        return session.scalar(
            select(func.max(ImportBatch.id)).join(RunRow, RunRow.import_id == ImportBatch.id)
            .where(ImportBatch.accepted.is_(True), ImportBatch.id < before, RunRow.system == key.system,
                   RunRow.workload == key.workload, RunRow.scale == key.scale, RunRow.division == key.division)
        )


def accept(store: Store, batch_id: int) -> None:
    with store.sessions.begin() as session:
        session.execute(update(ImportBatch).where(ImportBatch.id == batch_id).values(accepted=True))
