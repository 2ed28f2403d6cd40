"""`accelbench package`: a submission tree from verified results, and the refusals."""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from accelbench.errors import UserError
from accelbench.results.provenance import tree_sha256
from accelbench.submission import packaging
from accelbench.submission.layout import SignedSubmissionManifest
from accelbench.submission.systems import SystemDescription, describe_this_machine
from accelbench.trust.keys import load_key
from accelbench.trust.signing import verify_document

from conftest import REPO, run_command


@pytest.fixture
def inputs(smoke_runs, tmp_path):
    """A private copy of the smoke set, this machine's system.json and the key."""
    _, _, results, key = smoke_runs
    copy = tmp_path / "results" / "cpu" / "neuron_inverter" / "smoke"
    shutil.copytree(results, copy)
    system = tmp_path / "cpu.json"
    system.write_text(describe_this_machine("accelbench tests").model_dump_json())
    return copy, system, load_key(key)


def test_the_tree_holds_everything_a_reviewer_needs(inputs, tmp_path):
    results, system, key = inputs
    out = tmp_path / "submission"
    signed = packaging.package([results], [system], out, key)
    verify_document(json.loads((out / "submission.json").read_text()))
    manifest = SignedSubmissionManifest.model_validate(signed)
    (result_set,) = manifest.result_sets
    assert result_set.directory == "results/cpu/neuron_inverter/smoke"
    assert [Path(p).name for p in result_set.runs] == ["run_1.json", "run_2.json", "run_3.json"]
    assert result_set.score == "results/cpu/neuron_inverter/smoke/score.json"
    assert tree_sha256(out / result_set.code) == result_set.code_sha256
    assert (out / result_set.code / "training.py").is_file()
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk - set(manifest.files) == {"submission.json"}
    for name, digest in manifest.files.items():
        assert hashlib.sha256((out / name).read_bytes()).hexdigest() == digest
    assert set(manifest.public_keys.values()) <= on_disk
    assert SystemDescription.model_validate_json((out / manifest.systems["cpu"]).read_bytes())


def test_cli_package(inputs, tmp_path, smoke_runs):
    results, system, _ = inputs
    _, env, _, key = smoke_runs
    out = tmp_path / "cli-submission"
    made = run_command(["accelbench", "package", str(results), "--system", str(system),
                        "--out", str(out), "--key", str(key)], env, tmp_path)
    assert made.returncode == 0, made.stderr
    assert "1 result set(s), 3 runs" in made.stdout and (out / "submission.json").is_file()


def _refused(inputs, tmp_path, fragment, results=None, systems=None):
    copy, system, key = inputs
    out = tmp_path / "refused"
    with pytest.raises(UserError, match=fragment):
        packaging.package(results or [copy], systems or [system], out, key)
    assert not out.exists()  # nothing half-written


def test_a_tampered_run_is_refused(inputs, tmp_path):
    run = inputs[0] / "run_2.json"
    run.write_text(run.read_text().replace('"seed": ', '"seed": 1', 1))
    _refused(inputs, tmp_path, "run_2.json")


def test_runs_without_their_score_are_refused(inputs, tmp_path):
    (inputs[0] / "score.json").unlink()
    _refused(inputs, tmp_path, "no score.json")


def test_a_system_that_differs_from_the_detected_hardware_is_refused(inputs, tmp_path):
    wrong = json.loads(inputs[1].read_text())
    wrong["host_processor_core_count"] = 4096
    inputs[1].write_text(json.dumps(wrong))
    _refused(inputs, tmp_path, "environment.cpu_count .* is not the declared 4096")


def test_results_without_a_system_description_are_refused(inputs, tmp_path):
    other = json.loads(inputs[1].read_text())
    other["system_name"] = "a100_n8"
    inputs[1].write_text(json.dumps(other))
    _refused(inputs, tmp_path, "no system description named 'cpu'")


def test_code_changed_since_the_runs_is_refused(inputs, tmp_path, monkeypatch):
    monkeypatch.setattr(packaging, "tree_sha256", lambda directory: "0" * 64)
    _refused(inputs, tmp_path, "sources changed since the runs")


def test_an_occupied_output_directory_is_refused(inputs, tmp_path):
    out = tmp_path / "occupied"
    out.mkdir()
    (out / "old").write_text("x")
    with pytest.raises(UserError, match="not an empty directory"):
        packaging.package([inputs[0]], [inputs[1]], out, inputs[2])


@pytest.mark.parametrize("path", sorted((REPO / "submissions").glob("*/system.json")),
                         ids=lambda p: p.parent.name)
def test_the_vendor_system_examples_are_valid(path):
    system = SystemDescription.model_validate_json(path.read_bytes())
    assert system.platform == path.parent.name and system.accelerators_per_node > 0


@given(st.dictionaries(st.sampled_from(sorted(SystemDescription.model_fields)),
                       st.one_of(st.none(), st.integers(), st.text(), st.floats(), st.booleans())))
def test_system_descriptions_parse_or_fail_cleanly(fields):
    try:
        SystemDescription.model_validate_json(json.dumps(fields))
    except ValidationError:
        pass
