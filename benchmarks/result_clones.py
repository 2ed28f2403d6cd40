"""Signed result files made from a real one, for the store's tests and its import benchmark.

A clone is the source run with a few fields changed (its commit, date, throughput, time) and
signed again with the key given; its event log is hard-linked beside it (the log's hash is in
the signed result and does not change), so ten thousand clones cost little disk.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accelbench.results.files import write_json_atomic
from accelbench.trust.signing import sign_document

GOLDEN_RUN = Path(__file__).resolve().parents[1] / "tests/golden/valid/results/cpu/neuron_inverter/smoke/run_1.json"


def clone_run(source: Path, target_dir: Path, index: int, key: Ed25519PrivateKey, *, commit: str | None = None,
              created_at: str | None = None, samples_per_s: float | None = None,
              time_to_train_s: float | None = None, system: str | None = None) -> Path:
    """`source` (a training run_N.json) as run `index` in `target_dir`, changed as asked, re-signed."""
    doc = json.loads(source.read_text())
    doc.pop("signature")
    doc["run_index"] = index
    if commit is not None:
        doc["environment"]["suite_git_commit"] = commit
    if created_at is not None:
        doc["created_at"] = created_at
    if samples_per_s is not None:
        doc["throughput"]["samples_per_s"] = samples_per_s
    if time_to_train_s is not None:
        doc["timing"]["time_to_train_s"] = time_to_train_s
    if system is not None:
        doc["system"]["name"] = system
    log_name = f"run_{index}.mllog"
    target_dir.mkdir(parents=True, exist_ok=True)
    log = target_dir / log_name
    if not log.exists():
        original = source.parent / doc["event_log"]["file"]
        try:
            os.link(original, log)
        except OSError:
            shutil.copyfile(original, log)
    doc["event_log"]["file"] = log_name
    path = target_dir / f"run_{index}.json"
    write_json_atomic(path, sign_document(doc, key))
    return path
