"""Rebuild the validator's golden corpus: `python tests/golden/build_corpus.py` (about 2 minutes).

valid/ is a real submission: three smoke runs of the reference, trained and packaged by the
suite. Each invalid/<case>/ holds one defect from tests/validation_cases.py as an overlay on
valid/: the files that differ (overlay/), the files the defect deletes (removed.json), and the
finding the validator must report (expected.json). Defects that git cannot hold (symlinks,
FIFOs) or that need big files stay in the generated test table only.

Rebuild after a change of the result or submission schema, then review the diff: a golden
file that changes is a change of what the suite accepts.
"""

from __future__ import annotations

import json
import shutil
import stat
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from validation_cases import CASES, Tree, build_submission  # noqa: E402

MAX_OVERLAY_BYTES = 64 * 1024


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


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        valid, key = build_submission(work)
        shutil.rmtree(HERE / "valid", ignore_errors=True)
        shutil.rmtree(HERE / "invalid", ignore_errors=True)
        shutil.copytree(valid, HERE / "valid")
        pristine = _files(valid)
        kept = skipped = 0
        for case in CASES:
            tree = Tree.copy(valid, work / case.name, key)
            case.apply(tree)
            mutated = _files(tree.root)
            changed = None if mutated is None else {
                name: data for name, data in mutated.items() if pristine.get(name) != data
            }
            if changed is None or sum(map(len, changed.values())) > MAX_OVERLAY_BYTES:
                skipped += 1
                continue
            target = HERE / "invalid" / case.name
            for name, data in changed.items():
                (target / "overlay" / name).parent.mkdir(parents=True, exist_ok=True)
                (target / "overlay" / name).write_bytes(data)
            target.mkdir(parents=True, exist_ok=True)
            removed = sorted(set(pristine) - set(mutated))
            (target / "removed.json").write_text(json.dumps(removed, indent=1) + "\n")
            expected = {"check": case.check, "fragment": case.fragment, "alone": case.alone}
            (target / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
            kept += 1
        print(f"golden corpus: valid/ and {kept} invalid cases written; {skipped} kept in the test table only")


if __name__ == "__main__":
    main()
