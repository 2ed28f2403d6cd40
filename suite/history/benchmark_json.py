"""The suite's own benchmarks as the store keeps them: a pytest-benchmark JSON file read strictly.

`pytest benchmarks --benchmark-only --benchmark-json=FILE` writes it; benchmarks/conftest.py adds
an `accelbench` section (the scale and device the benchmarks ran at). Each benchmark becomes one
record: system = the device, workload = the benchmark's full name, its rounds the values of
`round_s` (so `compare` has raw samples for its rank test), the ratio its goal is stated in as
`ratio`, and every other number in its extra_info as a reported metric. The file is not signed:
what is checked is that it is the JSON pytest-benchmark writes, with raw rounds.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from accelbench.errors import UserError
from accelbench.history.records import HIGHER, LOWER, REPORTED, Metric, Record, benchmark_record_sha256, canonical
from accelbench.history.records import parse_time as parse_iso_time
from accelbench.rules.loader import describe_validation_error


class Lenient(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Stats(Lenient):
    median: float
    rounds: int
    data: list[float]


class Benchmark(Lenient):
    fullname: str
    stats: Stats
    extra_info: dict[str, object] = {}


class CommitInfo(Lenient):
    id: str | None = None
    dirty: bool | None = None


class MachineInfo(Lenient):
    python_version: str = ""


class SuiteSection(Lenient):
    scale: str
    device: str
    suite_version: str
    packages: dict[str, str] = {}


class BenchmarkFile(Lenient):
    machine_info: MachineInfo
    commit_info: CommitInfo
    benchmarks: list[Benchmark]
    datetime: str
    version: str
    accelbench: SuiteSection


def is_benchmark_json(document: object) -> bool:
    return isinstance(document, dict) and "benchmarks" in document and "machine_info" in document


def _goal_direction(goal: object) -> bool | None:
    """A goal reads '< x' (lower is better) or '> x' (higher is better); else the ratio is reported."""
    text = str(goal).strip()
    return LOWER if text.startswith("<") else HIGHER if text.startswith(">") else REPORTED


def _metrics(benchmark: Benchmark) -> list[Metric]:
    found = [Metric("round_s", value, LOWER, position) for position, value in enumerate(benchmark.stats.data)]
    extra = benchmark.extra_info
    for name, value in sorted(extra.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        direction = _goal_direction(extra.get("goal")) if name == "ratio" else REPORTED
        found.append(Metric(name, float(value), direction))
    return found


def benchmark_records(path: Path, document: dict, file_sha256: str) -> list[Record]:
    """The records of a pytest-benchmark JSON; one line if it is not one, or has no raw rounds."""
    try:
        parsed = BenchmarkFile.model_validate(document)
    except ValidationError as err:
        raise UserError(f"{path}: not a pytest-benchmark JSON from `pytest benchmarks --benchmark-json` "
                        f"({describe_validation_error(err)}): pass the file that command wrote") from None
    if not parsed.benchmarks:
        raise UserError(f"{path}: holds no benchmarks: run `pytest benchmarks --benchmark-only --benchmark-json`")
    try:
        created = parse_iso_time(parsed.datetime)
    except ValueError:
        raise UserError(f"{path}: datetime {parsed.datetime!r} is not an ISO 8601 time: "
                        "pass the file pytest-benchmark wrote") from None
    suite = parsed.accelbench
    packages = {"python": parsed.machine_info.python_version, "pytest-benchmark": parsed.version, **suite.packages}
    records = []
    for benchmark in parsed.benchmarks:
        if len(benchmark.stats.data) != benchmark.stats.rounds:
            raise UserError(f"{path}: {benchmark.fullname} has {benchmark.stats.rounds} rounds but "
                            f"{len(benchmark.stats.data)} raw values: write it with --benchmark-json")
        goal_met = benchmark.extra_info.get("goal_met")
        records.append(Record(
            record_sha256=benchmark_record_sha256(file_sha256, benchmark.fullname), source=str(path),
            kind="benchmark", system=suite.device, platform=suite.device, workload=benchmark.fullname,
            scale=suite.scale, division="benchmark", mode="benchmark", run_index=1, seed=None,
            passed=goal_met is not False, suite_version=suite.suite_version, suite_commit=parsed.commit_info.id,
            suite_dirty=parsed.commit_info.dirty, software=canonical(packages), container_digest=None,
            created_at=created, key_id=None, metrics=tuple(_metrics(benchmark)),
        ))
    return records


def read_benchmark_json(path: Path, data: bytes) -> dict:
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UserError(f"{path}: not JSON ({err}): pass a run_N.json or a pytest-benchmark JSON") from None
