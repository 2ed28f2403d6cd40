"""The pipeline's layers: the suite's defaults, then the machine's file, then the run's, key by key;
bad files are one line naming the file and the field."""

import pytest
import yaml

from accelbench.errors import UserError
from accelbench.history.pipeline import run_commands
from accelbench.history.pipeline_config import load_pipeline, merged

from conftest import REPO


def write(path, text):
    path.write_text(text)
    return path


def test_the_run_file_overrides_the_machine_file_which_overrides_the_defaults(tmp_path):
    machine = write(tmp_path / "machine.toml", 'device = "a100"\nlauncher = ["srun", "--ntasks=1"]\n'
                    'db = "sqlite:///m.sqlite"\n[gate]\nfactor = 1.2\nalpha = 0.01\n[environment]\nA = "1"\n')
    run = write(tmp_path / "nightly.toml", 'name = "nightly"\nworkloads = ["neuron_inverter"]\nscales = ["small"]\n'
                '[gate]\nfactor = 1.05\n[environment]\nB = "2"\n')
    config = load_pipeline(run, machine)
    assert (config.name, config.device, config.scales, config.launcher) == ("nightly", "a100", ["small"], ["srun", "--ntasks=1"])
    assert (config.gate.factor, config.gate.alpha) == (1.05, 0.01)  # tables merge key by key
    assert config.environment == {"A": "1", "B": "2"}
    assert config.runs is None and config.results_dir.name == "pipeline-results"  # the suite's defaults
    assert load_pipeline(run, machine, db="postgresql://ci@/results").db == "postgresql://ci@/results"


def test_the_machine_file_in_the_config_dir_is_read_when_none_is_given(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELBENCH_CONFIG_DIR", str(tmp_path / "config"))
    run = write(tmp_path / "run.toml", 'workloads = ["neuron_inverter"]\n')
    assert load_pipeline(run).device == "cpu"
    (tmp_path / "config").mkdir()
    write(tmp_path / "config" / "machine.toml", 'device = "ipu"\n')
    assert load_pipeline(run).device == "ipu"


def test_each_set_is_one_accelbench_run_behind_the_launcher(tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELBENCH_CONFIG_DIR", str(tmp_path))
    run = write(tmp_path / "run.toml", 'workloads = ["neuron_inverter", "snn_bptt_sparse"]\nruns = 3\nseed = 9\n'
                'launcher = ["srun", "-n1"]\n[hyperparameters]\nneuron_inverter = ["batch_size=16"]\n'
                '[benchmarks]\nrun = true\npaths = ["benchmarks/bench_energy_sampler.py"]\n')
    commands = run_commands(load_pipeline(run), tmp_path / "out")
    assert [what for what, _ in commands] == ["neuron_inverter smoke", "snn_bptt_sparse smoke", "benchmarks"]
    first = commands[0][1]
    assert first[:2] == ["srun", "-n1"] and first[3:7] == ["-m", "accelbench", "run", "neuron_inverter"]
    assert first[-6:] == ["--runs", "3", "--seed", "9", "--hparam", "batch_size=16"]
    assert "--benchmark-only" in commands[2][1] and f"--benchmark-json={tmp_path / 'out' / 'benchmarks.json'}" in commands[2][1]


@pytest.mark.parametrize("text, says", [
    ('workloads = ["neuron_inverter"]\ncolour = "red"\n', "field 'colour'"),
    ('workloads = ["neuron_inverter"]\n[gate]\nfactor = 0.5\n', "field 'gate.factor'"),
    ('workloads = ["neuron_inverter"]\nscales = ["huge"]\n', "field 'scales.0'"),
    ('workloads = ["no_such_workload"]\n', "no_such_workload"),
    ('name = "x"\n', "runs nothing"),
    ('workloads = [\n', "not valid TOML"),
])
def test_a_bad_pipeline_file_is_one_line(tmp_path, monkeypatch, text, says):
    monkeypatch.setenv("ACCELBENCH_CONFIG_DIR", str(tmp_path))
    run = write(tmp_path / "run.toml", text)
    with pytest.raises(UserError, match=says) as err:
        load_pipeline(run)
    assert "\n" not in str(err.value)


def test_a_missing_file_is_one_line(tmp_path):
    run = write(tmp_path / "run.toml", 'workloads = ["neuron_inverter"]\n')
    with pytest.raises(UserError, match="nope.toml does not exist"):
        load_pipeline(tmp_path / "nope.toml")
    with pytest.raises(UserError, match="machine.toml does not exist"):
        load_pipeline(run, tmp_path / "machine.toml")  # a machine file named must be there


def test_merging_replaces_lists_and_merges_tables():
    assert merged({"a": [1], "t": {"x": 1, "y": 2}}, {"a": [2], "t": {"y": 3}}) == {"a": [2], "t": {"x": 1, "y": 3}}


EXAMPLES = REPO / "pipelines"


@pytest.mark.parametrize("machine", sorted((REPO / "pipelines" / "machines").glob("*.toml")), ids=lambda p: p.name)
def test_the_example_pipeline_loads_on_each_example_machine(machine):
    config = load_pipeline(EXAMPLES / "nightly.toml", machine)
    assert config.device == "a100" and config.benchmarks.run and config.db


@pytest.mark.parametrize("ci_file", ["gitlab-ci.yml", "github-actions-gpu.yml"])
def test_the_ci_runner_examples_run_the_pipeline_with_files_that_exist(ci_file):
    document = yaml.safe_load((EXAMPLES / ci_file).read_text())
    commands = [line for line in _strings(document) if "accelbench pipeline run" in line]
    assert commands, f"{ci_file} never runs the pipeline"
    for command in commands:
        words = command.split("accelbench pipeline run", 1)[1].split()
        for word in words:
            if word.endswith(".toml"):
                assert (REPO / word).is_file(), f"{ci_file} names {word}, which is not in the repo"


def _strings(node):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
