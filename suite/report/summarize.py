"""`accelbench summarize`: one table across systems from verified submission trees.

MLPerf's result summarizer gives one row per system and benchmark with the olympic mean. This
one also says how far that mean can be trusted (a 95% Student-t interval over the kept runs),
what quality the runs ended at, the energy over the same kept runs, and the throughput, and
draws every run. Inference sets (LoadGen runs, no score) get rows of their own, one per
scenario (`inference_summary`); sampling sets a diagnostics table each, with figures drawn from
their draws (`sampling_summary`, `sampling_plots`). Every run file and score is read through
`verify_file`, every manifest through its signature; whatever does not verify is refused in one
line. The arithmetic works on small dataclasses, so it is tested without files.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from scipy import stats

from accelbench.errors import UserError
from accelbench.judging.loadgen_logs import LogError, judged_latencies_ns, parse_trace
from accelbench.judging.verdict import meets_target
from accelbench.report import sampling_summary
from accelbench.report.inference_summary import (
    InferenceSetSummary,
    ScenarioRow,
    scenario_rows,
    set_summary,
    trace_log,
)
from accelbench.report.sampling_plots import sampling_images
from accelbench.report.sampling_summary import SamplingSetSummary
from accelbench.report.summary_html import render_html
from accelbench.report.summary_plots import report_images
from accelbench.report.summary_tables import SCALING_POINTER, render_csv, render_inference_csv, render_markdown
from accelbench.results import layout
from accelbench.results.draws import Draws, read_draws
from accelbench.results.files import write_outputs
from accelbench.results.models import (
    AnySignedRun,
    CurvePoint,
    SignedBenchmarkScore,
    SignedInferenceRunResult,
    SignedSamplingRunResult,
    SignedTrainingRunResult,
)
from accelbench.rules.loader import describe_validation_error
from accelbench.rules.schema import SCALES, Direction
from accelbench.submission.layout import MANIFEST, ResultSet, SignedSubmissionManifest
from accelbench.trust.signing import verify_document

CONFIDENCE = 0.95
VALIDATE_FIX = "run `accelbench validate` on it"
PowerTrace = tuple[tuple[float, float], ...]  # (seconds since the run started, watts)


# --- the numbers of one set ----------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """What one run contributes to the table and the plots."""

    file: str  # run_N.json, as the score names it
    seed: int
    converged: bool
    dropped: bool  # dropped by the olympic score as the fastest or the slowest
    time_to_train_s: float
    achieved: float | None  # None: the run diverged
    curve: tuple[CurvePoint, ...]
    epoch_s: tuple[float, ...]
    samples_per_s: float
    energy_j: float | None  # None: not measured
    energy_note: str  # the meter, or why there is no energy
    power_trace: PowerTrace = ()  # the run's energy trace; empty when no meter ran

    @property
    def mean_epoch_s(self) -> float | None:
        return statistics.fmean(self.epoch_s) if self.epoch_s else None


@dataclass(frozen=True)
class Verdict:
    """The signed score of a to-target set, as its score.json states it."""

    score_s: float | None
    valid: bool
    reason: str


@dataclass(frozen=True)
class EnergyToTrain:
    joules: float | None
    note: str  # the meters when measured, else "not measured: <reason>" or why there is none


@dataclass(frozen=True)
class SetSummary:
    """One result set of one submission: one row of the table."""

    submitter: str
    division: str
    system: str
    platform: str
    device: str
    world_size: int
    workload: str
    scale: str
    mode: str  # to_target (scored) or fixed_epochs (weak scaling, no score)
    metric: str  # e.g. "val mse"
    direction: Direction
    target: float
    runs: tuple[RunSummary, ...]
    verdict: Verdict | None  # None for fixed-epoch sets

    @property
    def label(self) -> str:
        return f"{self.submitter} · {self.system}: {self.workload} {self.scale}"

    @property
    def converged(self) -> int:
        return sum(run.converged for run in self.runs)

    @property
    def kept(self) -> tuple[RunSummary, ...]:
        return tuple(run for run in self.runs if not run.dropped)

    @property
    def kept_times_s(self) -> list[float] | None:
        """The times the olympic mean averages; None when a kept run did not converge."""
        if self.verdict is None or not all(run.converged for run in self.kept):
            return None
        return [run.time_to_train_s for run in self.kept]

    @property
    def confidence_interval_s(self) -> tuple[float, float] | None:
        times = self.kept_times_s
        return None if times is None else confidence_interval(times)

    @property
    def end_metric(self) -> float | None:
        """Median over the runs of the metric each ended at; diverged runs have none."""
        ends = [run.achieved for run in self.runs if run.achieved is not None]
        return statistics.median(ends) if ends else None

    @property
    def samples_per_s(self) -> float:
        return statistics.median(run.samples_per_s for run in self.runs)

    @property
    def time_per_epoch_s(self) -> float | None:
        """Median over the runs of each run's mean epoch time (training + evaluation)."""
        means = [run.mean_epoch_s for run in self.runs if run.mean_epoch_s is not None]
        return statistics.median(means) if means else None

    @property
    def energy(self) -> EnergyToTrain:
        return energy_to_train(self)

    @property
    def has_power_traces(self) -> bool:
        return any(run.power_trace for run in self.runs)

    def converging_point(self, run: RunSummary) -> CurvePoint | None:
        """The first evaluation of `run` that met the target, if the run converged."""
        if not run.converged:
            return None
        met = (p for p in run.curve if meets_target(p.value, self.target, self.direction))
        return next(met, None)


def confidence_interval(
    values: Sequence[float], level: float = CONFIDENCE
) -> tuple[float, float] | None:
    """Student-t interval of the mean of `values`; None below two values, where it is undefined."""
    count = len(values)
    if count < 2:
        return None
    mean = statistics.fmean(values)
    t_quantile = float(stats.t.ppf((1 + level) / 2, count - 1))
    half_width = t_quantile * statistics.stdev(values) / math.sqrt(count)
    return mean - half_width, mean + half_width


def _distinct(notes: Sequence[str]) -> str:
    return "; ".join(dict.fromkeys(notes))


def energy_to_train(summary: SetSummary) -> EnergyToTrain:
    """Olympic mean of the energy over the runs the time score keeps, as MLPerf Power does,
    and only when every one of them was measured: a mean over fewer runs would not match."""
    verdict = summary.verdict
    if verdict is None:
        return EnergyToTrain(None, f"fixed epochs, no time to train: {SCALING_POINTER}")
    if summary.kept_times_s is None:
        return EnergyToTrain(None, f"not valid: {verdict.reason}")
    unmeasured = [run.energy_note for run in summary.kept if run.energy_j is None]
    if unmeasured:
        return EnergyToTrain(None, f"not measured: {_distinct(unmeasured)}")
    joules = statistics.fmean(run.energy_j for run in summary.kept)  # type: ignore[misc]
    return EnergyToTrain(joules, _distinct([run.energy_note for run in summary.kept]))


# --- a whole summary -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubmissionInfo:
    """Where a submission came from and who vouches for its manifest."""

    path: str
    submitter: str
    division: str
    rules_version: str
    created_at: str
    key_id: str


@dataclass(frozen=True)
class Summary:
    submissions: tuple[SubmissionInfo, ...]
    sets: tuple[SetSummary, ...]  # training sets
    inference: tuple[InferenceSetSummary, ...] = ()
    sampling: tuple[SamplingSetSummary, ...] = ()

    @property
    def inference_rows(self) -> tuple[ScenarioRow, ...]:
        return scenario_rows(self.inference)


def table_order(sets: Sequence[SetSummary]) -> tuple[SetSummary, ...]:
    """Sets of one workload and scale side by side; submission order within them."""
    return tuple(sorted(sets, key=lambda s: (s.workload, SCALES.index(s.scale), s.mode)))


# --- reading verified submission trees -----------------------------------------------------------

def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def refusal(path: Path, reason: object) -> UserError:
    """The one-line error for a file that does not verify: name, fix, then what failed."""
    return UserError(
        f"{path} does not verify, so it is not summarized: {VALIDATE_FIX} ({_one_line(reason)})"
    )


def read_manifest(tree: Path, trusted_key_ids: Collection[str] | None) -> SignedSubmissionManifest:
    """The submission's manifest, after checking its signature and its schema."""
    path = tree / MANIFEST
    if not tree.is_dir() or not path.is_file():
        raise UserError(
            f"{tree}: no {MANIFEST} there: pass submission directories written by `accelbench package`"
        )
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as err:
        raise refusal(path, f"unreadable JSON: {err}") from None
    if not isinstance(doc, dict):
        raise refusal(path, f"a JSON {type(doc).__name__}, not an object")
    try:
        verify_document(doc, trusted_key_ids)
        return SignedSubmissionManifest.model_validate(doc)
    except UserError as err:
        raise refusal(path, err) from None
    except ValidationError as err:
        raise refusal(path, describe_validation_error(err)) from None


def read_verified_score(path: Path, trusted_key_ids: Collection[str] | None) -> SignedBenchmarkScore:
    """A score after `verify_file` (signature, layout, schema, the hashes of the runs it scores)."""
    try:
        return layout.read_verified(path, SignedBenchmarkScore, trusted_key_ids)[0]
    except UserError as err:
        raise refusal(path, err) from None


def read_verified_run(path: Path, trusted_key_ids: Collection[str] | None) -> AnySignedRun:
    """A run file of either kind after `verify_file` (its event log's or LoadGen logs' hashes too)."""
    try:
        return layout.read_verified_run(path, trusted_key_ids)[0]
    except UserError as err:
        raise refusal(path, err) from None


def run_summary(file: str, result: SignedTrainingRunResult, dropped: bool) -> RunSummary:
    energy = result.energy
    if energy.available and energy.joules is not None:
        joules, note = energy.joules, energy.meter or "unnamed meter"
    else:
        joules, note = None, energy.reason or "no reason recorded"
    return RunSummary(
        file=file,
        seed=result.seed,
        converged=result.quality.converged,
        dropped=dropped,
        time_to_train_s=result.timing.time_to_train_s,
        achieved=result.quality.achieved,
        curve=tuple(result.quality.curve),
        epoch_s=tuple(result.timing.epoch_s),
        samples_per_s=result.throughput.samples_per_s,
        energy_j=joules,
        energy_note=note,
        power_trace=tuple((float(t), float(w)) for t, w in energy.trace),
    )


def traced_latencies_ns(run_path: Path, result: SignedInferenceRunResult) -> dict[str, tuple[int, ...]]:
    """Each scenario's judged latencies from LoadGen's trace, read from bytes that match the
    hash the verified run records (so a trace swapped after `verify_file` is caught too)."""
    latencies = {}
    for run in result.inference.scenarios:
        trace = trace_log(run)
        if trace is None:
            raise refusal(run_path, f"its {run.scenario} run records no LoadGen trace")
        path = run_path.parent / trace.file
        try:
            data = path.read_bytes()
        except OSError as err:
            raise refusal(path, f"unreadable ({err.strerror})") from None
        if hashlib.sha256(data).hexdigest() != trace.sha256:
            raise refusal(path, f"it no longer matches the sha256 recorded in {run_path}")
        try:
            samples = parse_trace(data.decode("utf-8"))
        except (UnicodeDecodeError, LogError) as err:
            raise refusal(path, f"not a LoadGen trace: {err}") from None
        latencies[run.scenario] = judged_latencies_ns(run.scenario, samples)
    return latencies


def read_inference_set(
    tree: Path, manifest: SignedSubmissionManifest, result_set: ResultSet,
    runs: Sequence[SignedInferenceRunResult],
) -> InferenceSetSummary:
    """One inference set's verified runs and their traces, reduced to its rows."""
    manifest_path = tree / MANIFEST
    if result_set.score is not None:
        raise refusal(manifest_path, f"result set {result_set.directory} holds inference runs but a score")
    configurations = {(run.inference.batch_size, run.hyperparameters.get("precision")) for run in runs}
    if len(configurations) != 1:
        raise refusal(manifest_path, f"the runs of result set {result_set.directory} differ in batch size "
                      "or precision: package one configuration per set")
    paths = [tree / run for run in result_set.runs]
    return set_summary(manifest.submitter, [
        (path.name, run, traced_latencies_ns(path, run)) for path, run in zip(paths, runs)
    ])


def read_set_score(
    tree: Path, result_set: ResultSet, trusted_key_ids: Collection[str] | None
) -> tuple[Verdict | None, set[str]]:
    """The set's verified score and the runs it dropped, after checking it scores exactly the
    runs the manifest lists; (None, no runs) for a set without a score."""
    if result_set.score is None:
        return None, set()
    names = [Path(run).name for run in result_set.runs]
    score_path = tree / result_set.score
    score = read_verified_score(score_path, trusted_key_ids)
    scored = sorted(run.file for run in score.runs)
    if scored != sorted(names):
        raise refusal(score_path, f"it scores {', '.join(scored)} but the manifest lists "
                      f"{', '.join(names)}")
    return Verdict(score.score_s, score.valid, score.reason), set(score.dropped)


def verified_draws(run_path: Path, result: SignedSamplingRunResult) -> Draws:
    """A sampling run's draws, read from a file that matches the hash the verified run records
    (so draws swapped after `verify_file` are caught too)."""
    path = run_path.parent / result.draws.file
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as err:
        raise refusal(path, f"unreadable ({err.strerror})") from None
    if digest != result.draws.sha256:
        raise refusal(path, f"it no longer matches the sha256 recorded in {run_path}")
    try:
        return read_draws(path)
    except UserError as err:
        raise refusal(path, err) from None


def read_sampling_set(
    tree: Path, manifest: SignedSubmissionManifest, result_set: ResultSet,
    runs: Sequence[SignedSamplingRunResult], trusted_key_ids: Collection[str] | None,
) -> SamplingSetSummary:
    """One sampling set's verified runs, their draws and its score, if it has one."""
    verdict, dropped = read_set_score(tree, result_set, trusted_key_ids)
    paths = [tree / run for run in result_set.runs]
    return sampling_summary.set_summary(manifest.submitter, [
        (path.name, run, verified_draws(path, run)) for path, run in zip(paths, runs)
    ], verdict, dropped)


def read_result_set(
    tree: Path, manifest: SignedSubmissionManifest, result_set: ResultSet,
    trusted_key_ids: Collection[str] | None,
) -> SetSummary | InferenceSetSummary | SamplingSetSummary:
    """One set's verified runs and score, reduced to its row (or, for inference, its rows; for
    sampling, its table)."""
    manifest_path = tree / MANIFEST
    if not result_set.runs:
        raise refusal(manifest_path, f"result set {result_set.directory} lists no runs")
    signed = [read_verified_run(tree / run, trusted_key_ids) for run in result_set.runs]
    inference = [run for run in signed if isinstance(run, SignedInferenceRunResult)]
    sampling = [run for run in signed if isinstance(run, SignedSamplingRunResult)]
    runs = [run for run in signed if isinstance(run, SignedTrainingRunResult)]
    if len({run.kind for run in signed}) > 1:
        raise refusal(manifest_path, f"result set {result_set.directory} mixes training, inference or sampling runs")
    if inference:
        return read_inference_set(tree, manifest, result_set, inference)
    if sampling:
        return read_sampling_set(tree, manifest, result_set, sampling, trusted_key_ids)
    names = [Path(run).name for run in result_set.runs]
    first = runs[0]
    if (result_set.score is None) != (first.mode == "fixed_epochs"):
        raise refusal(manifest_path, f"result set {result_set.directory} holds {first.mode} runs "
                      f"but {'no' if result_set.score is None else 'a'} score")
    verdict, dropped = read_set_score(tree, result_set, trusted_key_ids)
    return SetSummary(
        submitter=manifest.submitter,
        division=first.division,
        system=first.system.name,
        platform=first.system.platform,
        device=first.system.device,
        world_size=first.system.world_size,
        workload=first.workload,
        scale=first.scale,
        mode=first.mode,
        metric=f"{first.quality.split} {first.quality.metric}",
        direction=first.quality.direction,
        target=first.quality.target,
        runs=tuple(run_summary(name, run, name in dropped) for name, run in zip(names, runs)),
        verdict=verdict,
    )


def load_summary(trees: Sequence[Path], trusted_key_ids: Collection[str] | None = None) -> Summary:
    """Verify every listed file of every submission tree and reduce each result set to a row."""
    if not trees:
        raise UserError("no submissions given: pass submission directories written by `accelbench package`")
    submissions, sets, inference, sampling = [], [], [], []
    for tree in trees:
        manifest = read_manifest(tree, trusted_key_ids)
        submissions.append(SubmissionInfo(
            path=str(tree), submitter=manifest.submitter, division=manifest.division,
            rules_version=manifest.rules_version, created_at=manifest.created_at,
            key_id=manifest.signature.key_id,
        ))
        for result_set in manifest.result_sets:
            read = read_result_set(tree, manifest, result_set, trusted_key_ids)
            if isinstance(read, InferenceSetSummary):
                inference.append(read)
            elif isinstance(read, SamplingSetSummary):
                sampling.append(read)
            else:
                sets.append(read)
    if not sets and not inference and not sampling:
        raise UserError(f"{', '.join(map(str, trees))}: no result sets listed: nothing to summarize")
    return Summary(tuple(submissions), table_order(sets), tuple(inference), sampling_summary.set_order(sampling))


# --- the files -----------------------------------------------------------------------------------


def write_summary(summary: Summary, out_dir: Path) -> list[Path]:
    """Write summary.md, summary.html, the PNGs and a CSV per kind of set there is (summary.csv for
    training, summary_inference.csv for inference, summary_sampling.csv for sampling) into
    `out_dir`; return their paths."""
    from accelbench.report import variant_ratios  # it reads this module's set summaries

    images = report_images(summary)
    sampling = sampling_images(summary.sampling)
    ratios = variant_ratios.ratio_rows(summary)
    ratio_image = variant_ratios.ratio_image(ratios)
    outputs = {out_dir / image.file: image.png for image in (*images.all, *(i for s in sampling for i in s.all))}
    if ratio_image is not None:
        outputs[out_dir / ratio_image.file] = ratio_image.png
    markdown = sampling_summary.with_sampling_markdown(render_markdown(summary, images), summary.sampling, sampling)
    ratio_section = variant_ratios.render_markdown(ratios, ratio_image)
    outputs[out_dir / "summary.md"] = (markdown.rstrip("\n") + "\n\n" + ratio_section if ratio_section
                                       else markdown).encode("utf-8")
    if summary.sets:
        outputs[out_dir / "summary.csv"] = render_csv(summary).encode("utf-8")
    if summary.inference:
        outputs[out_dir / "summary_inference.csv"] = render_inference_csv(summary).encode("utf-8")
    if summary.sampling:
        outputs[out_dir / "summary_sampling.csv"] = sampling_summary.render_csv(summary.sampling).encode("utf-8")
    outputs[out_dir / "summary.html"] = sampling_summary.with_sampling_html(
        render_html(summary, images), summary.sampling, sampling).encode("utf-8")
    return write_outputs(outputs, out_dir, "summary")
