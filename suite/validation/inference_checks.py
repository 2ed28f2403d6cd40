"""An inference run re-derived from LoadGen's logs alone: the settings LoadGen was given against
the rules, each performance run's percentile and throughput recomputed from its trace and held
against what the detail log and the result report, LoadGen's verdict against its own checks,
and the accuracy log scored again against the eval targets, whose hash the rules record. The
numbers are computed with `accelbench.judging.loadgen_logs`, as the harness computed them."""

from __future__ import annotations

import io
import math

import numpy as np

from accelbench.judging import loadgen_logs
from accelbench.judging.quality import compute_metric
from accelbench.judging.verdict import meets_target
from accelbench.results.models import AccuracyRun, InferenceRunResult, LoadGenLog, LoadGenSettings, ScenarioRun
from accelbench.rules.schema import SCENARIO_HYPERPARAMETERS, BenchmarkRules
from accelbench.validation.energy_checks import check_energy
from accelbench.validation.files import SubmissionFiles
from accelbench.validation.findings import Findings, shown

QUALITY_TOLERANCE = 1e-9  # the same float32 outputs, summed in float64 the same way
THROUGHPUT_TOLERANCE = 1e-3  # LoadGen prints throughput with 6 significant digits

# What the detail log's effective_/requested_ keys must say for each recorded setting.
_EFFECTIVE = {"min_query_count": "effective_min_query_count", "min_duration_ms": "effective_min_duration_ms",
              "latency_percentile": "effective_target_latency_percentile",
              "samples_per_query": "effective_samples_per_query",
              "performance_sample_count": "effective_performance_sample_count"}


def check_inference_run(result: InferenceRunResult, relative: str, files: SubmissionFiles, rules: BenchmarkRules,
                        findings: Findings) -> None:
    """Findings for every way the run's LoadGen logs disagree with its result or its rules."""
    _InferenceRun(result, relative, files, rules, findings).check()


class _InferenceRun:
    def __init__(self, result: InferenceRunResult, relative: str, files: SubmissionFiles, rules: BenchmarkRules,
                 findings: Findings) -> None:
        self.result, self.relative, self.files, self.rules, self.findings = result, relative, files, rules, findings
        self.directory = relative.rpartition("/")[0]
        assert rules.inference is not None
        self.inference = rules.inference

    def error(self, check: str, message: str, path: str | None = None) -> None:
        self.findings.error(check, path or self.relative, message)

    def check(self) -> None:
        record, scale = self.result.inference, self.result.scale
        expected = list(self.inference.scenarios[scale])
        measured = [run.scenario for run in record.scenarios]
        if measured != expected:
            self.error("inference.scenarios", f"the run measured {shown(measured)}; the {self.rules.rules_version} "
                       f"rules measure {shown(expected)} at scale {scale}")
        accuracy_ok = self.accuracy(record.accuracy)
        for run in record.scenarios:
            if run.scenario in expected:
                self.scenario(run)
        valid = accuracy_ok and record.accuracy.passed and all(run.valid for run in record.scenarios) \
            and measured == expected
        if record.valid != valid:
            self.error("inference.verdict", f"inference.valid is {shown(record.valid)}, but the accuracy gate and "
                       f"the scenarios' verdicts make it {shown(valid)}")
        if record.batch_size != self.result.hyperparameters.get("batch_size"):
            self.error("inference.settings", f"inference.batch_size {record.batch_size} is not the hyperparameter "
                       f"batch_size {shown(self.result.hyperparameters.get('batch_size'))}")

    def text(self, logged: LoadGenLog) -> str | None:
        """A logged file's text, or None with a finding (its hash was checked with the signature)."""
        path = f"{self.directory}/{logged.file}"
        if not self.files.exists(path):
            if path not in self.files.flagged:
                self.error("inference.logs", f"{logged.file} is recorded in the result but absent", path)
            return None
        return self.files.read_text(path)

    def logs(self, logs: list[LoadGenLog], mode: str) -> dict[str, str] | None:
        """The run's kept logs by file name, or None if any is missing or unreadable."""
        names = {log.file.rpartition("/")[2]: log for log in logs}
        if sorted(names) != sorted(loadgen_logs.KEPT[mode]):
            self.error("inference.logs", f"records LoadGen files {shown(sorted(names))}; a {mode} run keeps "
                       f"{shown(sorted(loadgen_logs.KEPT[mode]))}")
            return None
        texts = {name: self.text(log) for name, log in names.items()}
        return None if any(text is None for text in texts.values()) else texts  # type: ignore[return-value]

    def settings(self, settings: LoadGenSettings, detail: dict[str, object], path: str) -> None:
        """The settings recorded are the rules' and the run's, and LoadGen applied them."""
        rules = self.inference.settings[settings.scenario]
        scale = self.result.scale
        claimed = self.result.hyperparameters.get(SCENARIO_HYPERPARAMETERS[settings.scenario])
        latency = rules.target_latency_ms.get(scale)
        expected = {
            "min_query_count": rules.min_query_count[scale], "min_duration_ms": rules.min_duration_ms[scale],
            "latency_percentile": rules.latency_percentile, "samples_per_query": rules.samples_per_query,
            "target_latency_ns": None if latency is None else int(latency * 1e6),
        }
        if settings.mode == "AccuracyOnly":
            expected = {"samples_per_query": 1}
        for name, value in expected.items():
            if getattr(settings, name) != value:
                self.error("inference.settings", f"{settings.scenario} {name} is {shown(getattr(settings, name))}; "
                           f"the rules say {shown(value)} at scale {scale}")
        told = settings.target_qps if settings.scenario in ("Offline", "Server") else (
            None if settings.expected_latency_ns is None else settings.expected_latency_ns / 1e6)
        if told is None or claimed is None or not math.isclose(told, float(claimed), rel_tol=1e-6):  # type: ignore[arg-type]
            self.error("inference.settings", f"{settings.scenario} was told {shown(told)}, not the run's "
                       f"hyperparameter {SCENARIO_HYPERPARAMETERS[settings.scenario]} = {shown(claimed)}")
        if detail.get("effective_scenario") != settings.scenario or detail.get("effective_test_mode") != settings.mode:
            self.error("inference.settings", f"LoadGen ran {shown(detail.get('effective_scenario'))} "
                       f"{shown(detail.get('effective_test_mode'))}, not {settings.scenario} {settings.mode}", path)
        for name, key in _EFFECTIVE.items():
            if name == "samples_per_query" and settings.scenario != "MultiStream":
                continue
            applied = detail.get(key)
            if name in ("min_query_count",) and settings.scenario == "Offline":
                continue  # LoadGen runs Offline as one query whatever the minimum
            if not isinstance(applied, (int, float)) or not math.isclose(float(applied), float(getattr(settings, name))):
                self.error("inference.settings", f"LoadGen applied {key} = {shown(applied)}; the result records "
                           f"{name} = {shown(getattr(settings, name))}", path)
        self.applied_targets(settings, detail, path)

    def applied_targets(self, settings: LoadGenSettings, detail: dict[str, object], path: str) -> None:
        """What the system told LoadGen about itself is what LoadGen ran with: its target rate
        (SingleStream: 1e9 / the expected latency, as LoadGen derives it; MultiStream's is left
        out, LoadGen versions derive it differently) and Server's latency bound."""
        if settings.scenario in ("Offline", "Server"):
            told_qps = settings.target_qps
        elif settings.scenario == "SingleStream" and settings.expected_latency_ns:
            told_qps = 1e9 / settings.expected_latency_ns
        else:
            told_qps = None
        applied = detail.get("effective_target_qps")
        if told_qps is not None and (isinstance(applied, bool) or not isinstance(applied, (int, float))
                                     or not loadgen_logs.close(float(applied), told_qps, THROUGHPUT_TOLERANCE)):
            self.error("inference.settings", f"LoadGen applied effective_target_qps = {shown(applied)}; the result "
                       f"records a target of {told_qps:.6g} queries/s", path)
        if settings.scenario == "Server":
            bound = detail.get("effective_target_latency_ns")
            if isinstance(bound, bool) or not isinstance(bound, (int, float)) or bound != settings.target_latency_ns:
                self.error("inference.settings", f"LoadGen applied effective_target_latency_ns = {shown(bound)}; the "
                           f"result records target_latency_ns = {shown(settings.target_latency_ns)}", path)

    def scenario(self, run: ScenarioRun) -> None:
        texts = self.logs(run.logs, "PerformanceOnly")
        if texts is None:
            return
        path = f"{self.directory}/{run.logs[0].file.rpartition('/')[0]}"
        try:
            detail = loadgen_logs.parse_detail(texts["mlperf_log_detail.txt"])
            traced = loadgen_logs.recompute(run.scenario, run.settings.latency_percentile,
                                            loadgen_logs.parse_trace(texts["mlperf_log_trace.json"]))
            reported = loadgen_logs.reported_latencies(detail, run.scenario)
            reported_rate = loadgen_logs.reported_samples_per_s(detail, run.scenario)
        except loadgen_logs.LogError as err:
            self.error("inference.logs", f"{run.scenario}: {err}", path)
            return
        self.settings(run.settings, detail, path)
        if reported != traced.latencies_ns:
            changed = sorted(k for k in traced.latencies_ns if reported.get(k) != traced.latencies_ns[k])
            self.error("inference.latency", f"{run.scenario}: the detail log reports latencies {changed} that "
                       f"LoadGen's trace does not give (e.g. {changed[0]} {shown(reported.get(changed[0]))} vs "
                       f"{traced.latencies_ns[changed[0]]} ns)", path)
        if run.latencies_ns != traced.latencies_ns or run.latency_ns != traced.latency_ns:
            self.error("inference.latency", f"{run.scenario}: the result's latencies (at the percentile "
                       f"{run.latency_ns} ns) are not the {traced.latency_ns} ns recomputed from LoadGen's trace")
        rate = reported_rate if reported_rate is not None else traced.samples_per_s
        if reported_rate is not None and not loadgen_logs.close(reported_rate, traced.samples_per_s, THROUGHPUT_TOLERANCE):
            self.error("inference.throughput", f"{run.scenario}: the detail log reports {reported_rate:.6g} samples/s; "
                       f"its trace gives {traced.samples_per_s:.6g}", path)
        if not loadgen_logs.close(run.samples_per_s, rate, THROUGHPUT_TOLERANCE):
            self.error("inference.throughput", f"{run.scenario}: samples_per_s {run.samples_per_s:.6g} is not the "
                       f"{rate:.6g} LoadGen's logs give")
        if run.samples != traced.samples or run.queries != detail.get("result_query_count"):
            self.error("inference.throughput", f"{run.scenario}: {run.queries} queries / {run.samples} samples recorded; "
                       f"the logs hold {shown(detail.get('result_query_count'))} / {traced.samples}")
        self.verdict(run, detail, texts["mlperf_log_summary.txt"], traced, path)
        self.energy(run)

    def energy(self, run: ScenarioRun) -> None:
        """The scenario's energy holds by MLPerf Power's rules, and its joules per query follow from it."""
        check_energy(run.energy, self.relative, self.findings)
        expected = run.energy.joules / run.queries if run.energy.joules is not None and run.queries else None
        same = (expected is None) == (run.joules_per_query is None) and (
            expected is None or math.isclose(expected, run.joules_per_query, rel_tol=1e-9))  # type: ignore[arg-type]
        if not same:
            self.error("inference.energy", f"{run.scenario}: joules_per_query is {shown(run.joules_per_query)}; "
                       f"its energy over {run.queries} queries makes {shown(expected)}")

    def verdict(self, run: ScenarioRun, detail: dict[str, object], summary: str, traced: loadgen_logs.Recomputed,
                path: str) -> None:
        """VALID only if LoadGen said so everywhere and its minimums hold in the trace."""
        detail_valid = detail.get("result_validity") == "VALID"
        if loadgen_logs.summary_verdict(summary) != detail.get("result_validity"):
            self.error("inference.verdict", f"{run.scenario}: the summary says {shown(loadgen_logs.summary_verdict(summary))} "
                       f"but the detail log says {shown(detail.get('result_validity'))}", path)
        if run.valid != detail_valid:
            self.error("inference.verdict", f"{run.scenario}: valid is {shown(run.valid)} but LoadGen's detail log "
                       f"says {shown(detail.get('result_validity'))}")
        if detail_valid:
            short = traced.duration_s * 1000 < run.settings.min_duration_ms
            few = run.scenario != "Offline" and traced.queries < run.settings.min_query_count
            if short or few:
                self.error("inference.verdict", f"{run.scenario}: the detail log says VALID, but its trace holds "
                           f"{traced.queries} queries over {traced.duration_s:.3f} s against a minimum of "
                           f"{run.settings.min_query_count} queries and {run.settings.min_duration_ms} ms", path)

    def accuracy(self, accuracy: AccuracyRun) -> bool:
        """The accuracy run is whole, and its log scores what the result says; False if unreadable."""
        scale, quality = self.result.scale, self.rules.quality
        expected = {"metric": quality.metric, "split": quality.split, "target": quality.target[scale],
                    "reference": self.inference.reference_quality[scale],
                    "fraction": self.inference.accuracy_fraction, "samples": self.rules.dataset.splits[scale][quality.split]}
        for name, value in expected.items():
            if getattr(accuracy, name) != value:
                self.error("inference.accuracy", f"accuracy.{name} is {shown(getattr(accuracy, name))}; the rules "
                           f"say {shown(value)} at scale {scale}")
        texts = self.logs(accuracy.logs, "AccuracyOnly")
        if texts is None:
            self.error("inference.accuracy", "the accuracy run's logs are missing or unreadable: a run is valid only "
                       "with a whole accuracy run")
            return False
        targets = self.targets(accuracy.eval_targets)
        if targets is None:
            return False
        path = f"{self.directory}/{accuracy.logs[0].file.rpartition('/')[0]}"
        try:
            detail = loadgen_logs.parse_detail(texts["mlperf_log_detail.txt"])
            predictions = loadgen_logs.accuracy_outputs(
                texts["mlperf_log_accuracy.json"], accuracy.samples,
                loadgen_logs.prediction_width(targets, self.rules.dataset.parameters_for(scale)))
        except loadgen_logs.LogError as err:
            self.error("inference.accuracy", f"accuracy run: {err}", path)
            return False
        if detail.get("effective_test_mode") != "AccuracyOnly":
            self.error("inference.accuracy", f"the accuracy run's detail log says mode "
                       f"{shown(detail.get('effective_test_mode'))}, not AccuracyOnly", path)
            return False
        if len(targets) != accuracy.samples:
            self.error("inference.accuracy", f"{len(targets)} eval targets for {accuracy.samples} samples")
            return False
        if targets.ndim == 2:  # a regression's targets, one row per sample; a classifier's are labels
            targets = targets.reshape(predictions.shape)
        achieved = compute_metric(quality.metric, predictions, targets)
        if accuracy.achieved is None or not math.isclose(achieved, accuracy.achieved, rel_tol=QUALITY_TOLERANCE,
                                                         abs_tol=1e-12):
            self.error("inference.accuracy", f"accuracy.achieved is {shown(accuracy.achieved)}, but LoadGen's accuracy "
                       f"log scores {quality.metric} {achieved:.6g} against the eval targets")
        passed = meets_target(achieved, quality.target[scale], quality.direction)
        if accuracy.passed != passed:
            self.error("inference.accuracy", f"accuracy.passed is {shown(accuracy.passed)}, but {quality.metric} "
                       f"{achieved:.6g} against the gate {quality.target[scale]} means {shown(passed)}")
        return True

    def targets(self, logged: LoadGenLog) -> np.ndarray | None:
        """The eval targets the accuracy log is scored with, after their content hash matched the rules'."""
        path = f"{self.directory}/{logged.file}"
        if not self.files.exists(path):
            if path not in self.files.flagged:
                self.error("inference.accuracy", "the eval targets the accuracy run is scored with are absent", path)
            return None
        data = self.files.read_bytes(path)
        if data is None:
            return None
        try:
            targets = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError) as err:
            self.error("inference.accuracy", f"not a numpy array file ({err})", path)
            return None
        recorded = self.inference.eval_targets_sha256[self.result.scale]
        if recorded == "unrecorded":
            self.findings.warning("inference.accuracy", path, f"the rules record no hash of the {self.result.scale} "
                                  "eval targets: the accuracy run is scored against targets the submitter supplied")
        elif loadgen_logs.eval_targets_sha256(targets) != recorded:
            self.error("inference.accuracy", f"the eval targets' content hash is not the rules' {recorded}: they are not "
                       "the eval split's", path)
            return None
        return targets
