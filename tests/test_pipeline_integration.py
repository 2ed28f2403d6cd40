"""The pipeline end to end at smoke scale, twice: the first run is the baseline and is accepted; the
second, deliberately slowed (a local batch of 16 instead of 128, on one thread instead of two: about
a quarter of the throughput on this 2-core CPU), must be flagged by compare, exit 1, stay unaccepted, and show on the dashboard."""

import pytest

from conftest import run_command

pytestmark = pytest.mark.integration

PIPELINE = """
name = "nightly"
workloads = ["neuron_inverter"]
scales = ["smoke"]
runs = 3
seed = 1
db = "sqlite:///{store}"
results_dir = "{root}/results"
dashboard_dir = "{root}/dashboard"
"""
SLOWED = '[hyperparameters]\nneuron_inverter = ["batch_size=16"]\n[environment]\nOMP_NUM_THREADS = "1"\n'


def test_the_pipeline_accepts_a_baseline_then_flags_a_slowed_run(isolated_env, tmp_path):
    config = PIPELINE.format(store=tmp_path / "store.sqlite", root=tmp_path)
    (tmp_path / "nightly.toml").write_text(config)
    (tmp_path / "slowed.toml").write_text(config + SLOWED)

    first = run_command(["accelbench", "pipeline", "run", "nightly.toml"], isolated_env, tmp_path, timeout=900)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "no accepted run to compare with" in first.stdout and "import 1 accepted" in first.stdout

    second = run_command(["accelbench", "pipeline", "run", "slowed.toml"], isolated_env, tmp_path, timeout=900)
    assert second.returncode == 1, second.stdout + second.stderr
    assert "compared with import 1" in second.stdout
    assert "import 2 NOT accepted: cpu/neuron_inverter/smoke (closed) samples_per_s regressed" in second.stdout

    page = (tmp_path / "dashboard" / "index.html").read_text()
    assert "nightly" in page and "NOT accepted" in page and "samples_per_s" in page and "data:image/png;base64," in page
    first_report, second_report = sorted((tmp_path / "results").glob("nightly-*/comparison.md"))
    assert "accepted" in first_report.read_text()
    assert "| samples_per_s |" in second_report.read_text() and "| regression |" in second_report.read_text()

    listed = run_command(["accelbench", "store", "list", "--db", f"sqlite:///{tmp_path / 'store.sqlite'}"],
                         isolated_env, tmp_path)
    assert "| cpu | neuron_inverter | smoke | closed | 6 |" in listed.stdout
