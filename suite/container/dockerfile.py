"""A Dockerfile read as instructions and stages: what `container build` labels and tests check.

It reads the subset of the syntax that matters for that: comments (kept with the instruction they
precede, so a `# hadolint ignore=` pragma and its reason stay together), continuation lines ending
in a backslash, and global ARG defaults substituted into FROM, the way Docker resolves the base.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

DIGEST = re.compile(r"@(sha256:[0-9a-f]{64})$")
VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


@dataclass(frozen=True)
class Instruction:
    line: int  # where it starts, from 1
    keyword: str  # upper case: FROM, RUN, COPY, ...
    arguments: str  # the rest, continuation lines joined with single spaces
    comments: tuple[str, ...] = ()  # the comment lines directly above it, without the '#'

    def exec_form(self) -> list[str] | None:
        """The JSON array of an exec-form RUN/CMD/ENTRYPOINT/SHELL, None for the shell form."""
        try:
            value = json.loads(self.arguments)
        except ValueError:
            return None
        return value if isinstance(value, list) and all(isinstance(v, str) for v in value) else None


@dataclass(frozen=True)
class Stage:
    base: str  # the FROM image, global ARG defaults substituted
    name: str | None  # the `AS name`, if any
    instructions: tuple[Instruction, ...]  # after the FROM

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> list[Instruction]:
    instructions: list[Instruction] = []
    comments: list[str] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("#"):
            if not pending:  # a comment inside a continued instruction is dropped, as Docker does
                comments.append(line[1:].strip())
            continue
        if not line:
            if not pending:
                comments = []
            continue
        if not pending:
            start = number
        continued = line.endswith("\\")
        pending.append(line[:-1].strip() if continued else line)
        if not continued:
            instructions.append(_instruction(start, " ".join(p for p in pending if p), comments))
            pending, comments = [], []
    if pending:
        instructions.append(_instruction(start, " ".join(p for p in pending if p), comments))
    return instructions


def _instruction(line: int, text: str, comments: list[str]) -> Instruction:
    keyword, _, arguments = text.partition(" ")
    return Instruction(line, keyword.upper(), arguments.strip(), tuple(comments))


def global_args(instructions: list[Instruction]) -> dict[str, str]:
    """The ARG defaults declared before the first FROM: the only ones FROM can use."""
    found: dict[str, str] = {}
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword == "ARG":
            name, _, default = instruction.arguments.partition("=")
            found[name.strip()] = default.strip().strip('"')
    return found


def substitute(text: str, variables: dict[str, str]) -> str:
    return VARIABLE.sub(lambda m: variables.get(m.group(1) or m.group(2), ""), text)


def stages(instructions: list[Instruction]) -> list[Stage]:
    variables = global_args(instructions)
    found: list[Stage] = []
    base: str | None = None
    name: str | None = None
    body: list[Instruction] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            if base is not None:
                found.append(Stage(base, name, tuple(body)))
            words = [w for w in instruction.arguments.split() if not w.startswith("--platform")]
            base = substitute(words[0], variables) if words else ""
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            body = []
        elif base is not None:
            body.append(instruction)
    if base is not None:
        found.append(Stage(base, name, tuple(body)))
    return found


def pinned_digest(reference: str) -> str | None:
    """The sha256 digest an image reference is pinned to, None for a bare tag."""
    match = DIGEST.search(reference)
    return match.group(1) if match else None


def final_base(text: str) -> str:
    """The image the final stage starts from (what the built image is based on)."""
    return stages(parse(text))[-1].base
