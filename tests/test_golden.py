"""The validator against its golden corpus (tests/golden/, built by build_corpus.py): the valid
submission passes with no finding, and every invalid one reports exactly the finding its
expected.json names. The files are committed, so a change in what the validator accepts shows
up as a failing test, not as a silent drift. Two corpora: neuron_inverter's (tests/golden/valid,
tests/golden/invalid) and lstm_inference's, an inference submission under LoadGen
(tests/golden/inference/)."""

import json
import shutil
from pathlib import Path

import pytest

from accelbench.validation.validator import validate_submission

GOLDEN = Path(__file__).resolve().parent / "golden"
CORPORA = {"neuron_inverter": (GOLDEN, 30), "lstm_inference": (GOLDEN / "inference", 10)}
"""name: (the corpus's folder, the fewest invalid cases it must hold)"""
CASES = [(name, path.name) for name, (corpus, _) in CORPORA.items()
         for path in sorted((corpus / "invalid").iterdir())]


@pytest.mark.parametrize("corpus", CORPORA)
def test_the_corpus_is_there(corpus):
    root, minimum = CORPORA[corpus]
    assert (root / "valid" / "submission.json").is_file()
    assert len([case for name, case in CASES if name == corpus]) >= minimum


@pytest.mark.parametrize("corpus", CORPORA)
def test_the_valid_submission_has_no_finding(corpus):
    report = validate_submission(CORPORA[corpus][0] / "valid")
    assert report.findings == () and report.valid


def _materialize(root: Path, case: str, destination: Path) -> Path:
    """valid/ with the case's overlay written over it and its removed files deleted."""
    shutil.copytree(root / "valid", destination)
    overlay = root / "invalid" / case / "overlay"
    for path in overlay.rglob("*"):
        if path.is_file():
            target = destination / path.relative_to(overlay)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    for name in json.loads((root / "invalid" / case / "removed.json").read_text()):
        (destination / name).unlink()
    return destination


@pytest.mark.parametrize(("corpus", "case"), CASES, ids=[f"{corpus}/{case}" for corpus, case in CASES])
def test_each_invalid_submission_reports_its_defect(corpus, case, tmp_path):
    root = CORPORA[corpus][0]
    expected = json.loads((root / "invalid" / case / "expected.json").read_text())
    report = validate_submission(_materialize(root, case, tmp_path / case))
    errors = [f for f in report.findings if f.severity == "error"]
    assert not report.valid
    assert any(f.check == expected["check"] and expected["fragment"] in f.message for f in errors), (
        [f.as_json() for f in report.findings])
    if expected["alone"]:
        assert {f.check for f in errors} == {expected["check"]}, [f.as_json() for f in report.findings]
