"""Where a set of runs lives on disk, how its files are found, and how one is read back: the
one place that knows `results/<system>/<workload>/<scale>[_fixed_epochs]/run_<N>.json`.

The runner writes there, `accelbench package` and the reports find the runs there, and the
validator expects the same names inside a submission tree.
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import TypeVar

from accelbench.errors import UserError
from accelbench.results.models import AnySignedRun, SignedBenchmarkScore, SignedTrainingRunResult
from accelbench.trust.verification import VerifiedFile, verify_file

RUN_FILE = re.compile(r"^run_([1-9][0-9]{0,5})\.json$")
SCORE_FILE = "score.json"
FIXED_EPOCHS_SUFFIX = "_fixed_epochs"

Signed = TypeVar("Signed", SignedTrainingRunResult, SignedBenchmarkScore)
WHAT = {SignedTrainingRunResult: "a run result (run_N.json)", SignedBenchmarkScore: "a score (score.json)"}


def set_directory_name(scale: str, mode: str) -> str:
    """'small' for a scored set, 'small_fixed_epochs' for a weak-scaling one."""
    return scale if mode == "to_target" else f"{scale}{FIXED_EPOCHS_SUFFIX}"


def set_path(system: str, workload: str, scale: str, mode: str) -> str:
    """The set's directory below a results root, e.g. 'cpu/neuron_inverter/small'."""
    return f"{system}/{workload}/{set_directory_name(scale, mode)}"


def results_directory(root: Path, system: str, workload: str, scale: str, mode: str) -> Path:
    return root / set_path(system, workload, scale, mode)


def run_file_name(index: int) -> str:
    return f"run_{index}.json"


def run_index(path: Path | str) -> int | None:
    """N of a run_N.json file name; None for any other name."""
    match = RUN_FILE.match(Path(path).name)
    return int(match.group(1)) if match else None


def run_files(directory: Path) -> list[Path]:
    """The run_N.json files of one set's directory, in run order; one line if there are none."""
    files = sorted((p for p in directory.glob("run_*.json") if run_index(p) is not None), key=run_index)
    if not files:
        raise UserError(f"{directory}: no run_N.json files: pass a directory written by accelbench run")
    return files


def find_run_files(paths: Sequence[Path]) -> list[Path]:
    """The files given, and every run_N.json below the directories given, sorted, each once."""
    if not paths:
        raise UserError("no results given: pass run_N.json files or directories holding them")
    found: dict[Path, Path] = {}  # by resolved path, so a file reached twice counts once
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.rglob("run_*.json") if p.is_file() and run_index(p) is not None)
            if not inside:
                raise UserError(
                    f"{path}: no run_N.json files in this directory or below it: "
                    "pass the results directory that accelbench run wrote"
                )
        elif path.exists():
            inside = [path]
        else:
            raise UserError(f"{path} does not exist: pass run_N.json files or directories holding them")
        for file in inside:
            found.setdefault(file.resolve(), file)
    return sorted(found.values())


def read_verified(
    path: Path, model: type[Signed], trusted_key_ids: Collection[str] | None = None
) -> tuple[Signed, VerifiedFile]:
    """The run result or score in `path`, read once and verified as `accelbench verify` does
    (signature, byte layout, schema, the hashes of its log or of the runs it scores); a one-line
    UserError if it does not verify or is the other kind of file."""
    verified = verify_file(path, trusted_key_ids)
    if not isinstance(verified.document, model):
        raise UserError(f"{path} is not {WHAT[model]}: pass {WHAT[model]} here")
    return verified.document, verified


def read_verified_run(path: Path, trusted_key_ids: Collection[str] | None = None) -> tuple[AnySignedRun, VerifiedFile]:
    """A run result of any kind in `path`, verified as `accelbench verify` does."""
    verified = verify_file(path, trusted_key_ids)
    if isinstance(verified.document, SignedBenchmarkScore):
        raise UserError(f"{path} is not a run result (run_N.json): pass a run result here")
    return verified.document, verified


def check_results_directory(path: Path) -> None:
    """Refuse, before any work, a directory that holds an earlier set of runs or that cannot be
    made; reads only, so planning a set (e.g. `pytest suite --collect-only`) writes nothing."""
    earlier = sorted(p.name for p in path.glob("run_*.json")) if path.is_dir() else []
    if earlier:
        raise UserError(
            f"results directory {path} already holds a set of runs ({earlier[0]} ...): "
            "pass another --results-dir or move those results away first"
        )
    existing = next((parent for parent in (path, *path.parents) if parent.exists()), None)
    if existing is not None and not existing.is_dir():
        raise UserError(
            f"results directory {path} cannot be made: {existing} is a file; pass another --results-dir"
        )


def prepare_results_directory(path: Path) -> Path:
    """Create `path`, prove it is writable, and refuse to mix a new set of runs into an old one."""
    check_results_directory(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".write-test-"):
            pass
    except OSError as err:
        raise UserError(
            f"results directory {path} is not writable ({err.strerror}): "
            "pass --results-dir with a directory you can write to"
        ) from None
    return path
