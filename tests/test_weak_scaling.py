"""The weak-scaling path end to end: the real suite in fixed-epoch mode with 1 process and with
2 gloo processes under torchrun, then `accelbench scaling` over what they wrote."""

import csv
import json
import os
import re

import pytest

from accelbench.rules.loader import available_workloads, load_rules

from conftest import REPO, run_command

pytestmark = pytest.mark.integration
RULES = load_rules("neuron_inverter")
EPOCHS = RULES.scaling.epochs["smoke"]
COMMON = ["--scale=smoke", "--mode=fixed_epochs", "--runs=1", "--seed=3", "-p", "no:cacheprovider"]


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    root = tmp_path_factory.mktemp("scaling")
    env = {**os.environ, "ACCELBENCH_CONFIG_DIR": str(root / "config"),
           "ACCELBENCH_DATA_DIR": str(root / "data")}
    results = root / "results"
    single = run_command(["pytest", str(REPO / "suite"), *COMMON, "--results-dir", str(results)],
                         env, root)
    pair = run_command(["torch.distributed.run", "--standalone", "--nproc_per_node=2",
                        "--local-ranks-filter=0", "-m", "pytest", str(REPO / "suite"), *COMMON,
                        "--results-dir", str(results)], env, root)
    report = run_command(["accelbench", "scaling", str(results), "--out", str(root / "report")],
                         env, root)
    return root, results, single, pair, report


def _run_file(results, system):
    path = results / system / "neuron_inverter" / "smoke_fixed_epochs" / "run_1.json"
    return path, json.loads(path.read_text())


def test_both_runs_train_the_rules_epochs(study):
    _, results, single, pair, _ = study
    for outcome in (single, pair):
        output = outcome.stdout + outcome.stderr
        assert outcome.returncode == 0, output
        # the run; neither the time-to-train score nor the workloads without a scaling study run
        assert re.search(r"\b1 passed, \d+ deselected", output), output
        without_study = sorted(w for w in available_workloads() if load_rules(w).scaling is None)
        assert f"{', '.join(without_study)} define(s) no weak-scaling study; deselected" in output
        assert "not scored (fixed epochs)" in output
    assert "on cpu x2 processes" in pair.stdout
    assert pair.stdout.count("run 1/1 epoch 1/") == 1  # rank 1 prints nothing


def test_the_two_process_result_records_the_world_and_the_same_global_work(study):
    _, results, *_ = study
    _, one = _run_file(results, "cpu")
    path, two = _run_file(results, "cpu_n2")
    assert one["system"]["world_size"] == 1 and two["system"]["world_size"] == 2
    assert two["system"]["launcher"] == "torchrun" and two["system"]["name"] == "cpu_n2"
    assert one["mode"] == two["mode"] == "fixed_epochs"
    for result in (one, two):
        assert result["quality"]["epochs"] == result["quality"]["max_epochs"] == EPOCHS
        assert result["quality"]["eval_kind"] == "true" and result["quality"]["achieved"] is not None
    # every rank holds 512 of the 1024 training samples: the same samples per epoch in all
    assert one["throughput"]["train_samples"] == two["throughput"]["train_samples"] == 1024 * EPOCHS
    log = (path.parent / two["event_log"]["file"]).read_text()
    events = [json.loads(line.split(":::MLLOG ", 1)[1]) for line in log.splitlines()]
    batch = [e["value"] for e in events if e["key"] == "global_batch_size"]
    assert batch == [2 * RULES.hyperparameters.reference["batch_size"]]  # constant local batch


def test_both_results_verify(study):
    root, results, *_ = study
    files = [str(_run_file(results, system)[0]) for system in ("cpu", "cpu_n2")]
    env = {**os.environ, "ACCELBENCH_CONFIG_DIR": str(root / "config")}
    verified = run_command(["accelbench", "verify", *files], env, root)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.count("OK ") == 2


def test_the_scaling_report_has_both_counts(study):
    root, *_, report = study
    assert report.returncode == 0, report.stdout + report.stderr
    with open(root / "report" / "scaling.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["world_size"]) for row in rows] == [1, 2]
    assert all(row["platform"] == "cpu" for row in rows)
    png = (root / "report" / "scaling.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
    assert "| CPU | host CPU (reference) | 2 | 1 |" in (root / "report" / "scaling.md").read_text()


def test_fixed_epoch_runs_cannot_calibrate_a_target(study):
    root, results, *_ = study
    directory = results / "cpu" / "neuron_inverter" / "smoke_fixed_epochs"
    env = {**os.environ, "ACCELBENCH_CONFIG_DIR": str(root / "config")}
    result = run_command(["accelbench", "rules", "calibration", str(directory)], env, root)
    assert result.returncode == 2
    assert "fixed-epoch (scaling) run says nothing about epochs to the target" in result.stderr
    assert "Traceback" not in result.stderr
