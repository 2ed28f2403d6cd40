"""A real submission tree for the validator's tests, and the table of one-defect mutations.

`build_submission` trains the reference at smoke scale (3 runs, as a user would) and packages
it with `accelbench.submission.packaging.package`. Each `Case` applies one defect to a copy and re-seals
everything else (re-signs with the test key, updates the score's and the manifest's hashes),
so that the validator should report that defect and, where `alone`, nothing else. The owner's
golden corpus (tests/golden/) is generated from this same table.

`build_inference_submission` and `INFERENCE_CASES` are the same for an inference workload: one
lstm_inference smoke run under MLPerf LoadGen, whose LoadGen files are the record; a case that
rewrites one of them re-seals it by recording the file's new SHA-256 in run_1.json's inference
section, re-signing run_1.json and re-hashing the manifest (an inference set has no score.json).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accelbench.judging import loadgen_logs
from accelbench.judging.quality import compute_metric
from accelbench.judging.scoring import olympic_score
from accelbench.results.files import write_json_atomic
from accelbench.rules.loader import load_rules
from accelbench.submission.layout import MANIFEST
from accelbench.submission.packaging import package
from accelbench.submission.systems import describe_this_machine
from accelbench.trust.keys import generate_key, load_key, public_key_pem
from accelbench.trust.signing import sign_document

SET_DIR = "results/cpu/neuron_inverter/smoke"
CODE_FILE = "code/cpu/neuron_inverter/model.py"
SYSTEM_FILE = "systems/cpu.json"
RULES = load_rules("neuron_inverter")

INFERENCE_SET_DIR = "results/cpu/lstm_inference/smoke"
INFERENCE_RUN = f"{INFERENCE_SET_DIR}/run_1.json"
LOADGEN_DIR = f"{INFERENCE_SET_DIR}/run_1.loadgen"  # accuracy/ and one folder per scenario
INFERENCE_RULES = load_rules("lstm_inference")


def package_runs(results: Path, key: Ed25519PrivateKey, workdir: Path) -> Path:
    """Package a real set of smoke runs with this machine's description, as a user would."""
    system = workdir / "cpu.json"
    write_json_atomic(system, describe_this_machine("accelbench tests").model_dump(mode="json"))
    package([results], [system], workdir / "submission", key)
    return workdir / "submission"


def build_submission(workdir: Path) -> tuple[Path, Ed25519PrivateKey]:
    """Train 3 smoke runs with the real suite (seeds 7, 8, 9) and package them; ~1-3 minutes."""
    env = dict(os.environ, ACCELBENCH_CONFIG_DIR=str(workdir / "config"),
               ACCELBENCH_DATA_DIR=str(workdir / "data"))
    key_path = workdir / "signing.pem"
    key = generate_key(key_path)
    results = workdir / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "neuron_inverter", "--scale", "smoke", "--runs", "3",
         "--seed", "7", "--results-dir", str(results), "--key", str(key_path)],
        env=env, cwd=workdir, capture_output=True, text=True, timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return package_runs(results / "cpu" / "neuron_inverter" / "smoke", key, workdir), key


def build_inference_submission(workdir: Path) -> tuple[Path, Ed25519PrivateKey]:
    """One lstm_inference smoke run under LoadGen with the real suite (seed 7), packaged; ~15 s once
    the data and served weights exist (ACCELBENCH_DATA_DIR is reused from the environment if set,
    so they are not generated again), longer on a loaded machine."""
    env = dict(os.environ, ACCELBENCH_CONFIG_DIR=str(workdir / "config"),
               ACCELBENCH_DATA_DIR=os.environ.get("ACCELBENCH_DATA_DIR", str(workdir / "data")))
    key_path = workdir / "signing.pem"
    key = generate_key(key_path)
    results = workdir / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "lstm_inference", "--scale", "smoke", "--runs", "1",
         "--seed", "7", "--results-dir", str(results), "--key", str(key_path)],
        env=env, cwd=workdir, capture_output=True, text=True, timeout=1200,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    run_set = results / "cpu" / "lstm_inference" / "smoke"
    return package_runs(run_set, key, workdir), key


_BUILT: dict[str, tuple[Path, Ed25519PrivateKey]] = {}


def shared_submission(smoke_runs, tmp_path_factory) -> tuple[Path, Ed25519PrivateKey]:
    """The session's real smoke runs (conftest's smoke_runs), packaged once per session."""
    if "tree" not in _BUILT:
        _, _, results, key_path = smoke_runs
        key = load_key(key_path)
        _BUILT["tree"] = (package_runs(results, key, tmp_path_factory.mktemp("validation")), key)
    return _BUILT["tree"]


@dataclass
class Tree:
    """A writable copy of a submission and the key that signed it."""

    root: Path
    key: Ed25519PrivateKey

    @staticmethod
    def copy(source: Path, destination: Path, key: Ed25519PrivateKey) -> Tree:
        shutil.copytree(source, destination, symlinks=True)
        return Tree(destination, key)

    def path(self, relative: str) -> Path:
        return self.root / relative

    def read(self, relative: str) -> dict:
        return json.loads(self.path(relative).read_text())

    def write_signed(self, relative: str, doc: dict, key: Ed25519PrivateKey | None = None) -> None:
        unsigned = {name: value for name, value in doc.items() if name != "signature"}
        write_json_atomic(self.path(relative), sign_document(unsigned, key or self.key))

    def edit(self, relative: str, change: Callable[[dict], None], key: Ed25519PrivateKey | None = None) -> None:
        """Change a signed document and sign it again."""
        doc = self.read(relative)
        change(doc)
        self.write_signed(relative, doc, key)

    def events(self, run: int) -> list[dict]:
        text = self.path(f"{SET_DIR}/run_{run}.mllog").read_text()
        return [json.loads(line.removeprefix(":::MLLOG ")) for line in text.splitlines()]

    def edit_log(self, run: int, change: Callable[[list[dict]], list[dict] | None]) -> None:
        """Rewrite run N's event log and re-sign the run over the new log hash."""
        events = self.events(run)
        events = change(events) or events
        data = "".join(f":::MLLOG {json.dumps(event)}\n" for event in events).encode()
        self.path(f"{SET_DIR}/run_{run}.mllog").write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        self.edit(f"{SET_DIR}/run_{run}.json", lambda doc: doc["event_log"].__setitem__("sha256", digest))

    def reseal(self) -> None:
        """Make the score's and the manifest's hashes match the files again, and re-sign both."""
        self.edit(f"{SET_DIR}/score.json", self._rehash_score_runs)
        self.reseal_manifest()

    def _rehash_score_runs(self, score: dict) -> None:
        for run in score["runs"]:
            run["sha256"] = hashlib.sha256(self.path(f"{SET_DIR}/{run['file']}").read_bytes()).hexdigest()

    def reseal_manifest(self, change: Callable[[dict], None] = lambda manifest: None) -> None:
        def rehash(manifest: dict) -> None:
            change(manifest)
            manifest["files"] = {relative: hashlib.sha256(self.path(relative).read_bytes()).hexdigest()
                                 for relative in self.regular_files() if relative != MANIFEST}
        self.edit(MANIFEST, rehash)

    def regular_files(self) -> list[str]:
        found = []
        for directory, _, names in os.walk(self.root):
            for name in names:
                path = Path(directory) / name
                if stat.S_ISREG(path.lstat().st_mode):
                    found.append(path.relative_to(self.root).as_posix())
        return sorted(found)

    # --- an inference run's LoadGen files (run 1 of INFERENCE_SET_DIR) ---------------------------

    def loadgen(self, name: str) -> Path:
        """Run 1's LoadGen file NAME, e.g. "SingleStream/mlperf_log_detail.txt" or "accuracy/eval_targets.npy"."""
        return self.path(f"{LOADGEN_DIR}/{name}")

    def reseal_loadgen(self, change: Callable[[dict], None] = lambda doc: None) -> None:
        """Apply CHANGE to run_1.json, record there the SHA-256 of every LoadGen file it names that
        is still present, re-sign it and re-hash the manifest."""
        def rehash(doc: dict) -> None:
            change(doc)
            for logged in _loadgen_files(doc):
                path = self.path(f"{INFERENCE_SET_DIR}/{logged['file']}")
                if path.is_file():
                    logged["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
        self.edit(INFERENCE_RUN, rehash)
        self.reseal_manifest()

    def rewrite_loadgen(self, name: str, data: bytes) -> None:
        """Replace run 1's LoadGen file NAME with DATA and re-seal the run and the manifest."""
        self.loadgen(name).write_bytes(data)
        self.reseal_loadgen()

    def edit_detail(self, directory: str, values: dict[str, object]) -> None:
        """Set each key's value on its `:::MLLOG` lines of DIRECTORY's detail log ("accuracy" or a
        scenario), leaving every other line byte for byte, and re-seal."""
        name = f"{directory}/mlperf_log_detail.txt"
        lines, seen = [], set()
        for line in self.loadgen(name).read_text().splitlines(keepends=True):
            if line.startswith(loadgen_logs.DETAIL_PREFIX):
                entry = json.loads(line[len(loadgen_logs.DETAIL_PREFIX):])
                if entry["key"] in values:
                    entry["value"] = values[entry["key"]]
                    seen.add(entry["key"])
                    line = f"{loadgen_logs.DETAIL_PREFIX}{json.dumps(entry)}\n"
            lines.append(line)
        assert seen == set(values), f"{name} has no {sorted(set(values) - seen)}"
        self.rewrite_loadgen(name, "".join(lines).encode())

    def detail(self, directory: str) -> dict[str, object]:
        return loadgen_logs.parse_detail(self.loadgen(f"{directory}/mlperf_log_detail.txt").read_text())

    def edit_trace(self, scenario: str, change: Callable[[list[dict]], None]) -> None:
        """CHANGE the scenario trace's Sample (begin) events in place; the lines of the events it
        changed are written again in LoadGen's compact layout, the rest byte for byte; re-seal."""
        name = f"{scenario}/mlperf_log_trace.json"
        lines = self.loadgen(name).read_text().splitlines(keepends=True)
        at = [i for i, line in enumerate(lines) if line.startswith('{"name":"Sample"') and '"ph":"b"' in line]
        events = [json.loads(lines[i].rstrip().rstrip(",")) for i in at]
        before = json.dumps(events)
        change(events)
        assert json.dumps(events) != before, "the change left the trace as it was"
        for i, event in zip(at, events):
            if json.loads(lines[i].rstrip().rstrip(",")) != event:
                comma = "," if lines[i].rstrip().endswith(",") else ""
                lines[i] = json.dumps(event, separators=(",", ":")) + comma + "\n"
        self.rewrite_loadgen(name, "".join(lines).encode())

    def rescore(self) -> None:
        """Score the set's runs afresh (after runs were added, removed or changed verdict)."""
        manifest = self.read(MANIFEST)
        names = [path.rpartition("/")[2] for path in manifest["result_sets"][0]["runs"]]
        runs = [self.read(f"{SET_DIR}/{name}") for name in names]
        times = [r["timing"]["time_to_train_s"] if r["quality"]["converged"] else None for r in runs]
        outcome = olympic_score(times, RULES.runs.minimum["smoke"], RULES.runs.max_non_converged)

        def change(score: dict) -> None:
            score["runs"] = [
                {"file": name, "sha256": "", "seed": r["seed"], "converged": r["quality"]["converged"],
                 "time_to_train_s": t, "achieved": r["quality"]["achieved"]}
                for name, r, t in zip(names, runs, times)
            ]
            self._rehash_score_runs(score)
            score.update(dropped=[names[i] for i in outcome.dropped], non_converged=outcome.non_converged,
                         score_s=outcome.value_s, valid=outcome.valid, reason=outcome.reason)
        self.edit(f"{SET_DIR}/score.json", change)


def _loadgen_files(doc: dict) -> list[dict]:
    """Every LoadGen file entry ({file, sha256}) of a run_N.json document, in the result's order."""
    record = doc["inference"]
    return [record["accuracy"]["eval_targets"], *record["accuracy"]["logs"],
            *(log for run in record["scenarios"] for log in run["logs"])]


class Case(NamedTuple):
    name: str
    apply: Callable[[Tree], None]
    check: str
    fragment: str
    alone: bool = True  # no error of another check is expected


def run_file(n: int) -> str:
    return f"{SET_DIR}/run_{n}.json"


def other_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _set(path: list, value) -> Callable[[dict], None]:
    def change(doc: dict) -> None:
        target = doc
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value
    return change


def edit_run_and_reseal(n: int, change: Callable[[dict], None]) -> Callable[[Tree], None]:
    def apply(tree: Tree) -> None:
        tree.edit(run_file(n), change)
        tree.reseal()
    return apply


def edit_log_and_reseal(n: int, change: Callable[[list[dict]], list[dict] | None]) -> Callable[[Tree], None]:
    def apply(tree: Tree) -> None:
        tree.edit_log(n, change)
        tree.reseal()
    return apply


def _event(events: list[dict], key: str, epoch: int | None = None) -> dict:
    return next(e for e in events if e["key"] == key and (epoch is None or e["metadata"].get("epoch_num") == epoch))


# --- the defects ---------------------------------------------------------------------------

def manifest_changed_after_signing(tree: Tree) -> None:
    doc = tree.read(MANIFEST)
    doc["created_at"] = "2020-01-01T00:00:00+00:00"
    write_json_atomic(tree.path(MANIFEST), doc)


def manifest_signed_by_unknown_key(tree: Tree) -> None:
    tree.edit(MANIFEST, lambda doc: None, key=other_key())


def manifest_with_extra_field(tree: Tree) -> None:
    tree.edit(MANIFEST, _set(["comment"], "hello"))


def manifest_path_escapes(tree: Tree) -> None:
    tree.edit(MANIFEST, lambda doc: doc["result_sets"][0]["runs"].append("results/../../etc/passwd"))


def manifest_reformatted(tree: Tree) -> None:
    """Same values, same signature, other bytes: only the layout check can tell."""
    tree.path(MANIFEST).write_text(json.dumps(tree.read(MANIFEST), indent=1, ensure_ascii=False) + "\n")


def system_changed_after_packaging(tree: Tree) -> None:
    doc = tree.read(SYSTEM_FILE)
    doc["notes"] = "edited later"
    write_json_atomic(tree.path(SYSTEM_FILE), doc)


def unlisted_file(tree: Tree) -> None:
    tree.path(f"{SET_DIR}/notes.txt").write_text("an extra file\n")


def listed_file_missing(tree: Tree) -> None:
    tree.edit(MANIFEST, lambda doc: doc["files"].__setitem__("results/cpu/extra.json", "0" * 64))


def symlink_out_of_tree(tree: Tree) -> None:
    os.symlink("/etc/hostname", tree.path(f"{SET_DIR}/run_9.mllog"))


def fifo_in_tree(tree: Tree) -> None:
    os.mkfifo(tree.path(f"{SET_DIR}/run_9.mllog"))


def oversized_json(tree: Tree) -> None:
    with tree.path(f"{SET_DIR}/huge.json").open("wb") as handle:
        handle.truncate(9 * 2**20)


def key_file_swapped(tree: Tree) -> None:
    name = next(iter(tree.read(MANIFEST)["public_keys"].values()))
    tree.path(name).write_text(public_key_pem(other_key()))
    tree.reseal_manifest()


def _rewrite_system(tree: Tree, change: Callable[[dict], None] | None = None, raw: bytes | None = None) -> None:
    if raw is None:
        doc = tree.read(SYSTEM_FILE)
        change(doc)  # type: ignore[misc]
        raw = (json.dumps(doc, indent=2) + "\n").encode()
    tree.path(SYSTEM_FILE).write_bytes(raw)
    tree.reseal_manifest()


def system_bad_utf8(tree: Tree) -> None:
    _rewrite_system(tree, raw=b'{"notes": "\xff\xfe"}\n')


def system_deeply_nested(tree: Tree) -> None:
    _rewrite_system(tree, raw=b"[" * 100 + b"]" * 100)


def system_very_deeply_nested(tree: Tree) -> None:
    _rewrite_system(tree, raw=b"[" * 200_000 + b"]" * 200_000)


def system_duplicate_key(tree: Tree) -> None:
    text = tree.path(SYSTEM_FILE).read_text()
    _rewrite_system(tree, raw=text.replace('"notes":', '"notes": "a", "notes":', 1).encode())


def system_nan(tree: Tree) -> None:
    text = tree.path(SYSTEM_FILE).read_text()
    _rewrite_system(tree, raw=text.replace('"notes":', '"nan": NaN, "notes":', 1).encode())


def system_wrong_type(tree: Tree) -> None:
    _rewrite_system(tree, _set(["number_of_nodes"], "1"))


def system_other_submitter(tree: Tree) -> None:
    _rewrite_system(tree, _set(["submitter"], "someone else"))


def unknown_rules_version(tree: Tree) -> None:
    tree.edit(MANIFEST, _set(["rules_version"], "v99"))


def unknown_workload(tree: Tree) -> None:
    tree.edit(MANIFEST, lambda doc: doc["result_sets"][0].__setitem__("workload", "../../../etc"))


def too_few_runs(tree: Tree) -> None:
    tree.path(run_file(3)).unlink()
    tree.path(f"{SET_DIR}/run_3.mllog").unlink()
    tree.edit(MANIFEST, lambda doc: doc["result_sets"][0]["runs"].remove(run_file(3)))
    tree.rescore()
    tree.reseal_manifest()


def run_left_out_of_the_set(tree: Tree) -> None:
    tree.edit(MANIFEST, lambda doc: doc["result_sets"][0]["runs"].remove(run_file(3)))
    tree.edit(f"{SET_DIR}/score.json", lambda score: score["runs"].pop())
    tree.rescore()
    tree.reseal_manifest()


def duplicate_seed(tree: Tree) -> None:
    tree.edit_log(2, lambda events: _event(events, "seed").__setitem__("value", 7))
    tree.edit(run_file(2), _set(["seed"], 7))
    tree.rescore()
    tree.reseal_manifest()


def two_runs_diverged(tree: Tree) -> None:
    for n in (1, 2):
        def diverge(doc: dict) -> None:
            quality = doc["quality"]
            quality["curve"][-1]["value"] = None
            quality.update(achieved=None, converged=False,
                           stop_reason=f"mse is not finite at epoch {quality['epochs']} (diverged)")

        def log_diverge(events: list[dict]) -> None:
            [e for e in events if e["key"] == "eval_accuracy"][-1]["value"] = None
            _event(events, "run_stop")["metadata"]["status"] = "aborted"
        tree.edit_log(n, log_diverge)
        tree.edit(run_file(n), diverge)
    tree.rescore()
    tree.reseal_manifest()


def forged_fast_convergence(tree: Tree) -> None:
    """Every run cut to 4 epochs, consistently in result, log and score: only the comparison
    with the calibration record can tell that the reference does not converge that fast."""
    epochs = 4
    for n in (1, 2, 3):
        achieved = tree.read(run_file(n))["quality"]["achieved"]

        def cut_log(events: list[dict]) -> list[dict]:
            kept = [e for e in events if e["metadata"].get("epoch_num", 0) <= epochs or e["key"] == "run_stop"]
            [e for e in kept if e["key"] == "eval_accuracy"][-1]["value"] = achieved
            _event(kept, "run_stop")["metadata"]["epoch_num"] = epochs
            return kept

        def cut_result(doc: dict) -> None:
            quality, timing = doc["quality"], doc["timing"]
            quality["curve"] = quality["curve"][:epochs]
            quality["curve"][-1]["value"] = achieved
            quality.update(epochs=epochs, train_loss=quality["train_loss"][:epochs],
                           stop_reason=f"target reached at epoch {epochs}")
            timing["epoch_s"] = timing["epoch_s"][:epochs]
            doc["throughput"]["train_samples"] = epochs * RULES.dataset.splits["smoke"]["train"]
            doc["throughput"]["samples_per_s"] = doc["throughput"]["train_samples"] / timing["run_s"]
        tree.edit_log(n, cut_log)
        tree.edit(run_file(n), cut_result)
    tree.reseal()


def init_over_budget_not_charged(tree: Tree) -> None:
    doc = tree.read(run_file(1))
    init_s = 2000.0
    shift_ms = round((init_s - doc["timing"]["init_s"]) * 1000)

    def delay(events: list[dict]) -> None:
        start = next(i for i, e in enumerate(events) if e["key"] == "init_stop")
        for event in events[start:]:
            event["time_ms"] += shift_ms
    tree.edit_log(1, delay)
    tree.edit(run_file(1), _set(["timing", "init_s"], init_s))
    tree.reseal()


def achieved_not_last_eval(tree: Tree) -> None:
    tree.edit(run_file(2), _set(["quality", "achieved"], 0.1))
    tree.rescore()  # the score records each run's achieved value
    tree.reseal_manifest()


def target_changed(tree: Tree) -> None:
    """A tighter target that the last eval still meets and the earlier ones still miss."""
    tree.edit(run_file(1), lambda doc: doc["quality"].__setitem__("target", doc["quality"]["achieved"]))
    tree.reseal()


def code_changed(tree: Tree) -> None:
    with tree.path(CODE_FILE).open("a") as handle:
        handle.write("# changed after the runs\n")
    tree.reseal_manifest()


def cheat_log_line(tree: Tree) -> None:
    log = tree.path(f"{SET_DIR}/run_1.mllog")
    log.write_text(log.read_text() + ":::MLLOG __import__('os').system('touch /tmp/accelbench-pwned')\n")
    digest = hashlib.sha256(log.read_bytes()).hexdigest()
    tree.edit(run_file(1), lambda doc: doc["event_log"].__setitem__("sha256", digest))
    tree.reseal()


def log_bad_utf8(tree: Tree) -> None:
    log = tree.path(f"{SET_DIR}/run_1.mllog")
    log.write_bytes(log.read_bytes() + b"\xff\xfe\n")
    digest = hashlib.sha256(log.read_bytes()).hexdigest()
    tree.edit(run_file(1), lambda doc: doc["event_log"].__setitem__("sha256", digest))
    tree.reseal()


def log_changed_after_signing(tree: Tree) -> None:
    log = tree.path(f"{SET_DIR}/run_2.mllog")
    log.write_text(log.read_text().replace('"namespace": ""', '"namespace": "x"', 1))
    tree.reseal()


def run_changed_after_signing(tree: Tree) -> None:
    doc = tree.read(run_file(2))
    doc["created_at"] = "2020-01-01T00:00:00+00:00"
    write_json_atomic(tree.path(run_file(2)), doc)
    tree.reseal()


def run_signed_by_stranger(tree: Tree) -> None:
    tree.edit(run_file(1), lambda doc: None, key=other_key())
    tree.reseal()


def score_changed_value(tree: Tree) -> None:
    tree.edit(f"{SET_DIR}/score.json", lambda score: score.__setitem__("score_s", score["score_s"] * 0.9))
    tree.reseal_manifest()


def score_dropped_other_runs(tree: Tree) -> None:
    def drop_a_kept_run(score: dict) -> None:
        kept = next(name for name in ("run_1.json", "run_2.json", "run_3.json") if name not in score["dropped"])
        score["dropped"] = sorted([score["dropped"][0], kept])

    tree.edit(f"{SET_DIR}/score.json", drop_a_kept_run)
    tree.reseal_manifest()


def score_not_resealed(tree: Tree) -> None:
    tree.edit(run_file(3), _set(["created_at"], "2020-01-01T00:00:00+00:00"))
    tree.reseal_manifest()


CASES: list[Case] = [
    Case("manifest_changed_after_signing", manifest_changed_after_signing, "manifest.signature",
         "content changed after signing"),
    Case("manifest_signed_by_unknown_key", manifest_signed_by_unknown_key, "manifest.signature",
         "not among the trusted keys"),
    Case("manifest_with_extra_field", manifest_with_extra_field, "manifest.schema", "comment"),
    Case("manifest_path_escapes", manifest_path_escapes, "manifest.schema", "without . or .."),
    Case("manifest_reformatted", manifest_reformatted, "manifest.layout", "differs from the layout"),
    Case("system_changed_after_packaging", system_changed_after_packaging, "manifest.hash",
         "changed after packaging"),
    Case("unlisted_file", unlisted_file, "manifest.unlisted", "not listed in submission.json"),
    Case("listed_file_missing", listed_file_missing, "manifest.missing_file", "absent"),
    Case("symlink_out_of_tree", symlink_out_of_tree, "file.symlink", "outside the tree"),
    Case("fifo_in_tree", fifo_in_tree, "file.type", "not a regular file"),
    Case("oversized_json", oversized_json, "file.size", "over the 8388608-byte limit"),
    Case("key_file_swapped", key_file_swapped, "keys.file", "not the key", alone=False),
    Case("system_bad_utf8", system_bad_utf8, "file.utf8", "bad byte at offset"),
    Case("system_deeply_nested", system_deeply_nested, "file.depth", "deeper than 64"),
    Case("system_very_deeply_nested", system_very_deeply_nested, "file.depth", "deeper than 64"),
    Case("system_duplicate_key", system_duplicate_key, "file.json", 'duplicate key "notes"'),
    Case("system_nan", system_nan, "file.json", "NaN is not JSON"),
    Case("system_wrong_type", system_wrong_type, "system.schema", "number_of_nodes"),
    Case("system_other_submitter", system_other_submitter, "system.consistency", "submitter"),
    Case("unknown_rules_version", unknown_rules_version, "rules.version", '"v99"'),
    Case("unknown_workload", unknown_workload, "rules.workload", "not a workload name", alone=False),
    Case("too_few_runs", too_few_runs, "set.run_count", "2 run(s); the v1 rules require 3"),
    Case("run_left_out_of_the_set", run_left_out_of_the_set, "set.layout", "every run made must be reported",
         alone=False),
    Case("duplicate_seed", duplicate_seed, "set.seeds", "seed 7 is used by 2 runs"),
    Case("two_runs_diverged", two_runs_diverged, "set.non_converged", "2 runs did not converge"),
    Case("forged_fast_convergence", forged_fast_convergence, "convergence.reference",
         "submission olympic mean 4 epochs"),
    Case("init_over_budget_not_charged", init_over_budget_not_charged, "run.init", "over the 1800 s budget"),
    Case("converged_flipped", edit_run_and_reseal(1, _set(["quality", "converged"], False)), "run.quality",
         "quality.converged is false"),
    Case("achieved_not_last_eval", achieved_not_last_eval, "run.quality", "is not the last eval"),
    Case("target_changed", target_changed, "run.rules", "quality.target is"),
    Case("max_epochs_changed", edit_run_and_reseal(1, _set(["quality", "max_epochs"], 50)), "run.rules",
         "quality.max_epochs is 50"),
    Case("learning_rate_out_of_range", edit_run_and_reseal(3, _set(["hyperparameters", "learning_rate"], 0.5)),
         "run.hyperparameters", "'learning_rate' = 0.5 breaks range"),
    Case("optimizer_not_allowed", edit_run_and_reseal(3, _set(["hyperparameters", "optimizer"], "sgd")),
         "run.hyperparameters", "'optimizer' = 'sgd' breaks fixed 'adamw'"),
    Case("dataset_checksum", edit_run_and_reseal(1, _set(["dataset", "splits", "train", "sha256"], "0" * 64)),
         "run.dataset", "dataset.splits.train.sha256"),
    Case("throughput_inflated", edit_run_and_reseal(1, _set(["throughput", "samples_per_s"], 1e6)),
         "run.throughput", "throughput.samples_per_s is 1e+06 but"),
    Case("run_in_other_division", edit_run_and_reseal(2, _set(["division"], "open")), "run.identity",
         'division is "open"'),
    Case("run_on_other_machine", edit_run_and_reseal(2, _set(["environment", "cpu_count"], 64)), "run.system",
         "environment.cpu_count 64"),
    Case("run_made_with_other_code", edit_run_and_reseal(2, _set(["environment", "implementation_sha256"],
                                                                  "1" * 64)), "run.code", "made with other code"),
    Case("code_changed", code_changed, "code.tree", "the sources hash to"),
    Case("run_without_energy", edit_run_and_reseal(1, lambda doc: doc.pop("energy")), "run.schema",
         "field 'energy': Field required"),
    Case("run_names_another_log", edit_run_and_reseal(1, _set(["event_log", "file"], "run_7.mllog")),
         "run.event_log", 'event_log.file "run_7.mllog" is not a file beside the run'),
    Case("run_changed_after_signing", run_changed_after_signing, "run.signature", "content changed after signing"),
    Case("run_signed_by_stranger", run_signed_by_stranger, "run.signer", "not among the submission's public keys"),
    Case("log_changed_after_signing", log_changed_after_signing, "run.integrity", "log changed after signing"),
    Case("log_status_wrong", edit_log_and_reseal(
        1, lambda events: _event(events, "run_stop")["metadata"].__setitem__("status", "aborted")),
        "log.status", "run_stop status is aborted"),
    Case("log_epoch_missing", edit_log_and_reseal(
        1, lambda events: [e for e in events if not (e["key"] == "epoch_stop" and e["metadata"]["epoch_num"] == 3)]),
        "log.epochs", "5 epoch_stop events but quality.epochs is 6"),
    Case("log_eval_changed", edit_log_and_reseal(
        1, lambda events: _event(events, "eval_accuracy", 3).__setitem__("value", 0.25)),
        "log.evals", "differ from quality.curve at eval 3"),
    Case("log_samples_changed", edit_log_and_reseal(
        1, lambda events: [e for e in events if e["key"] == "epoch_stop"][-1]["metadata"]
        .__setitem__("samples_count", 999)), "log.samples", "samples_count is 999"),
    Case("log_run_longer", edit_log_and_reseal(
        2, lambda events: _event(events, "run_stop").__setitem__("time_ms", _event(events, "run_stop")["time_ms"]
                                                                 + 10_000)),
        "log.time", "run_stop - run_start is"),
    Case("log_seed_changed", edit_log_and_reseal(
        3, lambda events: _event(events, "seed").__setitem__("value", 99)), "log.seed", "the seed event logs 99"),
    Case("log_two_run_starts", edit_log_and_reseal(
        3, lambda events: events + [_event(events, "run_start")]), "log.events", "2 run_start events",
         alone=False),
    Case("log_cache_clear_differs", edit_log_and_reseal(
        2, lambda events: _event(events, "cache_clear").__setitem__("value", not _event(events, "cache_clear")["value"])),
        "log.cache_clear", "but the result's cache_clear is"),
    Case("log_not_an_event", cheat_log_line, "log.parse", "is not valid JSON"),
    Case("log_bad_utf8", log_bad_utf8, "file.utf8", "bad byte"),
    Case("score_changed_value", score_changed_value, "score.value", "score_s is"),
    Case("score_dropped_other_runs", score_dropped_other_runs, "score.value", "but the fastest and slowest"),
    Case("score_not_resealed", score_not_resealed, "score.integrity", "changed after scoring"),
]


# --- inference: one lstm_inference smoke run (INFERENCE_SET_DIR/run_1.json and its LoadGen files) --

def _scenario(doc: dict, scenario: str) -> dict:
    return next(run for run in doc["inference"]["scenarios"] if run["scenario"] == scenario)


def edit_inference_and_reseal(change: Callable[[dict], None]) -> Callable[[Tree], None]:
    def apply(tree: Tree) -> None:
        tree.reseal_loadgen(change)
    return apply


def edited_latency(tree: Tree) -> None:
    """SingleStream's p90 lowered in the detail log, the summary and the result alike: only the
    recomputation from the trace can tell."""
    key = "result_90.00_percentile_latency_ns"
    original = int(tree.detail("SingleStream")[key])  # type: ignore[call-overload]
    lowered = original // 2
    tree.edit_detail("SingleStream", {key: lowered})
    summary = tree.loadgen("SingleStream/mlperf_log_summary.txt")
    text, count = re.subn(rf"^(90\.0th percentile latency \(ns\) *: |90\.00 percentile latency \(ns\) *: ){original}$",
                          rf"\g<1>{lowered}", summary.read_text(), flags=re.MULTILINE)
    assert count == 2, summary.read_text()
    summary.write_text(text)

    def lower(doc: dict) -> None:
        run = _scenario(doc, "SingleStream")
        run["latency_ns"] = lowered
        run["latencies_ns"]["p90"] = lowered
    tree.reseal_loadgen(lower)


def trace_latency_edited(tree: Tree) -> None:
    """One sample 64 us slower in the trace: the mean LoadGen would compute moves by 1 us, the
    throughput by far less than the logs' rounding."""
    def slower(events: list[dict]) -> None:
        events[0]["args"]["complete_ns"] += 64_000
    tree.edit_trace("SingleStream", slower)


def scenario_missing(tree: Tree) -> None:
    """The Offline run dropped, files and all, while the run still says it is valid."""
    def drop(doc: dict) -> None:
        record = doc["inference"]
        record["scenarios"] = [run for run in record["scenarios"] if run["scenario"] != "Offline"]
        record["timing"]["scenario_s"].pop("Offline")
    shutil.rmtree(tree.loadgen("Offline"))
    tree.reseal_loadgen(drop)


def _zero_responses(tree: Tree) -> np.ndarray:
    """Every response of the accuracy log replaced by float32 0.0 (in LoadGen's own layout, one
    response a line); the predictions the log now holds."""
    name = "accuracy/mlperf_log_accuracy.json"
    response = re.compile(r'"data" : "([0-9A-F]+)"')
    original = tree.loadgen(name).read_text()
    text, count = response.subn(lambda m: f'"data" : "{"0" * len(m.group(1))}"', original)
    samples = tree.read(INFERENCE_RUN)["inference"]["accuracy"]["samples"]
    assert count == samples, f"{count} responses in {name}"
    tree.rewrite_loadgen(name, text.encode())
    outputs = len(response.search(original).group(1)) // 8  # type: ignore[union-attr]  # hex of float32
    return loadgen_logs.accuracy_outputs(text, samples, outputs)


def accuracy_below_gate(tree: Tree) -> None:
    """The accuracy log now scores below the gate; the result still claims the original quality."""
    _zero_responses(tree)


def accuracy_below_gate_reported(tree: Tree) -> None:
    """The same log, and the result honest about it (achieved, passed false), but still valid."""
    predictions = _zero_responses(tree)
    targets = np.load(tree.loadgen("accuracy/eval_targets.npy"), allow_pickle=False)
    achieved = compute_metric(INFERENCE_RULES.quality.metric, predictions, targets.reshape(predictions.shape))

    def honest(doc: dict) -> None:
        doc["inference"]["accuracy"].update(achieved=float(achieved), passed=False)
    tree.reseal_loadgen(honest)


def accuracy_failed_and_said_so(tree: Tree) -> None:
    """The same log, and the result honest about all of it: not valid. An honest failure is still
    a failed run, which the rules' allowance of failed runs (none) must count."""
    predictions = _zero_responses(tree)
    targets = np.load(tree.loadgen("accuracy/eval_targets.npy"), allow_pickle=False)
    achieved = compute_metric(INFERENCE_RULES.quality.metric, predictions, targets.reshape(predictions.shape))

    def honest(doc: dict) -> None:
        doc["inference"]["accuracy"].update(achieved=float(achieved), passed=False)
        doc["inference"].update(valid=False, reason="accuracy below the gate")
    tree.reseal_loadgen(honest)


def accuracy_run_missing(tree: Tree) -> None:
    shutil.rmtree(tree.loadgen("accuracy"))
    tree.reseal_manifest()


def eval_targets_swapped(tree: Tree) -> None:
    """Targets that are not the eval split's (the accuracy log's own outputs, which score r2 = 1)."""
    name = "accuracy/eval_targets.npy"
    targets = np.load(tree.loadgen(name), allow_pickle=False)
    predictions = loadgen_logs.accuracy_outputs(tree.loadgen("accuracy/mlperf_log_accuracy.json").read_text(),
                                                len(targets), targets.shape[1] if targets.ndim == 2 else 1)
    buffer = io.BytesIO()
    np.save(buffer, predictions.reshape(targets.shape).astype(targets.dtype), allow_pickle=False)
    tree.rewrite_loadgen(name, buffer.getvalue())


def summary_valid_over_invalid_detail(tree: Tree) -> None:
    tree.edit_detail("SingleStream", {"result_validity": "INVALID"})


def loadgen_changed_after_signing(tree: Tree) -> None:
    """A byte of a LoadGen summary changed, the manifest re-hashed but the run not re-signed."""
    summary = tree.loadgen("Offline/mlperf_log_summary.txt")
    text = summary.read_text()
    assert "SUT name : PySUT" in text
    summary.write_text(text.replace("SUT name : PySUT", "SUT name : PySUX", 1))
    tree.reseal_manifest()


def detail_throughput_edited(tree: Tree) -> None:
    key = "result_samples_per_second"
    tree.edit_detail("Offline", {key: float(tree.detail("Offline")[key]) * 2})  # type: ignore[arg-type]


def accuracy_response_missing(tree: Tree) -> None:
    """The accuracy log's first response line dropped: one eval sample is never answered."""
    name = "accuracy/mlperf_log_accuracy.json"
    lines = tree.loadgen(name).read_text().splitlines(keepends=True)
    assert lines[0] == "[\n" and lines[1].startswith('{ "seq_id" : 0,')
    tree.rewrite_loadgen(name, "".join([lines[0], *lines[2:]]).encode())


def trace_unrecorded(tree: Tree) -> None:
    """The SingleStream trace kept beside the run but left out of the files the result records."""
    def unrecord(doc: dict) -> None:
        run = _scenario(doc, "SingleStream")
        run["logs"] = [log for log in run["logs"] if not log["file"].endswith("mlperf_log_trace.json")]
    tree.reseal_loadgen(unrecord)


def _claim_offline_qps(doc: dict) -> None:
    """The result says the system told LoadGen 5000 samples/s (its hyperparameter alike); LoadGen's
    detail log says it ran with the 1000 it was really told."""
    _scenario(doc, "Offline")["settings"]["target_qps"] = 5000.0
    doc["hyperparameters"]["offline_expected_qps"] = 5000.0


def _claim_single_stream_latency(doc: dict) -> None:
    _scenario(doc, "SingleStream")["settings"]["expected_latency_ns"] = 500_000
    doc["hyperparameters"]["single_stream_expected_latency_ms"] = 0.5


def _forge_joules_per_query(doc: dict) -> None:
    """Energy per query where no energy was measured."""
    _scenario(doc, "Offline")["joules_per_query"] = 0.5


def _double_offline_rate(doc: dict) -> None:
    run = _scenario(doc, "Offline")
    run["samples_per_s"] *= 2


INFERENCE_CASES: list[Case] = [
    Case("edited_latency", edited_latency, "inference.latency",
         "SingleStream: the detail log reports latencies ['p90'] that LoadGen's trace does not give"),
    Case("trace_latency_edited", trace_latency_edited, "inference.latency",
         "SingleStream: the detail log reports latencies"),
    Case("wrong_scenario_settings", edit_inference_and_reseal(
        lambda doc: _scenario(doc, "SingleStream")["settings"].__setitem__("min_duration_ms", 500)),
        "inference.settings", "SingleStream min_duration_ms is 500; the rules say 1000"),
    Case("detail_min_query_count_differs",
         lambda tree: tree.edit_detail("SingleStream", {"effective_min_query_count": 32}), "inference.settings",
         "LoadGen applied effective_min_query_count = 32; the result records min_query_count = 64"),
    Case("offline_target_qps_not_applied", edit_inference_and_reseal(_claim_offline_qps), "inference.settings",
         "LoadGen applied effective_target_qps = 1000; the result records a target of 5000 queries/s"),
    Case("expected_latency_not_applied", edit_inference_and_reseal(_claim_single_stream_latency),
         "inference.settings",
         "LoadGen applied effective_target_qps = 1000; the result records a target of 2000 queries/s"),
    Case("scenario_missing", scenario_missing, "inference.scenarios",
         'the run measured ["SingleStream"]; the v1 rules measure ["SingleStream", "Offline"]', alone=False),
    Case("accuracy_below_gate", accuracy_below_gate, "inference.accuracy",
         "accuracy.passed is true, but r2"),
    Case("accuracy_below_gate_reported", accuracy_below_gate_reported, "inference.verdict",
         "inference.valid is true, but the accuracy gate and the scenarios' verdicts make it false"),
    Case("accuracy_failed_and_said_so", accuracy_failed_and_said_so, "set.invalid_runs",
         "1 inference run(s) are not valid (run_1.json); the rules allow 0"),
    Case("summary_valid_over_invalid_detail", summary_valid_over_invalid_detail, "inference.verdict",
         'SingleStream: the summary says "VALID" but the detail log says "INVALID"'),
    Case("accuracy_run_missing", accuracy_run_missing, "inference.accuracy",
         "the accuracy run's logs are missing or unreadable", alone=False),
    Case("eval_targets_swapped", eval_targets_swapped, "inference.accuracy",
         "the eval targets' content hash is not the rules'", alone=False),
    Case("joules_per_query_forged", edit_inference_and_reseal(_forge_joules_per_query), "inference.energy",
         "Offline: joules_per_query is 0.5; its energy over 1 queries makes null"),
    Case("throughput_edited", edit_inference_and_reseal(_double_offline_rate), "inference.throughput",
         "Offline: samples_per_s"),
    Case("detail_throughput_edited", detail_throughput_edited, "inference.throughput",
         "Offline: the detail log reports"),
    Case("batch_size_differs", edit_inference_and_reseal(lambda doc: doc["inference"].__setitem__("batch_size", 128)),
         "inference.settings", "inference.batch_size 128 is not the hyperparameter batch_size 256"),
    Case("accuracy_response_missing", accuracy_response_missing, "inference.accuracy",
         "1 of 256 eval samples have no response", alone=False),
    Case("trace_unrecorded", trace_unrecorded, "inference.logs", "a PerformanceOnly run keeps"),
    Case("loadgen_changed_after_signing", loadgen_changed_after_signing, "run.integrity",
         "does not match the sha256 recorded"),
]
