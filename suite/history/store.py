"""The results store: an index over verified result files in a real database, through SQLAlchemy.

The signed files stay the source of truth; the store remembers what they said so that a metric
over the last hundred commits is one query. SQLite in the user's data dir is the default (nothing
to start); a centre that shares one store across machines passes a PostgreSQL URL. Tables:

- `imports`: one row per import, one transaction each; the pipeline marks the ones it accepted.
- `runs`: one row per stored record (a run_N.json, or one benchmark of a pytest-benchmark JSON),
  keyed by what selects it: system, workload, scale, division, suite commit, software versions,
  container digest and date; `record_sha256` makes a second import of the same file a no-op.
- `metrics`: the numbers of each record, one row per value (a benchmark's rounds are positions).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import platformdirs
from sqlalchemy import (
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, sessionmaker

from accelbench.errors import UserError

DB_ENV = "ACCELBENCH_DB"
DB_FILE_NAME = "results.sqlite"


class Base(DeclarativeBase):
    pass


class ImportBatch(Base):
    __tablename__ = "imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    runs: Mapped[list[RunRow]] = relationship(back_populates="batch")


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        Index("runs_by_set", "system", "workload", "scale", "division"),
        Index("runs_by_commit", "suite_commit"),
        Index("runs_by_date", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    import_id: Mapped[int] = mapped_column(ForeignKey("imports.id"), index=True)
    record_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(40))
    system: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(40))
    workload: Mapped[str] = mapped_column(String(300))
    scale: Mapped[str] = mapped_column(String(40))
    division: Mapped[str] = mapped_column(String(40))
    mode: Mapped[str] = mapped_column(String(40))
    run_index: Mapped[int] = mapped_column(Integer)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    passed: Mapped[bool] = mapped_column(Boolean)
    suite_version: Mapped[str] = mapped_column(String(40))
    suite_commit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    suite_dirty: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    software: Mapped[str] = mapped_column(Text)  # canonical JSON of the package versions
    container_digest: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    batch: Mapped[ImportBatch] = relationship(back_populates="runs")
    metrics: Mapped[list[MetricRow]] = relationship(back_populates="run", cascade="all, delete-orphan")


class MetricRow(Base):
    __tablename__ = "metrics"
    __table_args__ = (
        UniqueConstraint("run_id", "name", "position"),
        Index("metrics_by_name", "name", "run_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id"))
    name: Mapped[str] = mapped_column(String(200))
    position: Mapped[int] = mapped_column(Integer, default=0)
    value: Mapped[float] = mapped_column(Float)
    higher_is_better: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None: reported, not gated
    run: Mapped[RunRow] = relationship(back_populates="metrics")


def default_url() -> str:
    """$ACCELBENCH_DB, else SQLite beside the datasets ($ACCELBENCH_DATA_DIR or the user's data dir)."""
    if os.environ.get(DB_ENV):
        return os.environ[DB_ENV]
    root = os.environ.get("ACCELBENCH_DATA_DIR") or platformdirs.user_data_dir("accelbench")
    return f"sqlite:///{Path(root) / DB_FILE_NAME}"


def shown(url: URL | str) -> str:
    """The URL for messages: never the password."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


class Store:
    """An open store: its engine and a session factory; `open_store` makes one."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def url(self) -> str:
        return shown(self.engine.url)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _sqlite_foreign_keys(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def open_store(url: str | None = None) -> Store:
    """Connect to the store at `url` (default: `default_url()`) and create its tables if they are
    missing; one line if the URL is malformed, its driver is missing or the server does not answer."""
    url = url or default_url()
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise UserError(f"--db {url!r} is not a database URL: pass sqlite:///PATH or "
                        "postgresql://USER@HOST/DBNAME") from None
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        folder = Path(parsed.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise UserError(f"--db {shown(parsed)}: cannot open the store ({folder} cannot be made: "
                            f"{err.strerror}): check the URL") from None
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")  # psycopg 3, the `postgresql` extra
    try:
        engine = create_engine(parsed)
    except (NoSuchModuleError, ModuleNotFoundError) as err:
        raise UserError(f"--db {shown(parsed)}: no driver for it ({err}): for PostgreSQL, "
                        "pip install 'accelbench[postgresql]'") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_foreign_keys)
    try:
        Base.metadata.create_all(engine)
    except SQLAlchemyError as err:
        engine.dispose()
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise UserError(f"--db {shown(parsed)}: cannot open the store ({reason}): check the URL, "
                        "that the server runs and that the user may create tables") from None
    return Store(engine)
