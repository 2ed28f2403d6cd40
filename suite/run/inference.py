"""The inference loop: MLPerf LoadGen drives an `InferenceSession` (accelbench.contracts.inference)
through the SUT and QSL of `accelbench.run.loadgen`.

A run is init (untimed up to the rules' budget: the session built from the trained weights and
warmed up), then LoadGen's accuracy run over the whole eval split, scored from LoadGen's own
accuracy log against the eval targets, then one LoadGen performance run per scenario the rules
name at the scale, each with the energy sampler around it. LoadGen owns the clock and the query
schedule; the harness is the system under test (SUT) and query sample library (QSL) LoadGen
calls: it splits each query's samples into batches of at most `batch_size`, asks the session to
predict them, and completes the query with the predictions' bytes. The session never learns
which run is being scored. Every number in the result is read back from LoadGen's logs with
`accelbench.judging.loadgen_logs`, the functions the validator re-checks them with.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from accelbench.contracts.context import RunContext
from accelbench.contracts.inference import InferenceContext, InferenceImplementation
from accelbench.energy.measurement import EnergyMeasurement
from accelbench.energy.meter import Unavailable
from accelbench.energy.sampler import EnergySampler
from accelbench.errors import UserError
from accelbench.judging import loadgen_logs
from accelbench.judging.loadgen_logs import KEPT
from accelbench.judging.quality import compute_metric
from accelbench.judging.verdict import meets_target
from accelbench.results.energy_record import RankEnergy, energy_record
from accelbench.results.models import (
    AccuracyRun,
    Energy,
    InferenceRecord,
    InferenceTiming,
    LoadGenLog,
    ScenarioRun,
)
from accelbench.rules.schema import BenchmarkRules, HyperparameterValue, Scale, Scenario
from accelbench.run.harness import Clock, KindRecord
from accelbench.run.loadgen import SystemUnderTest, loadgen_settings, require_loadgen, run_loadgen
from accelbench.run.preparation import PreparedData

ACCURACY_DIR = "accuracy"
EVAL_TARGETS_FILE = "eval_targets.npy"
NewSampler = Callable[[], "EnergySampler | Unavailable"]


@dataclass(frozen=True)
class InferenceProgress:
    """What one LoadGen run found, for live display."""

    line: str

    def describe(self, label: str, metric: str) -> str:
        return f"  {label} {self.line}"


def _log(path: Path, run_directory: Path) -> LoadGenLog:
    return LoadGenLog(file=path.relative_to(run_directory).as_posix(), sha256=hashlib.sha256(path.read_bytes()).hexdigest())


def _scenario_logs(directory: Path, mode: str, run_directory: Path) -> list[LoadGenLog]:
    return [_log(directory / name, run_directory) for name in KEPT[mode]]


class InferenceHarness:
    """Runs one inference run: the accuracy gate, then each scenario's performance run."""

    def __init__(self, rules: BenchmarkRules, scale: Scale, mode: str = "to_target",
                 clock: Clock = time.perf_counter) -> None:
        if mode != "to_target":
            raise UserError(f"{rules.workload} is an inference workload: it has no {mode} mode; use --mode=to_target")
        require_loadgen()
        assert rules.inference is not None
        if rules.inference.reference_quality[scale] == "unrecorded":
            raise UserError(f"{rules.workload}: the {scale} reference quality is unrecorded, so there is no accuracy "
                            f"gate yet: run the reference at {scale} and record its {rules.quality.metric} in the rules")
        self.rules, self.scale, self.read_clock = rules, scale, clock
        self.inference = rules.inference

    def run(
        self,
        implementation: InferenceImplementation,
        run: RunContext,
        data: PreparedData,
        files_dir: Path,
        on_progress: Callable[[InferenceProgress], None] = lambda progress: None,
        new_sampler: NewSampler = lambda: Unavailable("no power meter was given"),
    ) -> KindRecord:
        """One run on the eval split; LoadGen's logs go below `files_dir` (run_N.loadgen, beside
        the run file; there is no MLLOG file: LoadGen's logs are the record)."""
        assert data.weights is not None
        batch_size = int(run.hyperparameters["batch_size"])
        context = InferenceContext(**{f.name: getattr(run, f.name) for f in fields(RunContext)},
                                   weights=data.weights, batch_size=batch_size)
        begin = self.read_clock()
        session = implementation.create_session(context)
        session.warm_up(data.eval_inputs[:batch_size])
        session.synchronize()
        init_s = self.read_clock() - begin
        if files_dir.exists():
            shutil.rmtree(files_dir)
        system = SystemUnderTest(session, data.eval_inputs, batch_size)
        try:
            accuracy, accuracy_s, scenarios, scenario_s, energy = self._loadgen_runs(
                system, data, run.hyperparameters, files_dir, on_progress, new_sampler)
        finally:
            session.close()
        invalid = [f"{s.scenario} INVALID ({'; '.join(s.invalid_reasons) or 'LoadGen gave no reason'})"
                   for s in scenarios if not s.valid]
        if not accuracy.passed:
            invalid.insert(0, f"accuracy {accuracy.metric} {_shown(accuracy.achieved)} is below the gate {accuracy.target:.4f}")
        record = InferenceRecord(
            loadgen_version=_loadgen_version(files_dir / ACCURACY_DIR),
            batch_size=batch_size,
            timing=InferenceTiming(init_s=init_s, init_budget_s=self.rules.timing.init_budget_s[run.division],
                                   accuracy_s=accuracy_s, scenario_s=scenario_s),
            accuracy=accuracy,
            scenarios=scenarios,
            valid=not invalid,
            reason="; ".join(invalid) or "accuracy gate passed and every scenario is VALID",
            session=dict(session.logged_hyperparameters()),
        )
        return KindRecord(sections={"inference": record}, energy=energy)

    def _loadgen_runs(self, system: SystemUnderTest, data: PreparedData,
                      hyperparameters: Mapping[str, HyperparameterValue], files_dir: Path,
                      on_progress: Callable[[InferenceProgress], None], new_sampler: NewSampler):
        """The accuracy run, then each scenario's performance run, with the energy over them all."""
        run_directory = files_dir.parent
        accuracy, accuracy_s = self._accuracy(system, data, hyperparameters, files_dir, run_directory)
        on_progress(InferenceProgress(
            f"accuracy run: {accuracy.metric} {_shown(accuracy.achieved)} over {accuracy.samples} samples, gate "
            f"{accuracy.target:.4f} ({accuracy.fraction:g} x reference {accuracy.reference:.4f}): "
            f"{'PASSED' if accuracy.passed else 'FAILED'}"))
        overall = new_sampler()
        if isinstance(overall, EnergySampler):
            overall.start()
        scenarios, scenario_s = [], {}
        for scenario in self.inference.scenarios[self.scale]:
            begin = self.read_clock()
            measured = self._performance(system, scenario, data, hyperparameters, files_dir / scenario,
                                         run_directory, new_sampler)
            scenario_s[scenario] = self.read_clock() - begin
            scenarios.append(measured)
            on_progress(InferenceProgress(_describe(measured)))
        energy = overall.stop() if isinstance(overall, EnergySampler) else None
        return accuracy, accuracy_s, scenarios, scenario_s, energy

    def _accuracy(self, system: SystemUnderTest, data: PreparedData, hyperparameters: Mapping[str, HyperparameterValue],
                  files_dir: Path, run_directory: Path) -> tuple[AccuracyRun, float]:
        """LoadGen's accuracy run over every eval sample, scored from its accuracy log."""
        samples = len(data.eval_inputs)
        settings = loadgen_settings(self.rules, self.scale, "Offline", "AccuracyOnly", samples, hyperparameters)
        directory = files_dir / ACCURACY_DIR
        begin = self.read_clock()
        run_loadgen(system, settings, samples, directory)
        accuracy_s = self.read_clock() - begin
        targets_path = directory / EVAL_TARGETS_FILE
        targets = np.ascontiguousarray(data.eval_targets, dtype="<f4")
        recorded = self.inference.eval_targets_sha256[self.scale]
        if recorded != "unrecorded" and loadgen_logs.eval_targets_sha256(targets) != recorded:
            raise UserError(f"the {self.scale} eval targets hash {loadgen_logs.eval_targets_sha256(targets)}, not the "
                            f"rules' {recorded}: regenerate the dataset")
        np.save(targets_path, targets, allow_pickle=False)
        predictions = loadgen_logs.accuracy_outputs(
            (directory / "mlperf_log_accuracy.json").read_text(), samples,
            loadgen_logs.prediction_width(data.eval_targets, self.rules.dataset.parameters_for(self.scale)))
        quality = self.rules.quality
        achieved = compute_metric(quality.metric, predictions, data.eval_targets)
        target = quality.target[self.scale]
        return AccuracyRun(
            metric=quality.metric, split=quality.split, samples=samples,
            achieved=achieved if np.isfinite(achieved) else None,
            reference=float(self.inference.reference_quality[self.scale]), fraction=self.inference.accuracy_fraction,
            target=target, passed=meets_target(achieved, target, quality.direction),
            eval_targets=_log(targets_path, run_directory),
            logs=_scenario_logs(directory, "AccuracyOnly", run_directory),
        ), accuracy_s

    def _performance(self, system: SystemUnderTest, scenario: Scenario, data: PreparedData,
                     hyperparameters: Mapping[str, HyperparameterValue], directory: Path, run_directory: Path,
                     new_sampler: NewSampler) -> ScenarioRun:
        """One performance run, its numbers as LoadGen's detail log reports them."""
        samples = len(data.eval_inputs)
        settings = loadgen_settings(self.rules, self.scale, scenario, "PerformanceOnly", samples, hyperparameters)
        sampler = new_sampler()
        if isinstance(sampler, EnergySampler):
            sampler.start()
        run_loadgen(system, settings, samples, directory)
        measured = sampler.stop() if isinstance(sampler, EnergySampler) else sampler
        detail = loadgen_logs.parse_detail((directory / "mlperf_log_detail.txt").read_text())
        latencies = loadgen_logs.reported_latencies(detail, scenario)
        traced = loadgen_logs.recompute(scenario, settings.latency_percentile,
                                        loadgen_logs.parse_trace((directory / "mlperf_log_trace.json").read_text()))
        reported = loadgen_logs.reported_samples_per_s(detail, scenario)
        energy = _energy(measured)
        queries = int(detail["result_query_count"])  # type: ignore[call-overload]
        return ScenarioRun(
            scenario=scenario,
            settings=settings,
            valid=detail.get("result_validity") == "VALID",
            invalid_reasons=_invalid_reasons(detail),
            queries=queries,
            samples=traced.samples,
            duration_s=traced.duration_s,
            samples_per_s=reported if reported is not None else traced.samples_per_s,
            latency_percentile=settings.latency_percentile,
            latency_ns=latencies[loadgen_logs.percentile_key(settings.latency_percentile)],
            latencies_ns=latencies,
            energy=energy,
            joules_per_query=energy.joules / queries if energy.joules is not None and queries else None,
            logs=_scenario_logs(directory, "PerformanceOnly", run_directory),
        )


def _energy(measured: EnergyMeasurement | Unavailable) -> Energy:
    return energy_record([RankEnergy(host="", measured=measured)])


def _invalid_reasons(detail: dict[str, object]) -> list[str]:
    """LoadGen's own reasons, and which of its checks failed."""
    reasons = [str(detail[key]).strip() for key in ("result_invalid_reason",) if str(detail.get(key, "")).strip()]
    for key, what in (("result_min_duration_met", "minimum duration not met"),
                      ("result_min_queries_met", "minimum query count not met"),
                      ("early_stopping_met", "early stopping criterion not met"),
                      ("result_perf_constraints_met", "latency bound not met at the percentile")):
        if detail.get(key) is False:
            reasons.append(what)
    return reasons


def _loadgen_version(directory: Path) -> str:
    detail = loadgen_logs.parse_detail((directory / "mlperf_log_detail.txt").read_text())
    return str(detail.get("loadgen_version", "unknown"))


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def _describe(run: ScenarioRun) -> str:
    verdict = "VALID" if run.valid else f"INVALID ({'; '.join(run.invalid_reasons)})"
    latency = f"p{run.latency_percentile * 100:g} latency {run.latency_ns / 1e6:.2f} ms"
    return (f"{run.scenario}: {verdict}, {run.samples_per_s:,.1f} samples/s, {latency}, "
            f"{run.queries} queries in {run.duration_s:.1f} s")
