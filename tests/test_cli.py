"""The command line: rules display, key generation and verification verdicts."""

import json

from typer.testing import CliRunner

from accelbench.cli import app
from accelbench.report.rules_reference import BEGIN, END, markdown
from accelbench.rules.loader import available_workloads, load_rules

from conftest import REPO

runner = CliRunner()


def test_rules_show_prints_targets_and_constraints():
    result = runner.invoke(app, ["rules", "show", "neuron_inverter"])
    assert result.exit_code == 0, result.output
    for fragment in ("train_to_target", "smoke", "small", "full", "0.28", "0.12",
                     "learning_rate", "integer range [16, 4096]", "Init budget: closed 1800 s"):
        assert fragment in result.output


def test_rules_show_json_is_the_validated_model():
    result = runner.invoke(app, ["rules", "show", "neuron_inverter", "--json"])
    assert result.exit_code == 0
    assert json.loads(result.output) == json.loads(load_rules("neuron_inverter").model_dump_json())


def test_keygen_writes_a_private_key_once(tmp_path):
    key = tmp_path / "k.pem"
    first = runner.invoke(app, ["keygen", "--key", str(key)])
    assert first.exit_code == 0 and "key id" in first.output and "PUBLIC KEY" in first.output
    assert key.stat().st_mode & 0o777 == 0o600
    again = runner.invoke(app, ["keygen", "--key", str(key)])
    assert again.exit_code != 0  # refuses to overwrite without --force
    assert runner.invoke(app, ["keygen", "--key", str(key), "--force"]).exit_code == 0


def test_verify_reports_each_file(tmp_path):
    missing = tmp_path / "run_1.json"
    garbage = tmp_path / "run_2.json"
    garbage.write_text("{not json")
    result = runner.invoke(app, ["verify", str(missing), str(garbage)])
    assert result.exit_code == 1
    assert result.output.count("FAIL") == 2 and "does not exist" in result.output
    assert "not valid JSON" in result.output


def test_readme_rules_reference_is_generated_from_the_rule_files():
    readme = (REPO / "README.md").read_text()
    for workload in available_workloads():
        begin, end = BEGIN.format(workload=workload), END.format(workload=workload)
        assert begin in readme, f"README lacks the generated rules of {workload}"
        block = readme[readme.index(begin): readme.index(end) + len(end)] + "\n"
        assert block == markdown(load_rules(workload)), (
            f"README rules of {workload} are stale: paste `accelbench rules show {workload} --markdown`"
        )
