"""One run result held against the rules it claims and the set it sits in: the verdicts the
harness reached (converged, time to train) are recomputed from the recorded numbers with the
same functions the harness used, and everything the rules fix must be what the rules say (an
inference run's LoadGen logs are re-derived in `inference_checks`)."""

from __future__ import annotations

import math

from accelbench.data.datasets import dataset_id, expected_checksums
from accelbench.judging.verdict import Evaluation, judge_run, measured_names, meets_quality
from accelbench.results.models import RunResultBase, SamplingRunResult, TrainingRunResult
from accelbench.rules.schema import BenchmarkRules
from accelbench.submission.layout import ResultSet
from accelbench.validation.energy_checks import check_energy
from accelbench.validation.findings import Findings, shown

RELATIVE_TOLERANCE = 1e-9  # recomputed sums of the same doubles; only summation order differs


def close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-12)


def derived_convergence(result: TrainingRunResult | SamplingRunResult, rules: BenchmarkRules) -> bool:
    """Whether the run converged, from its curve and its reported quality, with the harness's
    own verdict (`judge_run`) and the rules' target. A sampling run's claim stands here: its stop
    rule is replayed from its draws in `sampling_checks`, which refuses a false one."""
    if isinstance(result, SamplingRunResult):
        return result.quality.converged
    quality = result.quality
    last = quality.curve[-1] if quality.curve else None
    return judge_run(
        rules.quality, result.scale, rules.quality.target[result.scale], result.mode, quality.eval_kind,
        None if last is None else Evaluation(last.value, last.measurements),
        Evaluation(quality.achieved, quality.measurements),
    )


def check_run(
    result: RunResultBase, relative: str, run_index: int, result_set: ResultSet,
    division: str, rules_version: str, rules: BenchmarkRules, findings: Findings,
) -> None:
    """Findings for every way `result` departs from its set and its rules."""
    _Run(result, relative, division, findings).check(run_index, result_set, rules_version, rules)


class _Run:
    """The checks of one run; the submission's division, not the run's own claim, picks the
    division's rules (a run that claims another division is a finding of its own)."""

    def __init__(self, result: RunResultBase, relative: str, division: str, findings: Findings) -> None:
        self.result, self.relative, self.division, self.findings = result, relative, division, findings

    def error(self, check: str, message: str) -> None:
        self.findings.error(check, self.relative, message)

    def check(self, run_index: int, result_set: ResultSet, rules_version: str, rules: BenchmarkRules) -> None:
        self.identity(run_index, result_set, rules_version)
        if self.result.kind != rules.kind:
            self.error("run.rules", f"kind is {shown(self.result.kind)}; the rules say {shown(rules.kind)}")
        elif isinstance(self.result, TrainingRunResult):
            self.rules(rules, result_set)
            self.quality(rules)
            self.timing(rules)
            self.throughput(rules)
        violations = rules.hyperparameters.violations(
            self.division, dict(self.result.hyperparameters), self.result.scale
        )
        for problem in violations:
            self.error("run.hyperparameters", f"hyperparameters: {problem} ({self.division} division)")
        self.dataset(rules)
        check_energy(self.result.energy, self.relative, self.findings)

    def identity(self, run_index: int, result_set: ResultSet, rules_version: str) -> None:
        r = self.result
        expected = {
            "workload": result_set.workload, "scale": result_set.scale, "mode": result_set.mode,
            "division": self.division, "rules_version": rules_version, "run_index": run_index,
            "system.implementation": result_set.implementation,
        }
        actual = {
            "workload": r.workload, "scale": r.scale, "mode": r.mode, "division": r.division,
            "rules_version": r.rules_version, "run_index": r.run_index,
            "system.implementation": r.system.implementation,
        }
        for field, value in expected.items():
            if actual[field] != value:
                self.error("run.identity", f"{field} is {shown(actual[field])} but the submission says {shown(value)}")

    def rules(self, rules: BenchmarkRules, result_set: ResultSet) -> None:
        quality, scale = self.result.quality, self.result.scale
        max_epochs = (rules.scaling.epochs[scale] if result_set.mode == "fixed_epochs" and rules.scaling
                      else rules.quality.max_epochs[scale])
        expected = {
            "quality.metric": rules.quality.metric, "quality.split": rules.quality.split,
            "quality.direction": rules.quality.direction, "quality.target": rules.quality.target[scale],
            "quality.max_epochs": max_epochs,
            "timing.init_budget_s": rules.timing.init_budget_s[self.division],
        }
        actual = {
            "quality.metric": quality.metric, "quality.split": quality.split,
            "quality.direction": quality.direction, "quality.target": quality.target,
            "quality.max_epochs": quality.max_epochs, "timing.init_budget_s": self.result.timing.init_budget_s,
        }
        for field, value in expected.items():
            if actual[field] != value:
                self.error("run.rules", f"{field} is {shown(actual[field])}; the {rules.rules_version} "
                           f"rules say {shown(value)} at scale {scale}")
        if quality.eval_kind == "pseudo" and not rules.quality.pseudo_validation[self.division]:
            self.error("run.rules", f"quality.eval_kind is pseudo, which the {self.division} "
                       "division's rules do not allow")

    def quality(self, rules: BenchmarkRules) -> None:
        quality = self.result.quality
        derived = derived_convergence(self.result, rules)
        if quality.converged != derived:
            bounds = " and the rules' bounds on its measurements" if rules.quality.bounds else ""
            self.error("run.quality", f"quality.converged is {shown(quality.converged)} but achieved "
                       f"{shown(quality.achieved)} against the rules' target "
                       f"{rules.quality.target[self.result.scale]} ({rules.quality.direction})"
                       f"{bounds} means {shown(derived)}")
        last = quality.curve[-1] if quality.curve else None
        if quality.eval_kind == "true" and last is not None and (
            quality.achieved != last.value or quality.measurements != last.measurements
        ):
            self.error("run.quality", f"quality.achieved {shown(quality.achieved)} (with its measurements) "
                       f"is not the last eval of quality.curve ({shown(last.value)})")
        elif quality.eval_kind == "true" and last is None and quality.achieved is not None:
            self.error("run.quality", f"quality.achieved is {shown(quality.achieved)} with no eval in quality.curve")
        wanted = measured_names(rules.quality)
        for point in quality.curve:
            if sorted(point.measurements) != sorted(wanted):
                self.error("run.quality", f"the eval at epoch {point.epoch} measured "
                           f"{shown(sorted(point.measurements))}; the rules measure {shown(sorted(wanted))}")
                break
        if not 0 <= quality.epochs <= quality.max_epochs:
            self.error("run.quality", f"quality.epochs {quality.epochs} is outside 0..{quality.max_epochs}")
        counts = {"timing.epoch_s": len(self.result.timing.epoch_s), "quality.train_loss": len(quality.train_loss)}
        for field, count in counts.items():
            if count != quality.epochs:
                self.error("run.quality", f"{field} has {count} entries for {quality.epochs} epochs")
        self.stop_rule(rules)

    def stop_rule(self, rules: BenchmarkRules) -> None:
        """A run to the target stops at the first eval that meets it (and the rules' bounds); a
        fixed-epoch run trains all its epochs; either may stop early only when it diverges (a
        loss or metric that is not finite, recorded as null)."""
        quality = self.result.quality
        to_target = self.result.mode == "to_target"
        target = rules.quality.target[self.result.scale]
        meeting = [
            p.epoch for p in quality.curve
            if meets_quality(rules.quality, self.result.scale, target, Evaluation(p.value, p.measurements))
        ]
        if to_target and meeting and meeting[0] != quality.epochs:
            self.error("run.quality", f"the curve meets the target at epoch {meeting[0]}, yet the "
                       f"run went on to epoch {quality.epochs} (the clock stops at the target)")
        diverged = (bool(quality.train_loss) and quality.train_loss[-1] is None) or \
            (bool(quality.curve) and quality.curve[-1].value is None)
        if not (to_target and meeting) and not diverged and quality.epochs < quality.max_epochs:
            reason = "reaching the target or diverging" if to_target else "diverging"
            self.error("run.quality", f"stopped at epoch {quality.epochs} of {quality.max_epochs} without {reason}")

    def timing(self, rules: BenchmarkRules) -> None:
        timing = self.result.timing
        budget = rules.timing.init_budget_s[self.division]
        excess = max(0.0, timing.init_s - budget)
        expected = timing.run_s + excess
        if not close(timing.time_to_train_s, expected):
            if excess > 0:
                message = (f"init took {timing.init_s:.1f} s, {excess:.1f} s over the {budget:g} s "
                           f"budget, so timing.time_to_train_s must be run_s + {excess:.1f} = "
                           f"{expected:.3f} s, not {timing.time_to_train_s:.3f} s")
            else:
                message = (f"timing.time_to_train_s is {timing.time_to_train_s:.6g} s but run_s is "
                           f"{timing.run_s:.6g} s and init ({timing.init_s:.3g} s) is within budget")
            self.error("run.init", message)
        if min(timing.init_s, timing.run_s) < 0:
            self.error("run.init", "timing.init_s and timing.run_s must not be negative")

    def throughput(self, rules: BenchmarkRules) -> None:
        """Samples/s is the training samples over the timed region, and each of the rules' units
        per second is that times the unit's count per sample."""
        throughput, run_s = self.result.throughput, self.result.timing.run_s
        expected = throughput.train_samples / run_s if run_s > 0 else 0.0
        if not close(throughput.samples_per_s, expected):
            self.error("run.throughput", f"throughput.samples_per_s is {throughput.samples_per_s:.6g} but "
                       f"{throughput.train_samples} samples in {run_s:.6g} s make {expected:.6g}")
        units = {unit: throughput.samples_per_s * count
                 for unit, count in rules.units_per_sample(self.result.scale).items()}
        if sorted(throughput.units_per_s) != sorted(units) or not all(
            close(throughput.units_per_s[unit], value) for unit, value in units.items()
        ):
            self.error("run.throughput", f"throughput.units_per_s is {shown(throughput.units_per_s)}; the "
                       f"rules' units at samples_per_s {throughput.samples_per_s:.6g} make {shown(units)}")

    def dataset(self, rules: BenchmarkRules) -> None:
        dataset, scale = self.result.dataset, self.result.scale
        sizes = rules.dataset.splits[scale]
        if dataset.id != dataset_id(rules, scale) or dataset.seed != rules.dataset.seed:
            self.error("run.dataset", f"dataset {shown(dataset.id)} seed {dataset.seed} is not "
                       f"{dataset_id(rules, scale)} seed {rules.dataset.seed} of the rules")
        if set(dataset.splits) != set(sizes):
            self.error("run.dataset", f"dataset.splits are {shown(sorted(dataset.splits))}; the rules "
                       f"name {shown(sorted(sizes))}")
        for name, digest in expected_checksums(rules, scale).items():
            split = dataset.splits.get(name)
            if split is None:
                continue
            if split.samples != sizes[name]:
                self.error("run.dataset", f"dataset.splits.{name}.samples is {split.samples}; the rules "
                           f"say {sizes[name]}")
            if digest is not None and split.sha256 != digest:
                self.error("run.dataset", f"dataset.splits.{name}.sha256 is {shown(split.sha256)}; the "
                           f"rules record {digest}")
