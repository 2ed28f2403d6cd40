"""The run's event log: MLPerf `:::MLLOG` lines written with mlperf_logging's mllog.

One log file per run; the keys are mllog's constants so MLPerf's own tools can read the file.
"""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

from mlperf_logging.mllog import mllog

FINAL_EVAL_ACCURACY = "final_eval_accuracy"  # the untimed true eval after a pseudo-validated run
_ids = itertools.count()
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # call sites are logged relative to it


class EventLog:
    """Writes MLLOG events for one run into one file; use as a context manager."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._logger = logging.getLogger(f"accelbench.run.events.{next(_ids)}")
        self._logger.propagate = False
        self._logger.setLevel(logging.INFO)
        self._handler = logging.FileHandler(path, mode="x", encoding="utf-8")
        self._logger.addHandler(self._handler)
        self._mllog = mllog.MLLogger(
            logger=self._logger, default_stack_offset=2, root_dir=str(SOURCE_ROOT) + "/"
        )

    def event(self, key: str, value: Any = None, **metadata: Any) -> None:
        self._mllog.event(key=key, value=value, metadata=metadata or None)

    def start(self, key: str, value: Any = None, **metadata: Any) -> None:
        self._mllog.start(key=key, value=value, metadata=metadata or None)

    def end(self, key: str, value: Any = None, **metadata: Any) -> None:
        self._mllog.end(key=key, value=value, metadata=metadata or None)

    def close(self) -> None:
        self._handler.flush()
        self._handler.close()
        self._logger.removeHandler(self._handler)

    def __enter__(self) -> EventLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class NullLog:
    """The log of ranks other than 0 in a multi-process run: rank 0 writes the record."""

    def event(self, key: str, value: Any = None, **metadata: Any) -> None:
        pass

    start = end = event

    def __enter__(self) -> NullLog:
        return self

    def __exit__(self, *exc: object) -> None:
        pass
