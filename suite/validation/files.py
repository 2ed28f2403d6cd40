"""Reading a submission tree that may be hostile.

The tree is listed once, without following any link, so a link (into or out of the tree), a
device or a FIFO is found and reported and never opened: opening a FIFO would hang, following
a link would read outside the tree. Every read is capped by the kind of file, text must be
strict UTF-8, and JSON must be strict JSON (the same hooks `accelbench verify` parses result
files with) and shallow: nothing accelbench writes nests deeper than a handful of levels.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import os
import stat
from pathlib import Path

from accelbench.trust.verification import refuse_constant, refuse_duplicates
from accelbench.validation.findings import Findings, shown

MAX_JSON_BYTES = 8 * 2**20
MAX_LOG_BYTES = 64 * 2**20
MAX_OTHER_BYTES = 16 * 2**20
MAX_JSON_DEPTH = 64
MAX_ENTRIES = 20_000  # a submission of 5 workloads x 10 runs has about 150 files
MAX_DIRECTORY_DEPTH = 16


def size_cap(relative: str) -> int:
    if relative.endswith((".mllog", "mlperf_log_trace.json", ".draws.nc")):
        return MAX_LOG_BYTES
    if relative.endswith(".json"):
        return MAX_JSON_BYTES
    return MAX_OTHER_BYTES


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} overflows a double")
    return value


def json_depth(value: object) -> int:
    """How deeply lists and objects nest in `value` (a scalar is depth 0); no recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


class SubmissionFiles:
    """The regular files of a submission tree, by relative POSIX path, and capped reads of them."""

    def __init__(self, root: Path, findings: Findings) -> None:
        self.root = root
        self.findings = findings
        self.sizes: dict[str, int] = {}
        self.flagged: set[str] = set()  # entries already reported: links, special or huge files
        self._bytes: dict[str, bytes | None] = {}
        self._json: dict[str, object] = {}
        self._scan()

    def _flag(self, relative: str, check: str, message: str) -> None:
        self.findings.error(check, relative, message)
        self.flagged.add(relative)

    def _scan(self) -> None:
        pending, seen = [("", 0)], 0
        while pending:
            directory, depth = pending.pop()
            try:
                with os.scandir(self.root / directory if directory else self.root) as entries:
                    listed = sorted(itertools.islice(entries, MAX_ENTRIES - seen + 1), key=lambda e: e.name)
            except OSError as err:
                self._flag(directory or ".", "file.read", f"directory cannot be listed ({err.strerror})")
                continue
            seen += len(listed)
            if seen > MAX_ENTRIES:
                self._flag(directory or ".", "file.tree",
                           f"the tree has more than {MAX_ENTRIES} entries; listing stopped")
                return
            for entry in listed:
                relative = f"{directory}/{entry.name}" if directory else entry.name
                self._classify(entry, relative, depth, pending)

    def _classify(self, entry: os.DirEntry, relative: str, depth: int, pending: list) -> None:
        try:
            info = entry.stat(follow_symlinks=False)
        except OSError as err:
            self._flag(relative, "file.read", f"cannot be inspected ({err.strerror})")
            return
        mode, size = info.st_mode, info.st_size
        try:
            entry.name.encode("utf-8")
        except UnicodeEncodeError:
            self._flag(relative, "file.name", "has a name that is not UTF-8: rename or remove it")
            return
        if stat.S_ISLNK(mode):
            self._flag(relative, "file.symlink", self._describe_link(entry.path))
        elif stat.S_ISDIR(mode):
            if depth + 1 > MAX_DIRECTORY_DEPTH:
                self._flag(relative, "file.tree",
                           f"directories nest deeper than {MAX_DIRECTORY_DEPTH} levels; not read")
            else:
                pending.append((relative, depth + 1))
        elif not stat.S_ISREG(mode):
            self._flag(relative, "file.type",
                       "is not a regular file or directory (a FIFO, socket or device): remove it")
        elif size > size_cap(relative):
            self._flag(relative, "file.size",
                       f"is {size} bytes, over the {size_cap(relative)}-byte limit for such a "
                       "file: not read")
        else:
            self.sizes[relative] = size

    def _describe_link(self, path: str) -> str:
        try:
            target = os.readlink(path)
            inside = os.path.realpath(path).startswith(os.path.realpath(self.root) + os.sep)
        except OSError:
            target, inside = "?", False
        where = "inside" if inside else "outside"
        return (f"is a symbolic link to {shown(target)} ({where} the tree): a submission holds "
                "only regular files; copy the file in")

    def exists(self, relative: str) -> bool:
        return relative in self.sizes

    def under(self, directory: str) -> list[str]:
        prefix = directory.rstrip("/") + "/"
        return sorted(path for path in self.sizes if path.startswith(prefix))

    def is_safe(self, directory: str) -> bool:
        """No link, special file, oversized or unreadable file was found in `directory`."""
        prefix = directory.rstrip("/") + "/"
        return not any(path.startswith(prefix) for path in self.flagged)

    def read_bytes(self, relative: str) -> bytes | None:
        """The file's bytes, or None (with a finding, once) when it cannot be read safely."""
        if relative in self._bytes:
            return self._bytes[relative]
        data: bytes | None = None
        if relative in self.sizes:
            try:
                fd = os.open(self.root / relative, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, "rb") as handle:
                    data = handle.read(size_cap(relative) + 1)
            except OSError as err:
                self._flag(relative, "file.read", f"cannot be read ({err.strerror})")
            if data is not None and len(data) > size_cap(relative):
                self._flag(relative, "file.size", "grew past its size limit while being read")
                data = None
        self._bytes[relative] = data
        return data

    def sha256(self, relative: str) -> str | None:
        data = self.read_bytes(relative)
        return None if data is None else hashlib.sha256(data).hexdigest()

    def read_text(self, relative: str) -> str | None:
        """Strict UTF-8 text, or None with a finding."""
        data = self.read_bytes(relative)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as err:
            self.findings.error("file.utf8", relative,
                                f"is not UTF-8 text (bad byte at offset {err.start})")
            return None

    def read_json(self, relative: str) -> dict | None:
        """The file's JSON object, or None with a finding (reported once per file)."""
        if relative not in self._json:
            self._json[relative] = self._parse_json(relative)
        return self._json[relative]  # type: ignore[return-value]

    def _parse_json(self, relative: str) -> dict | None:
        text = self.read_text(relative)
        if text is None:
            return None
        try:
            doc = json.loads(text, object_pairs_hook=refuse_duplicates,
                             parse_constant=refuse_constant, parse_float=_finite_float)
        except json.JSONDecodeError as err:
            self.findings.error("file.json", relative,
                                f"is not valid JSON ({err.msg} at line {err.lineno} column {err.colno})")
            return None
        except RecursionError:
            self.findings.error("file.depth", relative, f"nests deeper than {MAX_JSON_DEPTH} levels")
            return None
        except ValueError as err:
            self.findings.error("file.json", relative, f"is not valid JSON ({err})")
            return None
        if json_depth(doc) > MAX_JSON_DEPTH:
            self.findings.error("file.depth", relative, f"nests deeper than {MAX_JSON_DEPTH} levels")
            return None
        if not isinstance(doc, dict):
            self.findings.error("file.json", relative,
                                f"holds a JSON {type(doc).__name__}, not an object")
            return None
        return doc
