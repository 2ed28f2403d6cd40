"""`accelbench store import`: verified result files into the store, all or nothing.

Every file is read and verified before the database is touched (a file that fails is refused in
one line, and nothing is stored); then the new records go in as one transaction. A record the
store already holds (the same file's bytes) is skipped, so importing twice stores once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from accelbench.errors import UserError
from accelbench.history.benchmark_json import benchmark_records, is_benchmark_json, read_benchmark_json
from accelbench.history.records import Record, run_record
from accelbench.history.store import ImportBatch, MetricRow, RunRow, Store
from accelbench.results.layout import find_run_files, run_index
from accelbench.results.models import SignedBenchmarkScore
from accelbench.trust.verification import verify_file

CHUNK = 500  # rows per IN (...) lookup and per INSERT round trip


@dataclass(frozen=True)
class ImportSummary:
    batch_id: int | None  # None: nothing new
    files: int
    added: int
    already_stored: int


def result_files(paths: Sequence[Path]) -> list[Path]:
    """run_N.json files below the directories given, and the files given (run results or
    pytest-benchmark JSON), each once."""
    directories = [path for path in paths if path.is_dir()]
    files = [path for path in paths if not path.is_dir()]
    for path in files:
        if not path.exists():
            raise UserError(f"{path} does not exist: pass result directories, run_N.json or pytest-benchmark JSON")
    found = find_run_files(directories) if directories else []
    return sorted({path.resolve(): path for path in [*found, *files]}.values())


def read_records(
    paths: Sequence[Path], trusted_key_ids: Collection[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Record]:
    """Every file verified and turned into records; the first file that fails stops it, in one line."""
    files = result_files(paths)
    records: list[Record] = []
    for done, path in enumerate(files, 1):
        data = path.read_bytes()
        digest = hashlib.sha256(data).hexdigest()
        if run_index(path) is None:
            document = read_benchmark_json(path, data)
            if not is_benchmark_json(document):
                raise UserError(f"{path}: neither a run_N.json nor a pytest-benchmark JSON: pass those only")
            records.extend(benchmark_records(path, document, digest))
        else:
            verified = verify_file(path, trusted_key_ids)
            if isinstance(verified.document, SignedBenchmarkScore):
                raise UserError(f"{path} is a score, not a run result: pass run_N.json files")
            records.append(run_record(verified.document, str(path), digest, verified.key_id))
        if progress is not None:
            progress(done, len(files))
    return records


def _run_row(record: Record, batch_id: int) -> dict:
    row = {column.name: getattr(record, column.name) for column in RunRow.__table__.columns
           if hasattr(record, column.name)}
    return {**row, "import_id": batch_id}


def store_records(store: Store, records: Sequence[Record], label: str) -> ImportSummary:
    """Add the records the store lacks, as one import batch in one transaction."""
    unique = list({record.record_sha256: record for record in records}.values())
    try:
        with store.sessions.begin() as session:
            hashes = [record.record_sha256 for record in unique]
            stored: set[str] = set()
            for start in range(0, len(hashes), CHUNK):
                chunk = hashes[start:start + CHUNK]
                stored.update(session.scalars(select(RunRow.record_sha256).where(RunRow.record_sha256.in_(chunk))))
            new = [record for record in unique if record.record_sha256 not in stored]
            if not new:
                return ImportSummary(None, len(unique), 0, len(unique))
            batch = ImportBatch(label=label[:200], imported_at=datetime.now(timezone.utc), accepted=False)
            session.add(batch)
            session.flush()
            for start in range(0, len(new), CHUNK):
                chunk = new[start:start + CHUNK]
                ids = session.scalars(insert(RunRow).returning(RunRow.id, sort_by_parameter_order=True),
                                      [_run_row(record, batch.id) for record in chunk]).all()
                metrics = [{"run_id": run_id, "name": m.name, "position": m.position, "value": m.value,
                            "higher_is_better": m.higher_is_better}
                           for run_id, record in zip(ids, chunk) for m in record.metrics]
                if metrics:
                    session.execute(insert(MetricRow), metrics)
            return ImportSummary(batch.id, len(unique), len(new), len(unique) - len(new))
    except IntegrityError:
        raise UserError(f"{store.url}: another import stored some of these files at the same time; nothing "
                        "from this one was kept: run the import again") from None
    except SQLAlchemyError as err:
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise UserError(f"{store.url}: the import failed ({reason}); nothing was kept: check the store "
                        "and run it again") from None


def import_results(
    store: Store, paths: Sequence[Path], label: str, trusted_key_ids: Collection[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ImportSummary:
    return store_records(store, read_records(paths, trusted_key_ids, progress), label)
