"""The results layout: one module names a set's directory, finds its run files, reads a result
back only after it verifies, and claims a directory for a new set."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.errors import UserError
from accelbench.results.layout import (
    check_results_directory,
    find_run_files,
    prepare_results_directory,
    read_verified,
    results_directory,
    run_files,
    run_index,
    set_path,
)
from accelbench.results.models import SignedBenchmarkScore, SignedTrainingRunResult


def test_a_set_is_named_by_system_workload_scale_and_mode(tmp_path):
    assert set_path("a100_n8", "neuron_inverter", "small", "to_target") == "a100_n8/neuron_inverter/small"
    assert results_directory(tmp_path, "cpu", "snn_bptt_dense", "smoke", "fixed_epochs") == \
        tmp_path / "cpu" / "snn_bptt_dense" / "smoke_fixed_epochs"


@given(st.text(max_size=20))
def test_only_run_n_json_names_a_run(name):
    index = run_index(name)
    if index is not None:
        assert name == f"run_{index}.json" and index >= 1


def test_run_files_are_in_run_order_and_ignore_other_names(tmp_path):
    for name in ("run_10.json", "run_2.json", "run_1.json", "run_x.json", "run_0.json", "score.json"):
        (tmp_path / name).write_text("{}")
    assert [p.name for p in run_files(tmp_path)] == ["run_1.json", "run_2.json", "run_10.json"]
    with pytest.raises(UserError, match="no run_N.json files"):
        run_files(tmp_path / "missing")
    (tmp_path / "deeper").mkdir()
    (tmp_path / "deeper" / "run_3.json").write_text("{}")
    found = find_run_files([tmp_path, tmp_path / "run_1.json"])  # a file reached twice counts once
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "deeper/run_3.json", "run_1.json", "run_10.json", "run_2.json"]


def test_a_directory_with_runs_is_refused_and_planning_writes_nothing(tmp_path):
    target = tmp_path / "results" / "cpu" / "neuron_inverter" / "smoke"
    check_results_directory(target)
    assert not (tmp_path / "results").exists()  # checked, not made
    prepare_results_directory(target)
    assert target.is_dir()
    (target / "run_1.json").write_text("{}")
    with pytest.raises(UserError, match="already holds a set of runs"):
        check_results_directory(target)
    (tmp_path / "file").write_text("")
    with pytest.raises(UserError, match="is a file"):
        check_results_directory(tmp_path / "file" / "cpu")


def test_a_result_is_read_only_after_it_verifies_and_as_its_own_kind(smoke_runs):
    _, _, directory, _ = smoke_runs
    result, verified = read_verified(directory / "run_1.json", SignedTrainingRunResult)
    assert result.run_index == 1 and verified.key_id == result.signature.key_id
    with pytest.raises(UserError, match="is not a run result"):
        read_verified(directory / "score.json", SignedTrainingRunResult)
    assert read_verified(directory / "score.json", SignedBenchmarkScore)[0].workload == "neuron_inverter"
