"""Load a versioned rule file into `BenchmarkRules`, or fail with file, field and reason."""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic import ValidationError

from accelbench.errors import UserError
from accelbench.rules.schema import BenchmarkRules

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on the Python 3.10 IPU image
    import tomli as tomllib

RULES_ROOT = Path(__file__).resolve().parent
DEFAULT_VERSION = "v1"


def available_workloads(version: str = DEFAULT_VERSION) -> list[str]:
    """Workload ids that have a rule file in this rule-set version."""
    return sorted(path.stem for path in (RULES_ROOT / version).glob("*.toml"))


def rules_path(workload: str, version: str = DEFAULT_VERSION) -> Path:
    path = RULES_ROOT / version / f"{workload}.toml"
    if not path.is_file():
        known = ", ".join(available_workloads(version)) or "none"
        raise UserError(
            f"unknown workload '{workload}' in rule set {version}: known workloads are {known}"
        )
    return path


def load_rules(workload: str, version: str = DEFAULT_VERSION) -> BenchmarkRules:
    """The rules of `workload` in rule-set `version`."""
    rules = load_rules_file(rules_path(workload, version))
    if rules.workload != workload or rules.rules_version != version:
        raise UserError(
            f"{rules_path(workload, version)}: field 'workload'/'rules_version' says "
            f"{rules.workload}/{rules.rules_version}, the file name says {workload}/{version}"
        )
    return rules


def load_dataset_rules(name: str, version: str = DEFAULT_VERSION) -> BenchmarkRules:
    """Rules that define the dataset of `name`: a workload, or a family whose variants share one
    dataset (e.g. 'snn_bptt' for snn_bptt_dense and snn_bptt_sparse); a variant's rules serve."""
    if name in available_workloads(version):
        return load_rules(name, version)
    variants = [rules for rules in map(lambda w: load_rules(w, version), available_workloads(version))
                if rules.family == name]
    if not variants:
        families = sorted({load_rules(w, version).family for w in available_workloads(version)})
        raise UserError(
            f"unknown workload or family '{name}' in rule set {version}: known are "
            f"{', '.join(sorted(set(available_workloads(version)) | set(families)))}"
        )
    return variants[0]


def load_rules_file(path: Path) -> BenchmarkRules:
    """Parse and validate one rule file; every failure is a one-line `UserError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise UserError(f"{path}: cannot read rule file: {err}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"{path}: invalid TOML: {err}; fix the syntax at that line") from None
    try:
        return BenchmarkRules.model_validate(data)
    except ValidationError as err:
        raise UserError(f"{path}: {describe_validation_error(err)}") from None


def describe_validation_error(err: ValidationError) -> str:
    """The first problem of a pydantic error as "field 'a.b': reason", plus a count of the rest.

    Model-level validators in the schema start their message with the sub-field they judge
    ("quality.target: ..."), which is appended to the location here.
    """
    problems = err.errors(include_url=False)
    first = problems[0]
    location = [str(part) for part in first["loc"]]
    reason = first["msg"]
    if first["type"] == "value_error":
        reason = reason.removeprefix("Value error, ")
        named = re.match(r"^([A-Za-z_][\w.]*): (.*)$", reason)
        if named:
            location.append(named.group(1))
            reason = named.group(2)
    message = f"field '{'.'.join(location) or '(top level)'}': {reason}"
    if "input" in first and first["type"] not in ("missing",) and not isinstance(first["input"], dict):
        message += f" (got {first['input']!r})"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem{'s' if len(problems) > 2 else ''})"
    return message.replace("\n", " ")
