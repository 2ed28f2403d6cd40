"""The results store on SQLite and on a real PostgreSQL server: import verifies and is all or
nothing, a file twice is one record, and the queries give back what was stored."""

import json
import sys
from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
from accelbench.errors import UserError
from accelbench.history.baselines import accept, last_accepted, sets_in_batch
from accelbench.history.importing import import_results
from accelbench.history.queries import SetKey, parse_selection, select_values, stored_sets
from accelbench.history.series import metric_series
from accelbench.history.store import MetricRow, RunRow, open_store

from result_clones import GOLDEN_RUN, clone_run

KEY = SetKey("cpu", "neuron_inverter", "smoke", "closed")


@pytest.fixture(scope="module")
def key():
    return Ed25519PrivateKey.generate()


def make_set(directory, key, commit, day, samples_per_s, runs=3):
    return [clone_run(GOLDEN_RUN, directory, index, key, commit=commit, created_at=f"2026-11-{day:02d}T10:0{index}:00+00:00",
                      samples_per_s=samples_per_s + index, time_to_train_s=10.0 + index) for index in range(1, runs + 1)]


def test_import_stores_every_run_with_its_keys_and_metrics(store_url, tmp_path, key):
    make_set(tmp_path / "a", key, "a" * 40, 1, 800.0)
    with open_store(store_url) as store:
        summary = import_results(store, [tmp_path / "a"], "first")
        assert (summary.added, summary.already_stored) == (3, 0)
        values = select_values(store, parse_selection("commit=aaaa"))
        assert list(values) == [KEY]
        assert values[KEY]["samples_per_s"].values == [801.0, 802.0, 803.0]
        assert values[KEY]["samples_per_s"].higher_is_better is True
        assert values[KEY]["time_to_train_s"].values == [11.0, 12.0, 13.0]
        assert values[KEY]["time_to_train_s"].higher_is_better is False
        with store.sessions() as session:
            run = session.scalars(select(RunRow).order_by(RunRow.run_index)).first()
            assert (run.suite_commit, run.kind, run.passed) == ("a" * 40, "train_to_target", True)
            assert json.loads(run.software)["torch"]
            assert run.key_id and len(run.record_sha256) == 64


def test_the_same_files_twice_are_stored_once(store_url, tmp_path, key):
    make_set(tmp_path / "a", key, "a" * 40, 1, 800.0)
    with open_store(store_url) as store:
        import_results(store, [tmp_path / "a"], "first")
        again = import_results(store, [tmp_path / "a", tmp_path / "a" / "run_1.json"], "again")
        assert (again.batch_id, again.added, again.already_stored) == (None, 0, 3)
        with store.sessions() as session:
            assert session.scalar(select(func.count(RunRow.id))) == 3


def test_a_file_that_fails_verification_stops_the_import_and_nothing_is_stored(store_url, tmp_path, key):
    make_set(tmp_path / "a", key, "a" * 40, 1, 800.0)
    tampered = tmp_path / "a" / "run_3.json"
    tampered.write_text(tampered.read_text().replace('"samples_per_s": 803.0', '"samples_per_s": 9803.0'))
    with open_store(store_url) as store:
        with pytest.raises(UserError, match="run_3.json") as err:
            import_results(store, [tmp_path / "a"], "tampered")
        assert "\n" not in str(err.value)
        with store.sessions() as session:
            assert session.scalar(select(func.count(RunRow.id))) == 0
            assert session.scalar(select(func.count(MetricRow.id))) == 0


def test_history_groups_runs_by_commit_in_the_order_they_were_first_run(store_url, tmp_path, key):
    make_set(tmp_path / "a", key, "a" * 40, 1, 800.0)
    make_set(tmp_path / "b", key, "b" * 40, 2, 400.0)
    with open_store(store_url) as store:
        import_results(store, [tmp_path / "b", tmp_path / "a"], "both")
        series = metric_series(store, KEY, "samples_per_s")
        assert [p.label for p in series.points] == ["a" * 10, "b" * 10]
        assert [p.median for p in series.points] == [802.0, 402.0]
        by_date = metric_series(store, KEY, "samples_per_s", "date")
        assert [p.label for p in by_date.points] == ["2026-11-01", "2026-11-02"]
        assert len(select_values(store, parse_selection("since=2026-11-02"))[KEY]["samples_per_s"].values) == 3
        assert stored_sets(store)[0].runs == 6 and stored_sets(store)[0].commits == 2


def test_an_empty_history_and_an_unknown_metric_are_one_line_each(store_url, tmp_path, key):
    with open_store(store_url) as store:
        with pytest.raises(UserError, match="history of cpu/neuron_inverter/smoke .* is empty"):
            metric_series(store, KEY, "samples_per_s")
        make_set(tmp_path / "a", key, "a" * 40, 1, 800.0)
        import_results(store, [tmp_path / "a"], "first")
        with pytest.raises(UserError, match="no latency_p90_s stored .* one of epochs, quality, samples_per_s"):
            metric_series(store, KEY, "latency_p90_s")
        with pytest.raises(UserError, match="no stored runs match 'commit=ffff'"):
            select_values(store, parse_selection("commit=ffff"))


def test_the_last_accepted_import_is_the_baseline(store_url, tmp_path, key):
    make_set(tmp_path / "a", key, "a" * 40, 1, 800.0)
    make_set(tmp_path / "b", key, "b" * 40, 2, 400.0)
    make_set(tmp_path / "c", key, "c" * 40, 3, 420.0)
    with open_store(store_url) as store:
        first = import_results(store, [tmp_path / "a"], "a").batch_id
        second = import_results(store, [tmp_path / "b"], "b").batch_id
        third = import_results(store, [tmp_path / "c"], "c").batch_id
        assert last_accepted(store, KEY, before=third) is None
        accept(store, first)
        assert last_accepted(store, KEY, before=third) == first  # the second was never accepted
        assert sets_in_batch(store, second) == [KEY]
        assert select_values(store, parse_selection("import=accepted"))[KEY]["samples_per_s"].values[0] == 801.0


def test_a_pytest_benchmark_json_is_stored_with_its_rounds_and_ratio(store_url, tmp_path):
    document = {
        "machine_info": {"python_version": "3.11.7", "node": "x"}, "commit_info": {"id": "d" * 40, "dirty": False},
        "datetime": "2026-12-01T10:00:00.000000+00:00", "version": "5.3.1",
        "accelbench": {"scale": "smoke", "device": "cpu", "suite_version": "0.1.0", "packages": {"numpy": "2.0"}},
        "benchmarks": [{"fullname": "benchmarks/bench_validate.py::test_validate", "extra_info": {
            "ratio": 0.4, "goal": "< 1", "goal_met": True, "files": 152},
            "stats": {"median": 0.2, "rounds": 3, "data": [0.21, 0.2, 0.19]}}],
    }
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(document))
    with open_store(store_url) as store:
        assert import_results(store, [path], "bench").added == 1
        values = select_values(store, parse_selection("division=benchmark"))
        key = SetKey("cpu", "benchmarks/bench_validate.py::test_validate", "smoke", "benchmark")
        assert values[key]["round_s"].values == [0.21, 0.2, 0.19]
        assert (values[key]["ratio"].values, values[key]["ratio"].higher_is_better) == ([0.4], False)
        assert values[key]["files"].higher_is_better is None
    del document["benchmarks"][0]["stats"]["data"]
    path.write_text(json.dumps(document))
    with open_store(store_url) as store, pytest.raises(UserError, match="not a pytest-benchmark JSON"):
        import_results(store, [path], "bench")


def test_a_store_that_cannot_be_reached_is_one_line(tmp_path):
    with pytest.raises(UserError, match="cannot open the store .*check the URL"):
        open_store("postgresql://nobody@127.0.0.1:9/none?connect_timeout=2")
    with pytest.raises(UserError, match="is not a database URL"):
        open_store("not a url")
    with pytest.raises(UserError, match="no driver"):
        open_store("mysql://u@127.0.0.1/x")
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(UserError, match="cannot open the store"):
        open_store(f"sqlite:///{blocked}/store.sqlite")


def test_the_default_store_is_sqlite_in_the_data_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("ACCELBENCH_DB", raising=False)
    monkeypatch.setenv("ACCELBENCH_DATA_DIR", str(tmp_path / "data"))
    with open_store() as store:
        assert store.url == f"sqlite:///{tmp_path / 'data' / 'results.sqlite'}"
    assert (tmp_path / "data" / "results.sqlite").exists()


def test_selection_dates_are_checked():
    assert parse_selection("until=2026-12-01").until == date(2026, 12, 1)
    with pytest.raises(UserError, match="not a date"):
        parse_selection("since=yesterday")


def test_compare_reads_two_pytest_benchmark_files_and_flags_the_slower_rounds(tmp_path):
    from accelbench.history.comparison import compare_sets, regressions
    from accelbench.history.sides import resolve_side

    def write(name, rounds):
        document = {
            "machine_info": {"python_version": "3.11.7"}, "commit_info": {"id": name * 40}, "version": "5.3.1",
            "datetime": "2026-12-01T10:00:00+00:00",
            "accelbench": {"scale": "smoke", "device": "cpu", "suite_version": "0.1.0"},
            "benchmarks": [{"fullname": "benchmarks/bench_validate.py::test_validate", "extra_info": {},
                            "stats": {"median": sorted(rounds)[len(rounds) // 2], "rounds": len(rounds), "data": rounds}}],
        }
        (tmp_path / f"{name}.json").write_text(json.dumps(document))
        return str(tmp_path / f"{name}.json")

    base = write("a", [0.20, 0.21, 0.19, 0.20, 0.22, 0.20, 0.21, 0.19])
    new = write("b", [0.30, 0.31, 0.29, 0.30, 0.32, 0.30, 0.31, 0.29])
    no_store = lambda: pytest.fail("files need no store")  # noqa: E731
    found = compare_sets(resolve_side("BASE", base, no_store), resolve_side("NEW", new, no_store))
    assert [(c.metric, c.verdict) for c in regressions(found)] == [("round_s", "regression")]
    assert found[0].p_value < 0.01  # eight rounds a side: the rank test decides
