"""The suite's pytest hooks are a good guest: they exist only where the suite is collected, and
collecting it writes nothing."""

from conftest import REPO, run_command


def test_other_pytest_sessions_get_no_suite_options(tmp_path, isolated_env):
    (tmp_path / "test_other.py").write_text("def test_nothing():\n    pass\n")
    other = run_command(["pytest", "--help", "-p", "no:cacheprovider"], isolated_env, tmp_path)
    assert other.returncode == 0, other.stderr
    assert "--device" not in other.stdout and "--scale" not in other.stdout and "accelbench" not in other.stdout
    suite = run_command(["pytest", str(REPO / "suite"), "--help", "-p", "no:cacheprovider"], isolated_env, tmp_path)
    assert "--device" in suite.stdout and "accelbench benchmark suite" in suite.stdout


def test_collecting_the_suite_writes_nothing(tmp_path, isolated_env):
    results = tmp_path / "results"
    collected = run_command(["pytest", str(REPO / "suite"), "--collect-only", "-q", "-p", "no:cacheprovider",
                             "--results-dir", str(results)], isolated_env, tmp_path)
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "test_neuron_inverter.py::test_run[run1]" in collected.stdout
    made = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    assert made == [], made  # no signing key, no results directory, no dataset
