"""`validate_submission(root)`: every check of a submission tree, in order, into one report.

Nothing from the submission is executed or evaluated: files are read (capped, without following
links), parsed as strict JSON or MLLOG lines, and judged with the same rule models, target
comparison, scoring and hashing functions that produced them.
"""

from __future__ import annotations

from pathlib import Path

from accelbench.submission.layout import MANIFEST
from accelbench.validation.files import SubmissionFiles
from accelbench.validation.findings import Findings, Report
from accelbench.validation.manifest_checks import check_manifest
from accelbench.validation.result_sets import SetContext, check_result_set
from accelbench.validation.rules_lookup import RulesLookup
from accelbench.validation.system_checks import load_systems

MAX_RESULT_SETS = 200  # systems x workloads x scales x modes of a large submission


def validate_submission(root: Path) -> Report:
    """The report on the submission tree at `root`; valid only if no check found an error."""
    findings = Findings()
    sets = runs = 0
    try:
        sets, runs = _validate(Path(root), findings)
    except Exception as err:  # noqa: BLE001 - the validator must answer, even about its own bug
        findings.error("validator.internal", ".", f"the validator failed on this input "
                       f"({type(err).__name__}: {err}); this is a bug in accelbench: please report it")
    return Report(str(root), tuple(findings.items), result_sets=sets, runs=runs)


def _validate(root: Path, findings: Findings) -> tuple[int, int]:
    if not root.is_dir():
        findings.error("submission.root", ".", f"{root} is not a directory: pass the submission's folder")
        return 0, 0
    files = SubmissionFiles(root, findings)
    checked = check_manifest(files, findings)
    if checked is None:
        return 0, 0
    manifest = checked.manifest
    systems = load_systems(files, manifest, findings)
    rules = RulesLookup(manifest.rules_version, findings)
    context = SetContext(files, manifest, checked.trusted, systems, findings)
    if not manifest.result_sets:
        findings.error("set.layout", MANIFEST, "result_sets is empty: a submission holds results")
    if len(manifest.result_sets) > MAX_RESULT_SETS:
        findings.error("set.layout", MANIFEST, f"result_sets lists {len(manifest.result_sets)} sets; "
                       f"more than {MAX_RESULT_SETS} is no submission, and none was read")
        return 0, 0
    seen: set[tuple[str, str, str, str]] = set()
    runs = 0
    for result_set in manifest.result_sets:
        identity = (result_set.system, result_set.workload, result_set.scale, result_set.mode)
        if identity in seen:
            findings.error("set.layout", result_set.directory, f"a second set of {' '.join(identity)}: "
                           "a submission holds one set per system, workload, scale and mode")
            continue
        seen.add(identity)
        runs += check_result_set(result_set, rules.rules(result_set.workload), context)
    return len(manifest.result_sets), runs
