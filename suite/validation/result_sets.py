"""One result set of a submission: its layout, its runs (each verified, then checked against
its log, its rules, its system and its code), and the verdicts over the set: run count, seeds,
non-converged runs, the score and the reference convergence check."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from accelbench.errors import UserError
from accelbench.results.layout import RUN_FILE, SCORE_FILE, run_index, set_path
from accelbench.results.models import (
    AnySignedRun,
    SignedBenchmarkScore,
    SignedInferenceRunResult,
    SignedSamplingRunResult,
    SignedTrainingRunResult,
    parse_signed_run,
)
from accelbench.rules.loader import describe_validation_error
from accelbench.rules.schema import BenchmarkRules
from accelbench.submission.layout import RESULTS_DIR, ResultSet, SubmissionManifest
from accelbench.submission.systems import SystemDescription
from accelbench.trust.signing import SignatureError
from accelbench.trust.verification import verify_file
from accelbench.validation.code_checks import check_code_tree, check_run_code
from accelbench.validation.event_log import check_event_log, parse_events
from accelbench.validation.files import SubmissionFiles
from accelbench.validation.findings import Findings, shown
from accelbench.validation.inference_checks import check_inference_run
from accelbench.validation.reference_convergence import reference_convergence
from accelbench.validation.run_checks import check_run, derived_convergence
from accelbench.validation.sampling_checks import check_sampling_run
from accelbench.validation.score_checks import check_score
from accelbench.validation.system_checks import check_run_system


@dataclass(frozen=True)
class SetContext:
    """What every set of one submission is checked against."""

    files: SubmissionFiles
    manifest: SubmissionManifest
    trusted: frozenset[str]
    systems: dict[str, SystemDescription]
    findings: Findings


def expected_directory(result_set: ResultSet) -> str:
    return f"{RESULTS_DIR}/{set_path(result_set.system, result_set.workload, result_set.scale, result_set.mode)}"


def check_result_set(result_set: ResultSet, rules: BenchmarkRules | None, context: SetContext) -> int:
    """Check one set; return how many of its runs could be read."""
    return _SetCheck(result_set, rules, context).run()


class _SetCheck:
    def __init__(self, result_set: ResultSet, rules: BenchmarkRules | None, context: SetContext) -> None:
        self.set, self.rules, self.context = result_set, rules, context
        self.files, self.findings = context.files, context.findings
        self.directory = result_set.directory
        self.runs = list(dict.fromkeys(result_set.runs))  # a run listed twice is read once

    def error(self, check: str, path: str, message: str) -> None:
        self.findings.error(check, path, message)

    def run(self) -> int:
        self.check_layout()
        system = self.context.systems.get(self.set.system)
        if self.set.system not in self.context.manifest.systems:
            self.error("set.system", self.directory, f"the set's system {shown(self.set.system)} is not "
                       "declared in submission.json systems")
        check_code_tree(self.files, self.set, self.findings)
        runs = [(path, self.load_run(path)) for path in self.runs]
        loaded = [(path, result) for path, result in runs if result is not None]
        for path, result in loaded:
            check_run_code(result, self.set, path, self.findings)
            if system is not None:
                check_run_system(system, result, path, self.findings)
            if self.rules is not None:
                index = run_index(path)
                check_run(result, path, index, self.set, self.context.manifest.division,
                          self.context.manifest.rules_version, self.rules, self.findings)
                if isinstance(result, SignedInferenceRunResult) and self.rules.inference is not None:
                    check_inference_run(result, path, self.files, self.rules, self.findings)
                if isinstance(result, SignedSamplingRunResult) and self.rules.sampling is not None:
                    check_sampling_run(result, path, self.files, self.rules, self.findings)
        self.check_seeds(loaded)
        if self.rules is not None:
            self.check_run_count()
            self.check_invalid_inference(loaded)
            scored = self.set.mode == "to_target" and self.rules.kind in ("train_to_target", "sampling")
            scored_kind = SignedSamplingRunResult if self.rules.kind == "sampling" else SignedTrainingRunResult
            if scored and len(loaded) == len(runs) and all(isinstance(r, scored_kind) for _, r in loaded):
                named = [(Path(path).name, result) for path, result in loaded]
                self.check_non_converged(named)
                self.check_score(named)
                if self.rules.kind == "train_to_target":
                    self.check_reference_convergence(named)
        return len(loaded)

    def check_layout(self) -> None:
        expected = expected_directory(self.set)
        if self.directory != expected:
            self.error("set.layout", self.directory, f"the set's directory must be {expected}")
        for path in self.runs:
            parent, _, name = path.rpartition("/")
            if parent != self.directory or not RUN_FILE.match(name):
                self.error("set.layout", path, f"a run of the set must be {self.directory}/run_N.json")
        if len(self.runs) != len(self.set.runs):
            self.error("set.layout", self.directory, "lists a run file twice")
        listed = set(self.runs)
        for path in self.files.under(self.directory):
            if RUN_FILE.match(path.rpartition("/")[2]) and path not in listed:
                self.error("set.layout", path, "is a run of this set's directory that the set does not "
                           "list: every run made must be reported")
        inference = self.rules is not None and self.rules.kind == "inference"
        expected_score = f"{self.directory}/{SCORE_FILE}" if self.set.mode == "to_target" and not inference else None
        if self.set.score != expected_score:
            kind = "an inference" if inference else f"a {self.set.mode}"
            self.error("set.layout", self.directory,
                       f"score is {shown(self.set.score)}; {kind} set's score is {shown(expected_score)}")

    def load_run(self, path: str) -> AnySignedRun | None:
        """The run's result if its schema holds, after verifying its signature and its log.
        Only runs inside the set's own directory are read, so no file is read for two sets."""
        parent, _, name = path.rpartition("/")
        if parent != self.directory or self.directory != expected_directory(self.set) or not RUN_FILE.match(name):
            return None
        if not self.files.exists(path):
            if path not in self.files.flagged:
                self.error("set.layout", path, "is listed as a run of the set but absent")
            return None
        doc = self.files.read_json(path)
        if doc is None:
            return None
        try:
            result = parse_signed_run(doc)
        except ValidationError as err:
            self.error("run.schema", path, describe_validation_error(err))
            return None
        if isinstance(result, (SignedInferenceRunResult, SignedSamplingRunResult)):  # their files: *_checks
            self.verify(path, "run")
            return result
        log = f"{path.rpartition('/')[0]}/{result.event_log.file}"
        if "/" in result.event_log.file or not self.files.exists(log):
            if log not in self.files.flagged:
                self.error("run.event_log", path, f"event_log.file {shown(result.event_log.file)} is not a "
                           "file beside the run")
            return result
        self.verify(path, "run")
        text = self.files.read_text(log)
        events = parse_events(text, log, self.findings) if text is not None else None
        if events is not None:
            check_event_log(events, result, self.rules, log, self.findings)
        return result

    def verify(self, path: str, what: str) -> None:
        """`accelbench verify` on the file, and its signer among the submission's keys."""
        try:
            verified = verify_file(self.files.root / path)
        except SignatureError as err:
            self.error(f"{what}.signature", path, self.relative_message(err))
            return
        except UserError as err:
            self.error(f"{what}.integrity", path, self.relative_message(err))
            return
        if verified.key_id not in self.context.trusted:
            self.error(f"{what}.signer", path, f"signed by key {verified.key_id}, which is not among the "
                       f"submission's public keys {shown(sorted(self.context.trusted))}")

    def relative_message(self, err: Exception) -> str:
        return str(err).replace(f"{self.files.root}/", "")

    def check_seeds(self, loaded: list[tuple[str, AnySignedRun]]) -> None:
        counts = Counter(result.seed for _, result in loaded)
        for seed, count in counts.items():
            if count > 1:
                paths = [path.rpartition("/")[2] for path, result in loaded if result.seed == seed]
                self.error("set.seeds", self.directory, f"seed {seed} is used by {count} runs "
                           f"({', '.join(paths)}); each run of a set needs its own seed")

    def check_run_count(self) -> None:
        assert self.rules is not None
        minimum = self.rules.runs.minimum[self.set.scale] if self.set.mode == "to_target" else 1
        if len(self.runs) < minimum:
            self.error("set.run_count", self.directory, f"{len(self.runs)} run(s); the "
                       f"{self.rules.rules_version} rules require {minimum} at scale {self.set.scale}")

    def check_invalid_inference(self, loaded: list[tuple[str, AnySignedRun]]) -> None:
        """An inference run that failed its accuracy gate or a scenario counts against the rules'
        allowance of failed runs, as a training run that did not converge does."""
        assert self.rules is not None
        failed = [path.rpartition("/")[2] for path, result in loaded
                  if isinstance(result, SignedInferenceRunResult) and not result.inference.valid]
        allowed = self.rules.runs.max_non_converged
        if len(failed) > allowed:
            self.error("set.invalid_runs", self.directory, f"{len(failed)} inference run(s) are not valid "
                       f"({', '.join(failed)}); the rules allow {allowed}")

    def check_non_converged(self, runs: list[tuple[str, SignedTrainingRunResult]]) -> None:
        assert self.rules is not None
        failed = [name for name, result in runs if not derived_convergence(result, self.rules)]
        allowed = self.rules.runs.max_non_converged
        if len(failed) > allowed:
            self.error("set.non_converged", self.directory, f"{len(failed)} runs did not converge "
                       f"({', '.join(failed)}); the rules allow {allowed}")

    def check_score(self, runs: list[tuple[str, SignedTrainingRunResult]]) -> None:
        assert self.rules is not None
        path = self.set.score
        if path is None or not self.files.exists(path):
            if path is not None and path not in self.files.flagged:
                self.error("set.layout", path, "the set's score.json is absent")
            return
        doc = self.files.read_json(path)
        if doc is None:
            return
        try:
            score = SignedBenchmarkScore.model_validate(doc)
        except ValidationError as err:
            self.error("score.schema", path, describe_validation_error(err))
            return
        scored_files = [f"{self.directory}/{run.file}" for run in score.runs]
        if all(self.files.exists(scored) for scored in scored_files):
            self.verify(path, "score")
        check_score(score, path, runs, self.set, self.context.manifest.division, self.rules, self.findings)

    def check_reference_convergence(self, runs: list[tuple[str, SignedTrainingRunResult]]) -> None:
        assert self.rules is not None
        if self.context.manifest.division != "closed":
            return
        record = self.rules.calibration[self.set.scale]
        if record.status != "calibrated":
            self.findings.warning("convergence.uncalibrated", self.directory,
                                  f"the {self.set.scale} target is not calibrated ({record.device}): no "
                                  "reference convergence check is possible")
            return
        batches = sorted({result.global_batch_size for _, result in runs})
        if batches != [record.global_batch_size]:
            self.findings.warning("convergence.untested", self.directory,
                                  f"the runs trained at global batch {', '.join(map(str, batches))} but the "
                                  f"{self.set.scale} calibration at {record.global_batch_size}: epochs to the "
                                  "target are compared only at the batch the reference ran")
            return
        epochs = [result.quality.epochs if derived_convergence(result, self.rules) else None for _, result in runs]
        test = reference_convergence(record.epochs_to_target, epochs)
        if test is None:
            self.findings.warning("convergence.untested", self.directory,
                                  "too few converged runs here or in the calibration record to test")
        elif test.too_fast:
            self.error("convergence.reference", self.directory,
                       f"converges implausibly faster than the reference: {test.describe()}")
