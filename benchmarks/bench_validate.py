"""How long `accelbench validate` takes on a submission of 5 result sets x 10 runs (goal: < 2 s).

    python benchmarks/bench_validate.py [--runs-dir results/cpu/neuron_inverter/smoke] [--repeats 9]

The submission is built from real runs: without --runs-dir, 3 smoke runs are trained first
(1-3 minutes). Those runs are cloned to 10 per set (new run index and seed, the seed event of
the log to match, re-signed) in 5 result sets, one per declared system cpu_a .. cpu_e: rule
set v1 has one workload, so the five sets differ by system, as five machines of a submitter
would. Each set is scored and the whole is packaged with `accelbench.submission.packaging.package`. The
submission must validate clean; then `validate_submission` is timed `--repeats` times in this
process, and once in a fresh process as the CLI runs it (imports included).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accelbench.judging.scoring import olympic_score
from accelbench.results.files import write_json_atomic
from accelbench.results.models import BenchmarkScore, ScoredRun, SignedTrainingRunResult
from accelbench.rules.loader import load_rules
from accelbench.submission.packaging import package
from accelbench.submission.systems import describe_this_machine
from accelbench.trust.signing import sign_document
from accelbench.validation.validator import validate_submission

GOAL_S = 2.0
SYSTEMS = ("cpu_a", "cpu_b", "cpu_c", "cpu_d", "cpu_e")


def train_runs(workdir: Path) -> Path:
    env = dict(os.environ, ACCELBENCH_CONFIG_DIR=str(workdir / "config"),
               ACCELBENCH_DATA_DIR=str(workdir / "data"))
    subprocess.run([sys.executable, "-m", "accelbench", "run", "neuron_inverter", "--scale", "smoke",
                    "--runs", "3", "--seed", "7", "--results-dir", str(workdir / "results")],
                   env=env, check=True, capture_output=True)
    return workdir / "results" / "cpu" / "neuron_inverter" / "smoke"


def clone_run(source: Path, target_dir: Path, index: int, seed: int, system: str, key: Ed25519PrivateKey) -> dict:
    """Run `source` as run `index` of `system` with `seed`, its log's seed event to match."""
    doc = json.loads(source.read_text())
    doc.pop("signature")
    events = []
    for line in (source.parent / doc["event_log"]["file"]).read_text().splitlines():
        event = json.loads(line.removeprefix(":::MLLOG "))
        if event["key"] == "seed":
            event["value"] = seed
        events.append(f":::MLLOG {json.dumps(event)}\n")
    log = "".join(events).encode()
    (target_dir / f"run_{index}.mllog").write_bytes(log)
    doc.update(run_index=index, seed=seed,
               event_log={"file": f"run_{index}.mllog", "sha256": hashlib.sha256(log).hexdigest()})
    doc["system"]["name"] = system
    signed = sign_document(doc, key)
    write_json_atomic(target_dir / f"run_{index}.json", signed)
    return signed


def write_score(directory: Path, runs: list[dict], system: str, key: Ed25519PrivateKey) -> None:
    """score.json as the runner writes it, over the cloned runs."""
    rules = load_rules("neuron_inverter")
    results = [SignedTrainingRunResult.model_validate(run) for run in runs]
    names = [f"run_{r.run_index}.json" for r in results]
    times = [r.timing.time_to_train_s if r.quality.converged else None for r in results]
    outcome = olympic_score(times, rules.runs.minimum["smoke"], rules.runs.max_non_converged)
    score = BenchmarkScore(
        suite_version=results[0].suite_version, rules_version=rules.rules_version, workload=rules.workload,
        scale="smoke", division="closed", system=system, minimum_runs=rules.runs.minimum["smoke"],
        max_non_converged=rules.runs.max_non_converged,
        runs=[ScoredRun(file=name, sha256=hashlib.sha256((directory / name).read_bytes()).hexdigest(),
                        seed=r.seed, converged=r.quality.converged, time_to_train_s=t, achieved=r.quality.achieved)
              for name, r, t in zip(names, results, times)],
        dropped=[names[i] for i in outcome.dropped], non_converged=outcome.non_converged,
        score_s=outcome.value_s, valid=outcome.valid, reason=outcome.reason,
        created_at=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    write_json_atomic(directory / "score.json", sign_document(score.model_dump(mode="json"), key))


def build_submission(runs_dir: Path, workdir: Path, runs_per_set: int) -> Path:
    key = Ed25519PrivateKey.generate()
    sources = sorted(runs_dir.glob("run_*.json"), key=lambda p: int(p.stem.split("_")[1]))
    result_dirs, system_files = [], []
    for number, system in enumerate(SYSTEMS):
        directory = workdir / "results" / system / "neuron_inverter" / "smoke"
        directory.mkdir(parents=True)
        runs = [clone_run(sources[i % len(sources)], directory, i + 1, 1000 * number + i, system, key)
                for i in range(runs_per_set)]
        write_score(directory, runs, system, key)
        system_file = workdir / f"{system}.json"
        write_json_atomic(system_file, describe_this_machine("bench", system).model_dump(mode="json"))
        result_dirs.append(directory)
        system_files.append(system_file)
    package(result_dirs, system_files, workdir / "submission", key)
    return workdir / "submission"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs-dir", type=Path, help="a results directory of real runs [train 3 smoke runs]")
    parser.add_argument("--runs-per-set", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        workdir = Path(scratch)
        runs_dir = args.runs_dir or train_runs(workdir / "training")
        root = build_submission(runs_dir, workdir, args.runs_per_set)
        report = validate_submission(root)
        assert report.valid, report.json_text()
        print(f"submission: {report.result_sets} result sets, {report.runs} runs, "
              f"{sum(1 for p in root.rglob('*') if p.is_file())} files; {report.verdict().split(':')[0]}")
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            validate_submission(root)
            seconds.append(time.perf_counter() - start)
        median = statistics.median(seconds)
        print(f"validate_submission: median {median:.3f} s over {args.repeats} (min {min(seconds):.3f}, "
              f"max {max(seconds):.3f}); goal < {GOAL_S} s: {'met' if median < GOAL_S else 'MISSED'}")
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; from accelbench.validation."
                        "validator import validate_submission; sys.exit(validate_submission(Path(sys.argv[1]))"
                        ".exit_code)", str(root)], check=True)
        print(f"fresh process (imports included, as the CLI runs): {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
