"""The run's event log: MLPerf `:::MLLOG` lines written with mlperf_logging's mllog.

One log file per run; the keys are mllog's constants so MLPerf's own tools (the compliance
checker among them) read the file. Each line's metadata names its call site by its path inside
the accelbench package (e.g. `run/training.py`), never the machine's own path, so the log says
nothing about the submitter's file system and identical runs log identical metadata.
"""

from __future__ import annotations

import itertools
import logging
import re
from pathlib import Path
from typing import Any

from mlperf_logging.mllog import mllog

FINAL_EVAL_ACCURACY = "final_eval_accuracy"  # the untimed true eval after a pseudo-validated run
_ids = itertools.count()
PACKAGE_DIR = Path(__file__).resolve().parents[1]
"""The accelbench package: suite/ in a checkout, site-packages/accelbench when installed."""


def call_site_root() -> str:
    """mllog trims `^<root_dir>/` from each call site's file name as a regular expression, so
    the package directory goes in escaped and without its trailing slash."""
    return re.escape(str(PACKAGE_DIR))


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
            logger=self._logger, default_stack_offset=2, root_dir=call_site_root()
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
