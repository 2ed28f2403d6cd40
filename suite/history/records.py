"""What the store keeps of one verified result: its keys and its metrics, as plain dataclasses.

A run result gives one record; a pytest-benchmark JSON (the suite's own benchmarks) one record
per benchmark, whose rounds are the metric's values. Metric names are what `history` and
`compare` take: time_to_train_s, samples_per_s, energy_j, quality, ess_per_s; per LoadGen
scenario samples_per_s.<Scenario> and latency_p90_s.<Scenario>; a benchmark's round_s and ratio.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone

from accelbench.results.models import (
    AnySignedRun,
    SignedInferenceRunResult,
    SignedSamplingRunResult,
    SignedTrainingRunResult,
)

LOWER, HIGHER, REPORTED = False, True, None  # higher_is_better


@dataclass(frozen=True)
class Metric:
    name: str
    value: float
    higher_is_better: bool | None
    position: int = 0  # a benchmark's round; 0 for one value per run


@dataclass(frozen=True)
class Record:
    record_sha256: str
    source: str
    kind: str
    system: str
    platform: str
    workload: str
    scale: str
    division: str
    mode: str
    run_index: int
    seed: int | None
    passed: bool
    suite_version: str
    suite_commit: str | None
    suite_dirty: bool | None
    software: str
    container_digest: str | None
    created_at: datetime
    key_id: str | None
    metrics: tuple[Metric, ...] = field(default=())


def canonical(mapping: dict[str, str]) -> str:
    return json.dumps(dict(sorted(mapping.items())), separators=(",", ":"))


def parse_time(text: str) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (a naive one is read as UTC)."""
    moment = datetime.fromisoformat(text)
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).astimezone(timezone.utc)


def _quality_metric(value: float | None, direction: str) -> list[Metric]:
    return [] if value is None else [Metric("quality", value, direction == "at_least")]


def _energy_metric(joules: float | None, name: str = "energy_j") -> list[Metric]:
    return [] if joules is None else [Metric(name, joules, LOWER)]


def training_metrics(run: SignedTrainingRunResult) -> list[Metric]:
    found = [Metric("samples_per_s", run.throughput.samples_per_s, HIGHER),
             Metric("epochs", run.quality.epochs, REPORTED)]
    if run.quality.converged:  # a run that missed the target has no time to train
        found.append(Metric("time_to_train_s", run.timing.time_to_train_s, LOWER))
    return found + _quality_metric(run.quality.achieved, run.quality.direction) + _energy_metric(run.energy.joules)


def inference_metrics(run: SignedInferenceRunResult) -> list[Metric]:
    record = run.inference
    found = _quality_metric(record.accuracy.achieved, "at_least")
    for scenario in record.scenarios:
        name = scenario.scenario
        found.append(Metric(f"samples_per_s.{name}", scenario.samples_per_s, HIGHER))
        if "p90" in scenario.latencies_ns:
            found.append(Metric(f"latency_p90_s.{name}", scenario.latencies_ns["p90"] / 1e9, LOWER))
        found.extend(_energy_metric(scenario.energy.joules, f"energy_j.{name}"))
    return found


def sampling_metrics(run: SignedSamplingRunResult) -> list[Metric]:
    found = []
    if run.quality.converged:
        found.append(Metric("time_to_train_s", run.timing.time_to_train_s, LOWER))
    if run.efficiency.ess_per_s is not None:
        found.append(Metric("ess_per_s", run.efficiency.ess_per_s, HIGHER))
    return found + _quality_metric(run.quality.achieved, run.quality.direction) + _energy_metric(run.energy.joules)


def run_record(run: AnySignedRun, source: str, sha256: str, key_id: str) -> Record:
    """The record of a verified run result whose file bytes hash to `sha256`."""
    if isinstance(run, SignedInferenceRunResult):
        metrics, passed = inference_metrics(run), run.inference.valid
    elif isinstance(run, SignedSamplingRunResult):
        metrics, passed = sampling_metrics(run), run.quality.converged
    else:
        metrics, passed = training_metrics(run), run.quality.converged
    environment = run.environment
    return Record(
        record_sha256=sha256, source=source, kind=run.kind, system=run.system.name, platform=run.system.platform,
        workload=run.workload, scale=run.scale, division=run.division, mode=run.mode, run_index=run.run_index,
        seed=run.seed, passed=passed, suite_version=run.suite_version, suite_commit=environment.suite_git_commit,
        suite_dirty=environment.suite_git_dirty, software=canonical(environment.packages),
        container_digest=environment.container.get("image_digest"), created_at=parse_time(run.created_at),
        key_id=key_id, metrics=tuple(metrics),
    )


def benchmark_record_sha256(file_sha256: str, fullname: str) -> str:
    """One benchmark of a pytest-benchmark JSON: the file's hash and the benchmark's name."""
    return hashlib.sha256(f"{file_sha256}\0{fullname}".encode()).hexdigest()
