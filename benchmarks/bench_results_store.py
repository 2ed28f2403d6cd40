"""The results store at size: import 10,000 signed result files, then query a history over them
(goal: the query well under a second, so `accelbench history` and the dashboard stay interactive).

    pytest benchmarks/bench_results_store.py --benchmark-only [--bench-scale smoke] [--bench-db URL]

The files are clones of the golden smoke run (result_clones.py): 100 suite commits of 100 runs at
small (10 commits of 20 at smoke), each re-signed, with its event log hard-linked beside it, so
every one verifies as a real run does. The import is timed once (every file verified, then one
transaction); the history query, the one `accelbench history` makes, over its rounds. The store is
a new SQLite file unless --bench-db names one (e.g. the PostgreSQL server .ci/start-postgres starts).
"""

from __future__ import annotations

import hashlib
import statistics
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accelbench.history.importing import import_results
from accelbench.history.queries import SetKey
from accelbench.history.series import metric_series
from accelbench.history.store import Base, open_store

from result_clones import GOLDEN_RUN, clone_run

INTERACTIVE_S = 1.0


@dataclass(frozen=True)
class Size:
    commits: int
    runs_per_commit: int
    query_rounds: int

    @property
    def files(self) -> int:
        return self.commits * self.runs_per_commit


SIZES = {"smoke": Size(10, 20, 5), "small": Size(100, 100, 20), "full": Size(100, 100, 20)}


@pytest.fixture(scope="module")
def result_tree(tmp_path_factory, request):
    """The clones, one folder per commit (made once per session; not timed)."""
    size = SIZES[request.config.getoption("--bench-scale")]
    root = tmp_path_factory.mktemp("store_bench")
    key = Ed25519PrivateKey.generate()
    start = datetime(2026, 1, 1, tzinfo=timezone.utc)
    for commit in range(size.commits):
        when = start + timedelta(days=commit)
        for index in range(1, size.runs_per_commit + 1):
            clone_run(GOLDEN_RUN, root / f"commit_{commit:03d}", index, key, commit=hashlib.sha1(f"commit {commit}".encode()).hexdigest(),
                      created_at=(when + timedelta(minutes=index)).isoformat(),
                      samples_per_s=800.0 + (commit % 7) + index % 5)
    return root, size


@pytest.fixture
def store_url(request, tmp_path):
    url = request.config.getoption("--bench-db") or f"sqlite:///{tmp_path / 'store.sqlite'}"
    with open_store(url) as store:  # an empty store for each benchmark
        Base.metadata.drop_all(store.engine)
    return url


def test_import_of_ten_thousand_result_files(benchmark, goal_ratio, result_tree, store_url):
    root, size = result_tree

    def empty_store():
        with open_store(store_url) as store:
            Base.metadata.drop_all(store.engine)

    def import_all():
        with open_store(store_url) as store:
            summary = import_results(store, [root], "benchmark")
        assert summary.added == size.files

    benchmark.pedantic(import_all, setup=empty_store, rounds=1, iterations=1)
    seconds = benchmark.stats.stats.median
    benchmark.extra_info.update(files=size.files, files_per_s=size.files / seconds)
    goal_ratio(f"import s per 1,000 files ({size.files} files)", seconds / size.files * 1000, "none: a figure")


def test_a_history_query_over_them_is_interactive(benchmark, goal_ratio, result_tree, store_url):
    root, size = result_tree
    with open_store(store_url) as store:
        import_results(store, [root], "benchmark")
        key = SetKey("cpu", "neuron_inverter", "smoke", "closed")
        series = benchmark.pedantic(lambda: metric_series(store, key, "samples_per_s"), rounds=size.query_rounds,
                                    iterations=1)
        started = time.perf_counter()
        by_date = metric_series(store, key, "samples_per_s", "date")
        date_s = time.perf_counter() - started
    assert len(series.points) == size.commits and sum(len(p.values) for p in series.points) == size.files
    assert len(by_date.points) == size.commits
    median_s = statistics.median(benchmark.stats.stats.data)
    benchmark.extra_info.update(records=size.files, points=size.commits, by_date_s=date_s)
    goal_ratio(f"history query s / {INTERACTIVE_S:.0f} s ({size.files} records)", median_s / INTERACTIVE_S, "< 1",
               met=median_s < INTERACTIVE_S)
