"""`accelbench package`: assemble a submission tree (see `accelbench.submission.layout`) from result
directories, so that a third party can re-check it from the files alone.

Only what verifies goes in: every run file and score must pass `verify_file`, the runs of a set
must agree on what they are, the declared system must match what each run detected, and the
implementation's sources must still hash to what the runs recorded (the code that ran is the
code that ships). Anything else is refused in one line before a file is written.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import importlib.util
import shutil
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from accelbench import __version__
from accelbench.errors import UserError
from accelbench.results.files import write_bytes_atomic, write_json_atomic
from accelbench.results.layout import SCORE_FILE, read_verified, read_verified_run, run_files, set_path
from accelbench.results.models import (
    AnySignedRun,
    SignedBenchmarkScore,
    SignedInferenceRunResult,
    SignedSamplingRunResult,
)
from accelbench.results.provenance import tree_sha256
from accelbench.rules.loader import describe_validation_error
from accelbench.submission.layout import (
    CODE_DIR,
    KEYS_DIR,
    MANIFEST,
    RESULTS_DIR,
    SYSTEMS_DIR,
    ResultSet,
    SubmissionManifest,
)
from accelbench.submission.systems import SystemDescription, system_differences
from accelbench.trust.keys import public_key_pem
from accelbench.trust.signing import key_id, sign_document


def read_system(path: Path) -> SystemDescription:
    try:
        return SystemDescription.model_validate_json(Path(path).read_bytes())
    except OSError as err:
        raise UserError(f"{path}: cannot read the system description ({err.strerror})") from None
    except ValidationError as err:
        raise UserError(f"{path}: {describe_validation_error(err)}") from None


def _read_set(directory: Path) -> tuple[list[Path], list[AnySignedRun], Path | None]:
    """The verified runs of one results directory and its verified score, if any (an inference
    set has none: its runs' LoadGen logs are the record)."""
    files = run_files(directory)
    runs = [read_verified_run(path)[0] for path in files]
    identity = {(r.system.name, r.workload, r.scale, r.mode, r.division, r.rules_version,
                 r.system.implementation, r.environment.implementation_sha256) for r in runs}
    if len(identity) != 1:
        raise UserError(f"{directory}: its runs differ in system, workload, scale, mode, division, "
                        "rules or code: package one set of runs per directory")
    score = directory / SCORE_FILE
    if runs[0].kind == "inference":
        return files, runs, None
    if runs[0].mode == "to_target":
        if not score.is_file():
            raise UserError(f"{directory}: no {SCORE_FILE}: score the runs (pytest suite or accelbench run) first")
        scored = {run.file for run in read_verified(score, SignedBenchmarkScore)[0].runs}
        if scored != {path.name for path in files}:
            raise UserError(f"{score}: scores {sorted(scored)} but the directory holds "
                            f"{[p.name for p in files]}: package exactly the runs that were scored")
        return files, runs, score
    return files, runs, None


def _recorded_files(run: AnySignedRun) -> list[str]:
    """The files beside a run that its result pins: its MLPerf event log, its LoadGen logs, or its
    draws and held-out split."""
    if isinstance(run, SignedInferenceRunResult):
        return [logged.file for logged in run.inference.files()]
    if isinstance(run, SignedSamplingRunResult):
        return [name for name, _ in run.files()]
    return [run.event_log.file]


def _implementation_sources(module: str, expected_sha256: str, directory: Path) -> Path:
    """The folder of `module`'s sources, after checking it still hashes as the runs recorded."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise UserError(f"{directory}: the runs were trained by {module}, which is not importable here")
    source = Path(spec.origin).parent
    if tree_sha256(source) != expected_sha256:
        raise UserError(f"{source}: its sources changed since the runs in {directory} were made "
                        "(implementation_sha256 differs): package results of the code as it is")
    return source


def _signer(block_public_key: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(block_public_key))


def package(
    result_dirs: Sequence[Path],
    system_files: Sequence[Path],
    out_dir: Path,
    key: Ed25519PrivateKey,
) -> dict:
    """Write the submission tree into `out_dir` (new or empty) and return its signed manifest."""
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise UserError(f"{out_dir}: exists and is not an empty directory: pass a new --out")
    systems = {system.system_name: (path, system) for path, system in
               ((path, read_system(path)) for path in system_files)}
    if not result_dirs:
        raise UserError("no result directories given: pass results/<system>/<workload>/<scale> directories")
    sets, seen = [], set()
    for directory in result_dirs:
        files, runs, score = _read_set(Path(directory))
        first = runs[0]
        identity = (first.system.name, first.workload, first.scale, first.mode)
        if identity in seen:
            raise UserError(f"{directory}: a second set of {' '.join(identity)} runs: package each set once")
        seen.add(identity)
        if first.system.name not in systems:
            raise UserError(f"{directory}: no system description named '{first.system.name}': "
                            "pass its system.json with --system")
        system = systems[first.system.name][1]
        for path, run in zip(files, runs):
            differences = system_differences(system, run)
            if differences:
                raise UserError(f"{path}: {differences[0]} ({systems[first.system.name][0]})")
        source = _implementation_sources(
            first.system.implementation, first.environment.implementation_sha256, Path(directory))
        sets.append((files, runs, score, source))

    divisions = {system.division for _, system in systems.values()} | {s[1][0].division for s in sets}
    submitters = {system.submitter for _, system in systems.values()}
    rules_versions = {s[1][0].rules_version for s in sets}
    for name, values in (("division", divisions), ("submitter", submitters), ("rules version", rules_versions)):
        if len(values) != 1:
            raise UserError(f"the systems and results name more than one {name} ({sorted(values)}): "
                            "package one submission at a time")

    out_dir.mkdir(parents=True, exist_ok=True)
    signers: dict[str, Ed25519PublicKey] = {key_id(key.public_key()): key.public_key()}
    result_sets = []
    for files, runs, score, source in sets:
        first = runs[0]
        relative = f"{RESULTS_DIR}/{set_path(first.system.name, first.workload, first.scale, first.mode)}"
        (out_dir / relative).mkdir(parents=True)
        for path, run in zip(files, runs):
            shutil.copyfile(path, out_dir / relative / path.name)
            for recorded in _recorded_files(run):
                (out_dir / relative / recorded).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path.parent / recorded, out_dir / relative / recorded)
            signers[run.signature.key_id] = _signer(run.signature.public_key)
        if score is not None:
            shutil.copyfile(score, out_dir / relative / score.name)
            signed_score = SignedBenchmarkScore.model_validate_json(score.read_bytes())  # verified above
            signers[signed_score.signature.key_id] = _signer(signed_score.signature.public_key)
        code = f"{CODE_DIR}/{first.system.name}/{first.workload}"
        for path in sorted(source.rglob("*.py")):
            target = out_dir / code / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
        result_sets.append(ResultSet(
            system=first.system.name, workload=first.workload, scale=first.scale, mode=first.mode,
            directory=relative, runs=[f"{relative}/{path.name}" for path in files],
            score=f"{relative}/{SCORE_FILE}" if score is not None else None,
            implementation=first.system.implementation, code=code,
            code_sha256=first.environment.implementation_sha256,
        ))

    system_paths = {}
    (out_dir / SYSTEMS_DIR).mkdir()
    (out_dir / KEYS_DIR).mkdir()
    for name, (_, system) in sorted(systems.items()):
        system_paths[name] = f"{SYSTEMS_DIR}/{name}.json"
        write_json_atomic(out_dir / system_paths[name], system.model_dump(mode="json"))
    key_paths = {}
    for identity, public in sorted(signers.items()):
        key_paths[identity] = f"{KEYS_DIR}/{identity}.pem"
        write_bytes_atomic(out_dir / key_paths[identity], public_key_pem(public).encode())

    manifest = SubmissionManifest(
        suite_version=__version__,
        rules_version=rules_versions.pop(),
        submitter=submitters.pop(),
        division=divisions.pop(),  # type: ignore[arg-type]
        created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        systems=system_paths,
        public_keys=key_paths,
        result_sets=result_sets,
        files={
            path.relative_to(out_dir).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(out_dir.rglob("*")) if path.is_file()
        },
    )
    signed = sign_document(manifest.model_dump(mode="json"), key)
    write_json_atomic(out_dir / MANIFEST, signed)
    return signed
