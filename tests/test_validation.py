"""`accelbench validate`: a real packaged submission is valid, and each one-defect mutation of
it (tests/validation_cases.py) is reported by the check that owns that defect, in one line."""

import json
import os
from pathlib import Path

import pytest
from rich.console import Console

from accelbench.results.models import SignedTrainingRunResult
from accelbench.rules.loader import load_rules
from accelbench.validation.findings import Finding, Report
from accelbench.validation.run_checks import derived_convergence
from accelbench.validation.validator import validate_submission

from validation_cases import CASES, RULES, SET_DIR, Tree, shared_submission

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pristine(smoke_runs, tmp_path_factory):
    return shared_submission(smoke_runs, tmp_path_factory)


@pytest.fixture
def tree(pristine, tmp_path) -> Tree:
    root, key = pristine
    return Tree.copy(root, tmp_path / "submission", key)


def errors(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.severity == "error"]


def test_the_packaged_submission_is_valid(pristine):
    report = validate_submission(pristine[0])
    assert report.findings == ()
    assert report.valid and report.exit_code == 0
    assert (report.result_sets, report.runs) == (1, 3)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_defect_is_found_by_its_check(case, tree):
    case.apply(tree)
    report = validate_submission(tree.root)
    assert not report.valid and report.exit_code == 1
    found = [f for f in errors(report) if f.check == case.check and case.fragment in f.message]
    assert found, [f.as_json() for f in report.findings]
    if case.alone:
        assert {f.check for f in errors(report)} == {case.check}, [f.as_json() for f in report.findings]
    assert all("\n" not in f.message for f in report.findings)


def test_a_log_line_is_parsed_never_evaluated(tree):
    marker = Path("/tmp/accelbench-pwned")
    marker.unlink(missing_ok=True)
    next(case for case in CASES if case.name == "log_not_an_event").apply(tree)
    validate_submission(tree.root)
    assert not marker.exists()


def test_the_json_report_has_a_stable_schema(tree):
    tree.path(f"{SET_DIR}/notes.txt").write_text("extra\n")
    report = validate_submission(tree.root)
    doc = json.loads(report.json_text())
    assert set(doc) == {"valid", "errors", "warnings", "findings"}
    assert doc["valid"] is False and doc["errors"] == 1 and doc["warnings"] == 0
    assert doc["findings"] == [{"severity": "error", "check": "manifest.unlisted",
                                "path": f"{SET_DIR}/notes.txt",
                                "message": "is not listed in submission.json (added after packaging): remove it"}]


def test_the_human_report_is_a_table_then_a_verdict(tree):
    tree.path(f"{SET_DIR}/notes.txt").write_text("extra\n")
    console = Console(record=True, width=200)
    console.print(validate_submission(tree.root).renderable())
    text = console.export_text()
    assert "manifest.unlisted" in text and f"{SET_DIR}/notes.txt" in text
    assert text.rstrip().splitlines()[-1].startswith("NOT VALID:")
    assert "1 result set(s), 3 run(s); 1 error(s), 0 warning(s)" in text


@pytest.mark.parametrize("make", ["missing", "file"])
def test_a_root_that_is_not_a_directory(tmp_path, make):
    root = tmp_path / "submission"
    if make == "file":
        root.write_text("{}")
    report = validate_submission(root)
    assert [f.check for f in report.findings] == ["submission.root"]


def test_an_empty_directory_has_no_manifest(tmp_path):
    """The root may be a link (the user chose it); only what is inside must not be."""
    (tmp_path / "linked").symlink_to(tmp_path / "real", target_is_directory=True)
    (tmp_path / "real").mkdir()
    report = validate_submission(tmp_path / "linked")
    assert [(f.check, f.path) for f in report.findings] == [("manifest.missing", "submission.json")]


def test_a_linked_manifest_is_not_followed(tmp_path):
    (tmp_path / "elsewhere.json").write_text("{}")
    root = tmp_path / "submission"
    root.mkdir()
    (root / "submission.json").symlink_to(tmp_path / "elsewhere.json")
    report = validate_submission(root)
    assert [f.check for f in report.findings] == ["file.symlink"]


def test_hostile_entries_are_reported_not_followed(tree):
    outside = tree.path("code/escape")
    outside.symlink_to("/", target_is_directory=True)
    loop = tree.path("keys/loop.pem")
    loop.symlink_to(loop)
    deep = tree.path("results/" + "/".join(["d"] * 20))
    deep.mkdir(parents=True)
    (deep / "x.json").write_text("{}")
    bad_name = os.fsencode(tree.path("systems")) + b"/\xff.json"
    with open(bad_name, "wb") as handle:
        handle.write(b"{}")
    with tree.path(f"{SET_DIR}/run_1.extra.mllog").open("wb") as handle:
        handle.truncate(100 * 2**20)  # sparse: reported from its size, never read
    report = validate_submission(tree.root)
    found = {(f.check, f.path) for f in report.findings}
    assert ("file.symlink", "code/escape") in found
    assert ("file.symlink", "keys/loop.pem") in found
    assert any(check == "file.tree" for check, _ in found)
    assert any(check == "file.name" and path.startswith("systems/") for check, path in found)
    assert ("file.size", f"{SET_DIR}/run_1.extra.mllog") in found
    assert all(f.check != "validator.internal" for f in report.findings)


def test_a_finding_is_one_line_of_valid_text():
    finding = Finding("error", "file.json", "a/\udcff.json", "line one\nline two " + "x" * 2000)
    assert "\n" not in finding.message and len(finding.message) == 500
    assert finding.path == "a/\\xff.json"
    json.dumps(finding.as_json()).encode("utf-8")


def test_convergence_is_derived_as_the_harness_decides(pristine):
    run = SignedTrainingRunResult.model_validate_json((pristine[0] / SET_DIR / "run_1.json").read_bytes())
    quality = run.quality
    rules = load_rules(run.workload)

    def variant(mode="to_target", **changes):
        return run.model_copy(update={"mode": mode, "quality": quality.model_copy(update=changes)})

    assert derived_convergence(run, rules)
    assert not derived_convergence(variant(eval_kind="pseudo", achieved=0.3), rules)  # true eval misses
    assert derived_convergence(variant(eval_kind="pseudo", achieved=0.2), rules)
    assert not derived_convergence(variant(mode="fixed_epochs", achieved=0.29), rules)
    last_missed = [*quality.curve[:-1], quality.curve[-1].model_copy(update={"value": 0.5})]
    assert derived_convergence(variant(mode="fixed_epochs", curve=last_missed, achieved=0.2), rules)
    assert not derived_convergence(variant(curve=last_missed, achieved=0.5), rules)


def test_convergence_needs_the_rules_bounds_at_the_last_eval(pristine):
    run = SignedTrainingRunResult.model_validate_json((pristine[0] / SET_DIR / "run_1.json").read_bytes())
    own = load_rules(run.workload)
    spiking = load_rules("snn_bptt_sparse").quality  # its firing-rate bounds on this run's target
    sparse = own.model_copy(update={"quality": own.quality.model_copy(update={"bounds": spiking.bounds})})
    low, high = (bound.value[run.scale] for bound in sparse.quality.bounds)

    def measured(rate):
        measurements = {"firing_rate": rate, "firing_rate.hidden_1": rate, "firing_rate.hidden_2": rate}
        curve = [*run.quality.curve[:-1], run.quality.curve[-1].model_copy(update={"measurements": measurements})]
        return run.model_copy(update={"quality": run.quality.model_copy(update={"curve": curve})})

    assert derived_convergence(measured((low + high) / 2), sparse)
    assert not derived_convergence(measured(high * 2), sparse)
    assert not derived_convergence(measured(None), sparse)
    assert derived_convergence(measured(high * 2), own)  # no bounds there


def as_fixed_epoch_set(tree: Tree, max_epochs: int) -> None:
    """The smoke runs (6 epochs each) restated as the 6-epoch weak-scaling set they could be."""
    fixed = f"{SET_DIR}_fixed_epochs"
    tree.path(SET_DIR).rename(tree.path(fixed))
    tree.path(f"{fixed}/score.json").unlink()
    for n in (1, 2, 3):
        tree.edit(f"{fixed}/run_{n}.json", lambda doc: (doc.update(mode="fixed_epochs"),
                                                        doc["quality"].update(max_epochs=max_epochs)))

    def restate(manifest):
        result_set = manifest["result_sets"][0]
        result_set.update(mode="fixed_epochs", directory=fixed, score=None,
                          runs=[f"{fixed}/run_{n}.json" for n in (1, 2, 3)])
    tree.reseal_manifest(restate)


def test_a_fixed_epoch_set_needs_no_score(tree):
    as_fixed_epoch_set(tree, RULES.scaling.epochs["smoke"])
    report = validate_submission(tree.root)
    assert report.findings == () and report.runs == 3


def test_a_fixed_epoch_set_runs_the_scaling_rules_epochs(tree):
    as_fixed_epoch_set(tree, RULES.quality.max_epochs["smoke"])
    report = validate_submission(tree.root)
    assert {(f.check, f.message.split(";")[0]) for f in errors(report)} == {
        ("run.rules", "quality.max_epochs is 15"),
        ("run.quality", "stopped at epoch 6 of 15 without diverging"),
    }


def test_the_reference_convergence_check_compares_only_at_the_calibrated_global_batch(tree):
    """A set trained at a larger global batch (e.g. more processes at the same local batch) has no
    reference convergence points to be compared with: a warning says so instead of a verdict."""
    for n in (1, 2, 3):
        tree.edit(f"{SET_DIR}/run_{n}.json", lambda doc: doc["hyperparameters"].__setitem__("batch_size", 256))
    tree.reseal()
    report = validate_submission(tree.root)
    assert errors(report) == [], [f.as_json() for f in report.findings]
    (warning,) = report.findings
    assert warning.check == "convergence.untested" and "global batch 256" in warning.message
    assert f"calibration at {RULES.calibration['smoke'].global_batch_size}" in warning.message
