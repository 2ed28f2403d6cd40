"""The real suite at smoke scale, end to end, as a user runs it: generate, train to the target,
write signed results, verify them, and see tampering and corruption refused."""

import json
import os
import sys

import pytest

from accelbench.rules.loader import available_workloads, load_rules
from accelbench.rules.schema import CalibrationRecord

from conftest import REPO, run_command
from mlperf_compliance import check_log

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytestmark = pytest.mark.integration
RULES = load_rules("neuron_inverter")
WORKLOADS = sorted(path.stem.removeprefix("test_") for path in (REPO / "suite").glob("test_*.py"))
TRAINING = [workload for workload in WORKLOADS if load_rules(workload).kind == "train_to_target"]
INFERENCE = [workload for workload in WORKLOADS if load_rules(workload).kind == "inference"]
SAMPLING = [workload for workload in WORKLOADS if load_rules(workload).kind == "sampling"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("suite")
    env = dict(os.environ)
    env["ACCELBENCH_CONFIG_DIR"] = str(root / "config")
    env["ACCELBENCH_DATA_DIR"] = str(root / "data")
    key = root / "signing.pem"
    keygen = run_command(["accelbench", "keygen", "--key", str(key)], env, root)
    assert keygen.returncode == 0, keygen.stderr
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    return root, env, key


@pytest.fixture(scope="module")
def suite_run(workspace):
    root, env, key = workspace
    results = root / "results"
    result = run_command(
        ["pytest", str(REPO / "suite"), "--device=cpu", "--scale=smoke", "--seed=7",
         "--results-dir", str(results), "--key", str(key), "-p", "no:cacheprovider"],
        env, root, timeout=1200,  # every workload at smoke: about 4 minutes alone, 10 on a machine shared with a sampler
    )
    return result, results / "cpu" / "neuron_inverter" / "smoke"


def test_suite_trains_to_target_and_reports(suite_run):
    result, _ = suite_run
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    runs = sum(load_rules(workload).runs.minimum["smoke"] + 1 for workload in TRAINING)  # the runs and the score
    runs += sum(load_rules(workload).runs.minimum["smoke"] for workload in INFERENCE)  # no score over runs
    runs += sum(load_rules(workload).runs.minimum["smoke"] + 1 for workload in SAMPLING)  # the runs and the score
    assert SAMPLING == ["mcmc_alpha"] and f"{runs} passed" in output
    assert "effective samples/s" in output and "R-hat" in output and "olympic score (time to target)" in output
    assert "generating the neuron_inverter smoke dataset" in output
    assert output.count("generating the snn_bptt smoke dataset") == 1  # the variants share one dataset
    assert "run 1/3 epoch 1/15 | train loss" in output and "samples/s" in output
    assert "left to the epoch budget" in output
    assert "olympic score:" in output and "(valid)" in output
    assert "time to train [s]" in output and "firing rate" in output and "timesteps/s" in output


@pytest.mark.parametrize("workload", TRAINING)
def test_mlperf_compliance_checker_accepts_every_workloads_log(suite_run, workload):
    _, directory = suite_run
    log = directory.parent.parent / workload / "smoke" / "run_1.mllog"
    verdict = check_log(log)
    assert verdict.findings == [], "\n".join(verdict.findings)
    assert verdict.skipped_rules == [f"training_5.0.0/closed_{workload}.yaml"]  # MLPerf has none for ours
    assert verdict.benchmark_name is not None and "'retinanet'" in verdict.benchmark_name  # not an MLPerf name


def test_mlperf_compliance_checker_refuses_a_log_without_cache_clear(suite_run, tmp_path):
    _, directory = suite_run
    lines = (directory / "run_1.mllog").read_text().splitlines(keepends=True)
    stripped = tmp_path / "run_1.mllog"
    stripped.write_text("".join(line for line in lines if '"key": "cache_clear"' not in line))
    assert any("cache_clear" in finding for finding in check_log(stripped).findings)


def test_event_logs_name_call_sites_inside_the_package(suite_run):
    _, directory = suite_run
    for line in (directory / "run_1.mllog").read_text().splitlines():
        site = json.loads(line.split(":::MLLOG ", 1)[1])["metadata"]["file"]
        assert site in ("run/harness.py", "run/training.py"), site


def test_results_are_complete_and_consistent(suite_run):
    _, directory = suite_run
    runs = [json.loads((directory / f"run_{i}.json").read_text()) for i in (1, 2, 3)]
    assert [r["seed"] for r in runs] == [7, 8, 9]
    for run in runs:
        quality = run["quality"]
        assert quality["converged"] and quality["achieved"] <= RULES.quality.target["smoke"]
        assert quality["curve"][-1]["value"] == quality["achieved"]
        assert len(run["timing"]["epoch_s"]) == quality["epochs"]
        assert run["dataset"]["splits"]["train"]["sha256"] == RULES.dataset.sha256["smoke"]["train"]
        energy = run["energy"]
        if energy["available"]:  # a machine with readable RAPL counters
            assert energy["meter"] == "rapl" and energy["joules"] > 0 and energy["sampling_hz"] >= 1
        else:  # never 0 J: null, with the reason this machine has no meter
            assert energy["joules"] is None and "powercap" in energy["reason"]
        assert run["signature"]["algorithm"] == "ed25519"
        events = [json.loads(line.split(":::MLLOG ", 1)[1])
                  for line in (directory / run["event_log"]["file"]).read_text().splitlines()]
        keys = [e["key"] for e in events]
        assert keys.count("run_start") == keys.count("run_stop") == 1
        assert keys.count("eval_accuracy") == quality["epochs"]
        assert events[keys.index("run_stop")]["metadata"]["status"] == "success"
    score = json.loads((directory / "score.json").read_text())
    assert score["valid"] and len(score["dropped"]) == 2
    kept = [r["timing"]["time_to_train_s"] for r in runs
            if f"run_{r['run_index']}.json" not in score["dropped"]]
    assert score["score_s"] == pytest.approx(kept[0])


@pytest.mark.parametrize("workload", ["snn_bptt_dense", "snn_bptt_sparse"])
def test_spiking_runs_keep_their_variants_activity(suite_run, workload):
    _, neuron_directory = suite_run
    directory = neuron_directory.parent.parent / workload / "smoke"
    rules = load_rules(workload)
    low, high = (bound.value["smoke"] for bound in rules.quality.bounds)
    for index in (1, 2, 3):
        run = json.loads((directory / f"run_{index}.json").read_text())
        quality = run["quality"]
        assert quality["converged"] and quality["achieved"] >= rules.quality.target["smoke"]
        assert low <= quality["measurements"]["firing_rate"] <= high
        assert set(quality["curve"][-1]["measurements"]) == {"firing_rate", "firing_rate.hidden_1", "firing_rate.hidden_2"}
        assert run["dataset"]["id"] == "snn_bptt/smoke"
        assert run["throughput"]["units_per_s"]["timesteps"] == pytest.approx(run["throughput"]["samples_per_s"] * 40)
    assert json.loads((directory / "score.json").read_text())["valid"]


INFERENCE_WORKLOADS = [w for w in available_workloads() if load_rules(w).kind == "inference"]


@pytest.mark.parametrize("workload", INFERENCE_WORKLOADS)
def test_inference_runs_under_loadgen_and_validate(workspace, suite_run, tmp_path, workload):
    """The fp32 reference passes its own accuracy gate with the quality the rules record, every
    scenario is VALID, and `accelbench verify` and `accelbench validate` accept the files."""
    root, env, _ = workspace
    _, neuron_directory = suite_run
    rules = load_rules(workload)
    directory = neuron_directory.parent.parent / workload / "smoke"
    run = json.loads((directory / "run_1.json").read_text())
    record = run["inference"]
    assert record["valid"], record["reason"]
    assert record["accuracy"]["achieved"] == pytest.approx(rules.inference.reference_quality["smoke"], abs=1e-6)
    assert [s["scenario"] for s in record["scenarios"]] == rules.inference.scenarios["smoke"]
    assert all(s["valid"] and s["samples_per_s"] > 0 for s in record["scenarios"])
    assert "event_log" not in run and not (directory / "score.json").exists()
    verified = run_command(["accelbench", "verify", str(directory / "run_1.json")], env, root)
    assert verified.returncode == 0 and "LoadGen files match" in verified.stdout, verified.stdout + verified.stderr
    system = tmp_path / "cpu.json"
    described = run_command(["accelbench", "system", "describe", "--submitter", "accelbench tests"], env, root)
    system.write_text(described.stdout)
    packaged = run_command(["accelbench", "package", str(directory), "--system", str(system),
                            "--out", str(tmp_path / "submission"), "--key", str(workspace[2])], env, root)
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    validated = run_command(["accelbench", "validate", str(tmp_path / "submission")], env, root)
    assert validated.returncode == 0 and "VALID" in validated.stdout, validated.stdout + validated.stderr


def test_verify_accepts_the_files_and_refuses_tampering(workspace, suite_run):
    root, env, _ = workspace
    _, directory = suite_run
    files = [str(directory / name) for name in ("run_1.json", "run_2.json", "run_3.json", "score.json")]
    ok = run_command(["accelbench", "verify", *files], env, root)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.count("OK ") == 4

    tampered = directory / "run_2.json"
    original = tampered.read_text()
    doc = json.loads(original)
    doc["timing"]["run_s"] *= 0.5
    tampered.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    bad = run_command(["accelbench", "verify", str(tampered)], env, root)
    assert bad.returncode == 1 and "content changed after signing" in bad.stdout
    tampered.write_text(original)

    log = directory / "run_3.mllog"
    log_text = log.read_text()
    log.write_text(log_text.replace('"status": "success"', '"status": "aborted"'))
    bad = run_command(["accelbench", "verify", str(directory / "run_3.json")], env, root)
    assert bad.returncode == 1 and "log changed after signing" in bad.stdout
    log.write_text(log_text)


def test_cli_run_and_a_corrupt_dataset(workspace, suite_run):
    root, env, key = workspace
    run = run_command(["accelbench", "run", "neuron_inverter", "--scale", "smoke", "--runs", "1",
                       "--seed", "7", "--key", str(key), "--results-dir", str(root / "cli")], env, root)
    # one run is below the rules' minimum of 3: the run converges, the score is not valid
    assert run.returncode == 1, run.stdout + run.stderr
    assert "NOT VALID: 1 run(s) but the rules require 3" in run.stdout
    assert (root / "cli" / "cpu" / "neuron_inverter" / "smoke" / "run_1.json").exists()

    data_file = root / "data" / "neuron_inverter" / "smoke" / "neuron_inverter.data.h5"
    blob = bytearray(data_file.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    data_file.write_bytes(bytes(blob))
    corrupt = run_command(
        ["pytest", str(REPO / "suite"), "--scale=smoke", "--runs=1", "--key", str(key),
         "--results-dir", str(root / "corrupt"), "-p", "no:cacheprovider"], env, root)
    output = corrupt.stdout + corrupt.stderr
    assert corrupt.returncode == 1 and "Traceback" not in output
    assert f"{data_file}: corrupt data file" in output, output


def test_calibration_record_from_the_runs(workspace, suite_run):
    root, env, _ = workspace
    _, directory = suite_run
    result = run_command(["accelbench", "rules", "calibration", str(directory),
                          "--command", "pytest suite --scale=smoke --seed=7"], env, root)
    assert result.returncode == 0, result.stdout + result.stderr
    table = tomllib.loads(result.stdout)["calibration"]["smoke"]
    record = CalibrationRecord.model_validate(table)
    assert record.status == "calibrated" and record.runs == 3 and record.seeds == [7, 8, 9]
    assert all(1 <= e <= RULES.quality.max_epochs["smoke"] for e in record.epochs_to_target)
    assert all(v <= RULES.quality.target["smoke"] for v in record.final_metric)

def test_the_sampling_run_converges_and_its_draws_verify_and_validate(workspace, suite_run, tmp_path):
    """`pytest suite` samples mcmc_alpha to its bounds; the run file pins its draws, and `accelbench
    verify`, `package` and `validate` accept the set from the files alone."""
    root, env, _ = workspace
    _, neuron_directory = suite_run
    directory = neuron_directory.parent.parent / "mcmc_alpha" / "smoke"
    run = json.loads((directory / "run_1.json").read_text())
    assert run["kind"] == "sampling" and run["quality"]["converged"], run["quality"]["stop_reason"]
    assert (directory / run["draws"]["file"]).is_file() and (directory / run["heldout"]["file"]).is_file()
    assert json.loads((directory / "score.json").read_text())["valid"]
    verified = run_command(["accelbench", "verify", str(directory / "run_1.json")], env, root)
    assert verified.returncode == 0 and "draws run_1.draws.nc" in verified.stdout, verified.stdout + verified.stderr
    system = tmp_path / "cpu.json"
    system.write_text(run_command(["accelbench", "system", "describe", "--submitter", "accelbench tests"],
                                  env, root).stdout)
    packaged = run_command(["accelbench", "package", str(directory), "--system", str(system),
                            "--out", str(tmp_path / "submission"), "--key", str(workspace[2])], env, root)
    assert packaged.returncode == 0, packaged.stdout + packaged.stderr
    validated = run_command(["accelbench", "validate", str(tmp_path / "submission")], env, root)
    assert validated.returncode == 0 and "VALID" in validated.stdout, validated.stdout + validated.stderr
