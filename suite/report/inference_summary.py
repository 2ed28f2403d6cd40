"""Inference sets in `accelbench summarize`: one row per set and LoadGen scenario.

An inference set has no score: each run's accuracy gate and LoadGen performance runs are its
record. A row shows, for one scenario, the median over the set's runs of each number LoadGen
reported, and is VALID only where every run's scenario is VALID and every run passed the
accuracy gate (MLPerf discards a performance result whose accuracy run failed). The latency
distributions come from LoadGen's traces, which `verify_file` pins by hash. The arithmetic works
on small dataclasses, so it is tested without files.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from accelbench.judging.loadgen_logs import percentile_key
from accelbench.results.models import LoadGenLog, ScenarioRun, SignedInferenceRunResult
from accelbench.rules.schema import SCALES, SCENARIOS

TRACE_FILE = "mlperf_log_trace.json"
MAX_CDF_POINTS = 2000  # a CDF drawn from more points looks the same and makes a larger PNG
BATCH_LATENCY_SCENARIOS = ("SingleStream", "MultiStream", "Offline")


def cdf_points(latencies_ns: Sequence[int], max_points: int = MAX_CDF_POINTS) -> tuple[list[float], list[float]]:
    """(latency in ms, fraction of latencies at or below it) of sorted latencies, as steps from 0
    at the fastest; thinned evenly by rank to about `max_points`, always keeping the slowest."""
    count = len(latencies_ns)
    if not count:
        return [], []
    ranks = list(range(0, count, max(1, math.ceil(count / max_points))))
    if ranks[-1] != count - 1:
        ranks.append(count - 1)
    latencies_ms = [latencies_ns[0] / 1e6] + [latencies_ns[rank] / 1e6 for rank in ranks]
    return latencies_ms, [0.0] + [(rank + 1) / count for rank in ranks]


@dataclass(frozen=True)
class ScenarioResult:
    """One run's LoadGen performance run of one scenario: the numbers its signed result states,
    and the latencies its trace holds."""

    scenario: str
    valid: bool  # LoadGen's verdict
    invalid_reasons: tuple[str, ...]
    samples_per_s: float
    latency_percentile: float
    latency_ns: int  # at the scenario's percentile (per query for MultiStream)
    p50_ns: int
    p99_ns: int
    queries: int
    joules_per_query: float | None  # None: not measured
    energy_note: str  # the meter, or why there is no energy
    trace_latencies_ns: tuple[int, ...]  # sorted, as `judged_latencies_ns` reduces the trace


@dataclass(frozen=True)
class AccuracyGate:
    metric: str
    achieved: float | None  # None: no quality could be computed
    target: float
    passed: bool


@dataclass(frozen=True)
class InferenceRunSummary:
    file: str  # run_N.json
    accuracy: AccuracyGate
    scenarios: tuple[ScenarioResult, ...]


@dataclass(frozen=True)
class EnergyPerQuery:
    joules: float | None
    note: str  # the meters when measured, else "not measured: <reason>"


@dataclass(frozen=True)
class InferenceSetSummary:
    """One inference set of one submission: its runs share the system and the hyperparameters."""

    submitter: str
    division: str
    system: str
    platform: str
    device: str
    world_size: int
    workload: str
    scale: str
    batch_size: int
    precision: str
    runs: tuple[InferenceRunSummary, ...]

    @property
    def label(self) -> str:
        return f"{self.submitter} · {self.system}: {self.workload} {self.scale}, batch {self.batch_size}"

    @property
    def accuracy(self) -> AccuracyGate:
        """The median quality over the runs against the gate; passed only if every run passed."""
        first = self.runs[0].accuracy
        achieved = [run.accuracy.achieved for run in self.runs if run.accuracy.achieved is not None]
        return AccuracyGate(first.metric, statistics.median(achieved) if achieved else None, first.target,
                            all(run.accuracy.passed for run in self.runs))

    @property
    def failed_accuracy_runs(self) -> int:
        return sum(not run.accuracy.passed for run in self.runs)

    @property
    def scenario_names(self) -> tuple[str, ...]:
        ran = {result.scenario for run in self.runs for result in run.scenarios}
        return tuple(name for name in SCENARIOS if name in ran)


def _distinct(notes: Sequence[str]) -> str:
    return "; ".join(dict.fromkeys(notes))


@dataclass(frozen=True)
class ScenarioRow:
    """One set's scenario, reduced over the set's runs: one row of the inference table."""

    set: InferenceSetSummary
    scenario: str

    @property
    def results(self) -> tuple[ScenarioResult, ...]:
        return tuple(result for run in self.set.runs for result in run.scenarios if result.scenario == self.scenario)

    @property
    def invalid_reasons(self) -> tuple[str, ...]:
        """Why the row is INVALID (LoadGen's reasons, then a failed accuracy gate); empty if VALID."""
        reasons = [reason for result in self.results for reason in result.invalid_reasons]
        reasons += ["LoadGen found the run INVALID" for result in self.results
                    if not result.valid and not result.invalid_reasons]
        failed = self.set.failed_accuracy_runs
        if failed:
            reasons.append(f"accuracy gate failed in {failed} of {len(self.set.runs)} runs")
        return tuple(dict.fromkeys(reasons))

    @property
    def valid(self) -> bool:
        return not self.invalid_reasons

    @property
    def latency_percentile(self) -> float:
        return self.results[0].latency_percentile

    @property
    def percentile_name(self) -> str:
        return percentile_key(self.latency_percentile)

    @property
    def samples_per_s(self) -> float:
        return statistics.median(result.samples_per_s for result in self.results)

    @property
    def latency_ms(self) -> float:
        return statistics.median(result.latency_ns for result in self.results) / 1e6

    @property
    def p50_ms(self) -> float:
        return statistics.median(result.p50_ns for result in self.results) / 1e6

    @property
    def p99_ms(self) -> float:
        return statistics.median(result.p99_ns for result in self.results) / 1e6

    @property
    def queries(self) -> int:
        """Every query the row's numbers rest on, over all of the set's runs."""
        return sum(result.queries for result in self.results)

    @property
    def energy_per_query(self) -> EnergyPerQuery:
        """The median over the runs, only when every run was measured: fewer would not match."""
        unmeasured = [result.energy_note for result in self.results if result.joules_per_query is None]
        if unmeasured:
            return EnergyPerQuery(None, f"not measured: {_distinct(unmeasured)}")
        joules = statistics.median(result.joules_per_query for result in self.results)  # type: ignore[type-var]
        return EnergyPerQuery(joules, _distinct([result.energy_note for result in self.results]))

    @property
    def latencies_ns(self) -> tuple[int, ...]:
        """Every run's traced latencies, pooled and sorted: the set's latency distribution."""
        return tuple(sorted(latency for result in self.results for latency in result.trace_latencies_ns))

    @property
    def batch_latency_ms(self) -> float | None:
        """The latency against batch size: SingleStream and MultiStream at their percentile, and
        Offline the time of one batch at its throughput (as Graphcore's lstm_multi reports it);
        None for the scenarios that plot leaves out."""
        if self.scenario == "Offline":
            return 1000.0 * self.set.batch_size / self.samples_per_s
        return self.latency_ms if self.scenario in BATCH_LATENCY_SCENARIOS else None


def scenario_rows(sets: Sequence[InferenceSetSummary]) -> tuple[ScenarioRow, ...]:
    """Rows of one workload, scale and scenario side by side; submission order within them."""
    rows = [ScenarioRow(s, name) for s in sets for name in s.scenario_names]
    return tuple(sorted(rows, key=lambda row: (row.set.workload, SCALES.index(row.set.scale),
                                               SCENARIOS.index(row.scenario))))


# --- from signed results -------------------------------------------------------------------------


def trace_log(run: ScenarioRun) -> LoadGenLog | None:
    """The trace of a performance run, as its result pins it (path relative to the run file)."""
    return next((log for log in run.logs if log.file.rsplit("/", 1)[-1] == TRACE_FILE), None)


def scenario_result(run: ScenarioRun, trace_latencies_ns: tuple[int, ...]) -> ScenarioResult:
    energy = run.energy
    if energy.available and run.joules_per_query is not None:
        note = energy.meter or "unnamed meter"
    else:
        note = energy.reason or "no energy per query recorded"
    return ScenarioResult(
        scenario=run.scenario, valid=run.valid, invalid_reasons=tuple(run.invalid_reasons),
        samples_per_s=run.samples_per_s, latency_percentile=run.latency_percentile, latency_ns=run.latency_ns,
        p50_ns=run.latencies_ns["p50"], p99_ns=run.latencies_ns["p99"], queries=run.queries,
        joules_per_query=run.joules_per_query, energy_note=note, trace_latencies_ns=trace_latencies_ns,
    )


def run_summary(
    file: str, result: SignedInferenceRunResult, traces: Mapping[str, tuple[int, ...]]
) -> InferenceRunSummary:
    """One run reduced; `traces` holds each scenario's judged latencies, read from its trace."""
    accuracy = result.inference.accuracy
    return InferenceRunSummary(
        file=file,
        accuracy=AccuracyGate(accuracy.metric, accuracy.achieved, accuracy.target, accuracy.passed),
        scenarios=tuple(scenario_result(run, traces[run.scenario]) for run in result.inference.scenarios),
    )


def set_summary(
    submitter: str, runs: Sequence[tuple[str, SignedInferenceRunResult, Mapping[str, tuple[int, ...]]]]
) -> InferenceSetSummary:
    """The set of (file name, verified result, traced latencies by scenario) runs."""
    first = runs[0][1]
    return InferenceSetSummary(
        submitter=submitter, division=first.division, system=first.system.name,
        platform=first.system.platform, device=first.system.device, world_size=first.system.world_size,
        workload=first.workload, scale=first.scale, batch_size=first.inference.batch_size,
        precision=str(first.hyperparameters.get("precision", "not recorded")),
        runs=tuple(run_summary(file, result, traces) for file, result, traces in runs),
    )
