"""The declared systems (systems/<name>.json) and whether each run ran on the system its set
names: the declaration must parse and agree with the manifest, and every run's detected
hardware must match it (`accelbench.submission.systems.system_differences`, shared with the packer)."""

from __future__ import annotations

from pydantic import ValidationError

from accelbench.results.models import TrainingRunResult
from accelbench.rules.loader import describe_validation_error
from accelbench.submission.layout import SYSTEMS_DIR, SubmissionManifest
from accelbench.submission.systems import SystemDescription, system_differences
from accelbench.validation.files import SubmissionFiles
from accelbench.validation.findings import Findings, shown


def load_systems(
    files: SubmissionFiles, manifest: SubmissionManifest, findings: Findings
) -> dict[str, SystemDescription]:
    """The declared systems that parse, by name; findings for the rest."""
    systems = {}
    for name, relative in manifest.systems.items():
        if relative != f"{SYSTEMS_DIR}/{name}.json":
            findings.error("system.file", relative,
                           f"systems[{shown(name)}] names {shown(relative)}; it lives at {SYSTEMS_DIR}/{name}.json")
            continue
        if not files.exists(relative):
            if relative not in files.flagged:
                findings.error("system.file", relative, f"systems[{shown(name)}]: the file is missing")
            continue
        doc = files.read_json(relative)
        if doc is None:
            continue
        try:
            system = SystemDescription.model_validate(doc)
        except ValidationError as err:
            findings.error("system.schema", relative, describe_validation_error(err))
            continue
        for field, declared, expected in (
            ("system_name", system.system_name, name),
            ("submitter", system.submitter, manifest.submitter),
            ("division", system.division, manifest.division),
        ):
            if declared != expected:
                findings.error("system.consistency", relative,
                               f"{field} is {shown(declared)} but submission.json says {shown(expected)}")
        systems[name] = system
    return systems


def check_run_system(
    system: SystemDescription, result: TrainingRunResult, relative: str, findings: Findings
) -> None:
    for difference in system_differences(system, result):
        findings.error("run.system", relative, difference)
