"""Rebuild the validator's golden corpus: `python tests/golden/build_corpus.py` (about 2 minutes);
`... build_corpus.py neuron_inverter` or `... lstm_inference` rebuilds one of its two parts.

valid/ is a real submission: three smoke runs of the reference, trained and packaged by the
suite. Each invalid/<case>/ holds one defect from tests/validation_cases.py as an overlay on
valid/: the files that differ (overlay/), the files the defect deletes (removed.json), and the
finding the validator must report (expected.json). Defects that git cannot hold (symlinks,
FIFOs) or that need big files stay in the generated test table only.

inference/valid/ and inference/invalid/<case>/ are the same for an inference submission: one
lstm_inference smoke run under MLPerf LoadGen, packaged, and the defects of INFERENCE_CASES
(those that rewrite a whole LoadGen trace are too big for an overlay and stay in the table).

Rebuild after a change of the result or submission schema, then review the diff: a golden
file that changes is a change of what the suite accepts.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from validation_cases import (  # noqa: E402
    CASES,
    INFERENCE_CASES,
    Case,
    Tree,
    build_inference_submission,
    build_submission,
)

MAX_OVERLAY_BYTES = 64 * 1024

# name: (the corpus's folder, how its valid submission is made, its cases)
CORPORA: dict[str, tuple[Path, Callable[[Path], tuple[Path, Ed25519PrivateKey]], Sequence[Case]]] = {
    "neuron_inverter": (HERE, build_submission, CASES),
    "lstm_inference": (HERE / "inference", build_inference_submission, INFERENCE_CASES),
}


def _files(root: Path) -> dict[str, bytes] | None:
    """Every file of the tree by relative path; None if it holds anything git cannot."""
    found = {}
    for path in sorted(root.rglob("*")):
        mode = path.lstat().st_mode
        if stat.S_ISDIR(mode):
            continue
        if not stat.S_ISREG(mode):
            return None
        found[path.relative_to(root).as_posix()] = path.read_bytes()
    return found


def write_corpus(corpus_name: str, work: Path) -> None:
    """Build the corpus's valid submission in WORK and write it and its invalid cases."""
    corpus, build, cases = CORPORA[corpus_name]
    work.mkdir(parents=True)
    valid, key = build(work)
    shutil.rmtree(corpus / "valid", ignore_errors=True)
    shutil.rmtree(corpus / "invalid", ignore_errors=True)
    shutil.copytree(valid, corpus / "valid")
    pristine = _files(valid)
    kept = skipped = 0
    for case in cases:
        tree = Tree.copy(valid, work / case.name, key)
        case.apply(tree)
        mutated = _files(tree.root)
        changed = None if mutated is None else {
            name: data for name, data in mutated.items() if pristine.get(name) != data
        }
        if changed is None or sum(map(len, changed.values())) > MAX_OVERLAY_BYTES:
            skipped += 1
            continue
        target = corpus / "invalid" / case.name
        for name, data in changed.items():
            (target / "overlay" / name).parent.mkdir(parents=True, exist_ok=True)
            (target / "overlay" / name).write_bytes(data)
        target.mkdir(parents=True, exist_ok=True)
        removed = sorted(set(pristine) - set(mutated))
        (target / "removed.json").write_text(json.dumps(removed, indent=1) + "\n")
        expected = {"check": case.check, "fragment": case.fragment, "alone": case.alone}
        (target / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
        kept += 1
    where = corpus.relative_to(HERE).as_posix()
    prefix = "" if where == "." else f"{where}/"
    print(f"golden corpus {corpus_name}: {prefix}valid/ and {kept} invalid cases written; "
          f"{skipped} kept in the test table only")


def main(names: Sequence[str]) -> None:
    unknown = sorted(set(names) - set(CORPORA))
    if unknown:
        raise SystemExit(f"unknown corpus {', '.join(unknown)}: choose from {', '.join(CORPORA)}")
    with tempfile.TemporaryDirectory() as scratch:
        for name in names or CORPORA:
            write_corpus(name, Path(scratch) / name)


if __name__ == "__main__":
    main(sys.argv[1:])
