"""What the validator found, and the report that carries it to a person or a machine.

A finding is one line: the check that failed, the file (relative to the submission), and what
is wrong with which field. Text taken from a submission may be hostile (huge, multi-line, not
valid Unicode), so a finding cleans it once here rather than trusting every caller to.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

from rich.console import Group
from rich.table import Table
from rich.text import Text

Severity = Literal["error", "warning"]
MAX_MESSAGE_CHARS = 500


def printable(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """`text` as one line of valid Unicode, at most `limit` characters."""
    clean = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    clean = " ".join(clean.split())
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


def shown(value: object, limit: int = 80) -> str:
    """A value from a file, quoted as JSON and cut short: enough to recognise it."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (ValueError, RecursionError):
        text = repr(type(value))
    return printable(text, limit)


@dataclass(frozen=True)
class Finding:
    severity: Severity
    check: str
    path: str
    message: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", printable(self.path, 200))
        object.__setattr__(self, "message", printable(self.message))

    def as_json(self) -> dict[str, str]:
        return {"severity": self.severity, "check": self.check, "path": self.path,
                "message": self.message}


@dataclass
class Findings:
    """The list the checks append to while they run."""

    items: list[Finding] = field(default_factory=list)

    def error(self, check: str, path: str, message: str) -> None:
        self.items.append(Finding("error", check, path, message))

    def warning(self, check: str, path: str, message: str) -> None:
        self.items.append(Finding("warning", check, path, message))


@dataclass(frozen=True)
class Report:
    """The verdict on one submission: valid only when no check found an error."""

    submission: str
    findings: tuple[Finding, ...]
    result_sets: int = 0
    runs: int = 0

    @property
    def errors(self) -> int:
        return sum(f.severity == "error" for f in self.findings)

    @property
    def warnings(self) -> int:
        return sum(f.severity == "warning" for f in self.findings)

    @property
    def valid(self) -> bool:
        return self.errors == 0

    @property
    def exit_code(self) -> int:
        return 0 if self.valid else 1

    def as_json(self) -> dict[str, object]:
        """The stable machine form: {"valid", "errors", "warnings", "findings"}."""
        return {"valid": self.valid, "errors": self.errors, "warnings": self.warnings,
                "findings": [f.as_json() for f in self.findings]}

    def json_text(self) -> str:
        return json.dumps(self.as_json(), indent=2, ensure_ascii=False) + "\n"

    def verdict(self) -> str:
        word = "VALID" if self.valid else "NOT VALID"
        return (f"{word}: {self.submission} — {self.result_sets} result set(s), {self.runs} run(s); "
                f"{self.errors} error(s), {self.warnings} warning(s)")

    def renderable(self) -> Group:
        """A rich table, one row per finding, then the verdict line."""
        parts = []
        if self.findings:
            table = Table(show_lines=False)
            for name in ("severity", "check", "file", "finding"):
                table.add_column(name, overflow="fold")
            for f in self.findings:
                style = "red" if f.severity == "error" else "yellow"
                table.add_row(Text(f.severity, style=style), Text(f.check), Text(f.path),
                              Text(f.message))
            parts.append(table)
        parts.append(Text(self.verdict(), style="bold green" if self.valid else "bold red"))
        return Group(*parts)
