"""Bad options fail at once with one line that names the fix; never a traceback."""

import pytest

from conftest import REPO, run_command


def assert_one_line_error(result, *fragments):
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output and "INTERNALERROR" not in output, output
    lines = [line for line in output.splitlines() if "error" in line.lower()]
    assert len(lines) == 1, output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "option, fragments",
    [
        ("--device=a100", ["needs an NVIDIA GPU with CUDA", "--device=cpu"]),
        ("--device=ipu", ["needs poptorch", "Dockerfile.ipu"]),
        ("--device=tpu", ["unknown device 'tpu'", "cpu, a100, ipu"]),
        ("--scale=huge", ["unknown scale 'huge'", "smoke, small, full"]),
        ("--runs=0", ["--runs must be at least 1"]),
        ("--mode=forever", ["unknown mode 'forever'", "to_target, fixed_epochs"]),
        ("--hparam=learning_rate=fast -k neuron_inverter", ["'learning_rate' takes a float", "learning_rate=0.001"]),
        ("--hparam=learning_rate=0.5 -k neuron_inverter",
         ["closed rules", "'learning_rate' = 0.5 breaks range [0.0001, 0.02]"]),
        ("--hparam=momentum=0.9 -k neuron_inverter", ["unknown hyperparameter 'momentum'", "learning_rate"]),
        ("--hparam=learning_rate", ["write NAME=VALUE"]),
        ("--hparam=batch_size=3 -k lstm_inference", ["closed rules", "'batch_size' = 3 breaks one of [1, 2, 4"]),
    ],
)
def test_pytest_suite_usage_errors(tmp_path, isolated_env, option, fragments):
    result = run_command(["pytest", str(REPO / "suite"), *option.split(), "-p", "no:cacheprovider",
                          "--results-dir", str(tmp_path / "results")], isolated_env, tmp_path)
    assert result.returncode == 4  # pytest's usage-error exit code
    assert_one_line_error(result, *fragments)


def test_unwritable_results_dir(tmp_path, isolated_env):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_command(["pytest", str(REPO / "suite"), "-p", "no:cacheprovider",
                          "--results-dir", str(blocker / "results")], isolated_env, tmp_path)
    assert_one_line_error(result, str(blocker), "--results-dir")


def test_bad_key_file(tmp_path, isolated_env):
    key = tmp_path / "key.pem"
    key.write_text("not a key")
    key.chmod(0o600)
    result = run_command(["pytest", str(REPO / "suite"), "-p", "no:cacheprovider",
                          "--key", str(key), "--results-dir", str(tmp_path / "r")],
                         isolated_env, tmp_path)
    assert_one_line_error(result, str(key))


def test_cli_unknown_workload(tmp_path, isolated_env):
    result = run_command(["accelbench", "run", "nope", "--results-dir", str(tmp_path / "r")],
                         isolated_env, tmp_path)
    assert result.returncode == 2
    assert_one_line_error(result, "unknown workload 'nope'", "neuron_inverter")


def test_cli_missing_dataset_names_the_fix(tmp_path, isolated_env):
    result = run_command(["accelbench", "data", "verify", "neuron_inverter", "--scale", "smoke",
                          "--data-dir", str(tmp_path / "empty")], isolated_env, tmp_path)
    assert_one_line_error(result, "accelbench data generate neuron_inverter")


def test_a_launcher_without_a_rendezvous_address(tmp_path, isolated_env):
    env = {**isolated_env, "RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0"}
    env.pop("MASTER_ADDR", None)
    env.pop("MASTER_PORT", None)
    result = run_command(["pytest", str(REPO / "suite"), "-p", "no:cacheprovider",
                          "--results-dir", str(tmp_path / "r")], env, tmp_path)
    assert_one_line_error(result, "torchrun started 2 processes", "MASTER_ADDR")
