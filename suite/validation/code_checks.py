"""The code that ran is the code that ships: the sources copied into code/<system>/<workload>
must hash (`accelbench.results.provenance.tree_sha256`, as the runner hashed them) to the set's
code_sha256, and every run of the set must have recorded that same hash."""

from __future__ import annotations

from accelbench.results.models import TrainingRunResult
from accelbench.results.provenance import tree_sha256
from accelbench.submission.layout import CODE_DIR, ResultSet
from accelbench.validation.files import SubmissionFiles
from accelbench.validation.findings import Findings


def check_code_tree(files: SubmissionFiles, result_set: ResultSet, findings: Findings) -> None:
    expected = f"{CODE_DIR}/{result_set.system}/{result_set.workload}"
    if result_set.code != expected:
        findings.error("code.tree", result_set.code, f"the set's code directory must be {expected}")
        return
    sources = [path for path in files.under(result_set.code) if path.endswith(".py")]
    if not sources:
        findings.error("code.tree", result_set.code, "holds no .py sources of the implementation")
        return
    unreadable = [path for path in sources if files.read_bytes(path) is None]
    if unreadable or not files.is_safe(result_set.code):
        return  # a link or an oversized file inside was already reported; hashing would follow it
    actual = tree_sha256(files.root / result_set.code)
    if actual != result_set.code_sha256:
        findings.error("code.tree", result_set.code,
                       f"the sources hash to {actual}, not the set's code_sha256 {result_set.code_sha256}")


def check_run_code(result: TrainingRunResult, result_set: ResultSet, relative: str, findings: Findings) -> None:
    recorded = result.environment.implementation_sha256
    if recorded != result_set.code_sha256:
        findings.error("run.code", relative,
                       f"environment.implementation_sha256 {recorded} is not the set's code_sha256 "
                       f"{result_set.code_sha256}: the run was made with other code")
