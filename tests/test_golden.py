"""The validator against its golden corpus (tests/golden/, built by build_corpus.py): the valid
submission passes with no finding, and every invalid one reports exactly the finding its
expected.json names. The files are committed, so a change in what the validator accepts shows
up as a failing test, not as a silent drift."""

import json
import shutil
from pathlib import Path

import pytest

from accelbench.validation.validator import validate_submission

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(path.name for path in (GOLDEN / "invalid").iterdir())


def test_the_corpus_is_there():
    assert (GOLDEN / "valid" / "submission.json").is_file()
    assert len(CASES) >= 30


def test_the_valid_submission_has_no_finding():
    report = validate_submission(GOLDEN / "valid")
    assert report.findings == () and report.valid


def _materialize(case: str, destination: Path) -> Path:
    """valid/ with the case's overlay written over it and its removed files deleted."""
    shutil.copytree(GOLDEN / "valid", destination)
    overlay = GOLDEN / "invalid" / case / "overlay"
    for path in overlay.rglob("*"):
        if path.is_file():
            target = destination / path.relative_to(overlay)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    for name in json.loads((GOLDEN / "invalid" / case / "removed.json").read_text()):
        (destination / name).unlink()
    return destination


@pytest.mark.parametrize("case", CASES)
def test_each_invalid_submission_reports_its_defect(case, tmp_path):
    expected = json.loads((GOLDEN / "invalid" / case / "expected.json").read_text())
    report = validate_submission(_materialize(case, tmp_path / case))
    errors = [f for f in report.findings if f.severity == "error"]
    assert not report.valid
    assert any(f.check == expected["check"] and expected["fragment"] in f.message for f in errors), (
        [f.as_json() for f in report.findings])
    if expected["alone"]:
        assert {f.check for f in errors} == {expected["check"]}, [f.as_json() for f in report.findings]
