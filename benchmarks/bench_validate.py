"""How long `accelbench validate` takes on a submission of 5 result sets x 10 runs (goal: < 2 s).

    pytest benchmarks/bench_validate.py --benchmark-only [--bench-scale smoke] [--bench-runs-dir DIR]

The submission is built from real runs: without --bench-runs-dir (a results directory of smoke
runs), 3 smoke runs are trained first (1-3 minutes; 1 run at --bench-scale smoke). Those runs are
cloned to 10 per set (at smoke: the rules' minimum) with a new run index and seed, the seed event of
the log to match, re-signed, in 5 result sets, one per declared system cpu_a .. cpu_e: rule set v1
has one workload, so the five sets differ by system, as five machines of a submitter would. Each set
is scored and the whole is packaged with `accelbench.submission.packaging.package`. The submission
must validate clean; then `validate_submission` is timed in this process over the size's rounds (the
goal ratio: their median over the goal), and once in a fresh process as the CLI runs it (imports
included, in extra_info).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rounds import run_rounds, seconds_of

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


@dataclass(frozen=True)
class Size:
    trained_runs: int  # real smoke runs the clones are made from (unless --bench-runs-dir gives them)
    runs_per_set: int
    repeats: int


SIZES = {"smoke": Size(trained_runs=1, runs_per_set=3, repeats=3),
         "small": Size(trained_runs=3, runs_per_set=10, repeats=9),
         "full": Size(trained_runs=3, runs_per_set=10, repeats=9)}


def train_runs(workdir: Path, runs: int, env: dict[str, str]) -> Path:
    """`runs` real smoke runs, signed, in their results directory. Fewer than the rules' minimum make an invalid
    score, for which the CLI exits 1 once it has written every run."""
    done = subprocess.run([sys.executable, "-m", "accelbench", "run", "neuron_inverter", "--scale", "smoke",
                           "--runs", str(runs), "--seed", "7", "--results-dir", str(workdir / "results")],
                          check=False, env=env, capture_output=True, text=True)
    results = workdir / "results" / "cpu" / "neuron_inverter" / "smoke"
    expected_exit = 0 if runs >= load_rules("neuron_inverter").runs.minimum["smoke"] else 1
    assert done.returncode == expected_exit and len(list(results.glob("run_*.json"))) == runs, \
        done.stdout + done.stderr
    return results


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


def test_validate_submission(benchmark, goal_ratio, bench_scale, bench_workspace, bench_runs_dir, tmp_path):
    size = SIZES[bench_scale]
    runs_dir = bench_runs_dir or train_runs(tmp_path / "training", size.trained_runs, bench_workspace)
    root = build_submission(runs_dir, tmp_path, size.runs_per_set)
    report = validate_submission(root)
    assert report.valid, report.json_text()

    rounds = run_rounds(benchmark, lambda: seconds_of(lambda: validate_submission(root)), size.repeats)
    as_the_cli = ("import sys; from pathlib import Path; from accelbench.validation.validator import "
                  "validate_submission; sys.exit(validate_submission(Path(sys.argv[1])).exit_code)")
    fresh_s = seconds_of(lambda: subprocess.run([sys.executable, "-c", as_the_cli, str(root)], check=True))
    median = statistics.median(rounds.subject)
    benchmark.extra_info.update(
        result_sets=report.result_sets, runs=report.runs, files=sum(1 for p in root.rglob("*") if p.is_file()),
        verdict=report.verdict().split(":")[0], median_s=median, fresh_process_s=fresh_s)
    goal_ratio(f"validate_submission median / {GOAL_S:g} s", median / GOAL_S, "< 1", met=median < GOAL_S)
