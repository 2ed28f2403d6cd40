"""The rule files a submission names, found without letting its strings pick a path.

`load_rules` joins the version and workload into a path under the rules folder, so a name
from a hostile manifest ("../../x") is checked against a plain-name pattern before it gets
there; an unknown version or workload becomes a finding, not an exception.
"""

from __future__ import annotations

import re

from accelbench.errors import UserError
from accelbench.rules.loader import RULES_ROOT, load_rules
from accelbench.rules.schema import BenchmarkRules
from accelbench.submission.layout import MANIFEST
from accelbench.validation.findings import Findings, shown

PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_]{0,63}$")


class RulesLookup:
    """The rules of each workload in the submission's rule-set version, loaded once each."""

    def __init__(self, version: str, findings: Findings) -> None:
        self.version, self.findings = version, findings
        self._loaded: dict[str, BenchmarkRules | None] = {}
        self.version_exists = bool(PLAIN_NAME.match(version)) and (RULES_ROOT / version).is_dir()
        if not self.version_exists:
            findings.error("rules.version", MANIFEST,
                           f"rules_version {shown(version)} is not a rule set of this accelbench")

    def rules(self, workload: str) -> BenchmarkRules | None:
        if not self.version_exists:
            return None
        if workload not in self._loaded:
            self._loaded[workload] = self._load(workload)
        return self._loaded[workload]

    def _load(self, workload: str) -> BenchmarkRules | None:
        if not PLAIN_NAME.match(workload):
            self.findings.error("rules.workload", MANIFEST, f"workload {shown(workload)} is not a workload name")
            return None
        try:
            return load_rules(workload, self.version)
        except UserError as err:
            self.findings.error("rules.workload", MANIFEST, str(err))
            return None
