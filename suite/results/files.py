"""Writing result files and reports so that a crash never leaves half a file, in the exact
bytes the verifier expects."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from accelbench.errors import UserError


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, fsync, then rename over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def render_result(document: Mapping[str, object]) -> bytes:
    """The exact bytes of a result file: what is written here and what the verifier expects."""
    return (json.dumps(document, indent=2, ensure_ascii=False, allow_nan=False) + "\n").encode("utf-8")


def write_json_atomic(path: Path, document: Mapping[str, object]) -> None:
    write_bytes_atomic(path, render_result(document))


def write_outputs(outputs: dict[Path, bytes], out_dir: Path, what: str) -> list[Path]:
    """Write a report's files into `out_dir` (created), each atomically; one line if it cannot."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for path, data in outputs.items():
            write_bytes_atomic(path, data)
    except OSError as err:
        raise UserError(
            f"cannot write the {what} into {out_dir} ({err.strerror}): pass a writable --out directory"
        ) from None
    return list(outputs)
