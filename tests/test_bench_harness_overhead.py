"""benchmarks/bench_harness_overhead.py runs the harness and the bare loop it is measured against
(one tiny pair here; the figure itself comes from the full run the README records)."""

import subprocess
import sys

from conftest import REPO, run_command


def test_the_overhead_benchmark_runs_and_prints_the_ratio(isolated_env, tmp_path):
    generated = run_command(["accelbench", "data", "generate", "neuron_inverter", "--scale", "smoke"],
                            isolated_env, tmp_path)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    done = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_harness_overhead.py"), "--epochs", "1", "--pairs", "1"],
        env=isolated_env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pair 1: bare" in done.stdout and "median ratio" in done.stdout
