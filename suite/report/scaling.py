"""The weak-scaling report (`accelbench scaling`): the seed's PMBS22 views from result files.

The seed judged a system by how the end validation loss, the time per epoch and the energy
per epoch change as accelerators are added with the local batch held constant. Here verified
run_N.json files become one point per (platform, device, N) — best and median over the runs
there, as the seed took the best over its learning-rate scan — written as CSV, Markdown and a
PNG. Loading is separate from the arithmetic, so the arithmetic is tested without files.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from accelbench.errors import UserError
from accelbench.report.scaling_plots import render_png
from accelbench.results.files import write_outputs
from accelbench.results.layout import find_run_files, read_verified
from accelbench.results.models import SignedTrainingRunResult
from accelbench.rules.schema import Direction

JOULES_PER_WH = 3600.0
PLATFORM_NAMES = {"a100": "A100", "ipu": "IPU", "cpu": "CPU"}


@dataclass(frozen=True)
class ScalingRun:
    """The numbers one verified run contributes to its point."""

    platform: str
    device: str
    world_size: int
    learning_rate: float | None
    end_metric: float | None  # None: the run diverged
    epochs: int
    mean_epoch_s: float | None  # None: no epoch finished
    samples_per_s: float
    energy_j: float | None  # None unless measured and epochs > 0
    energy_note: str  # the meter, or why there is no energy


@dataclass(frozen=True)
class ScalingPoint:
    """All runs of one system at one accelerator count N, reduced to the seed's numbers."""

    platform: str
    device: str
    world_size: int
    runs: int
    diverged: int
    best_metric: float | None
    median_metric: float | None
    learning_rates: tuple[float, ...]
    epochs: tuple[int, ...]
    epoch_s: float | None
    samples_per_s: float
    energy_per_epoch_j: float | None
    energy_note: str  # the meters, or why no run of the point has energy
    ideal_epoch_s: float | None = None  # t_ref * N_ref / N, from the smallest N of the system
    ideal_samples_per_s: float | None = None  # s_ref * N / N_ref
    efficiency: float | None = None  # ideal_epoch_s / epoch_s = t_ref N_ref / (N t_N)

    @property
    def energy_per_epoch_wh(self) -> float | None:
        if self.energy_per_epoch_j is None:
            return None
        return self.energy_per_epoch_j / JOULES_PER_WH

    @property
    def energy_source(self) -> str:
        """The meter, or "not measured: <reason>" when there is no energy to show."""
        measured = self.energy_per_epoch_j is not None
        return self.energy_note if measured else f"not measured: {self.energy_note}"


@dataclass(frozen=True)
class Series:
    """One system (platform and device) across N: one line in every plot."""

    platform: str
    device: str
    label: str
    points: tuple[ScalingPoint, ...]


@dataclass(frozen=True)
class ScalingReport:
    """The points of one workload, scale and mode, and where their runs came from."""

    workload: str
    scale: str
    mode: str
    metric: str  # e.g. "val mse"
    sources: tuple[str, ...]
    key_ids: tuple[str, ...]
    points: tuple[ScalingPoint, ...]

    @property
    def runs(self) -> int:
        return sum(point.runs for point in self.points)

    @property
    def epochs(self) -> str:
        """The epoch counts of all runs: "6", or "151-241" when they differ."""
        counts = sorted({e for point in self.points for e in point.epochs})
        if not counts:
            return "0"
        return str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"

    @property
    def series(self) -> tuple[Series, ...]:
        return group_series(self.points)


# --- the arithmetic -----------------------------------------------------------------------------


def _best(values: Sequence[float], direction: Direction) -> float:
    return min(values) if direction == "at_most" else max(values)


def _energy_note(runs: Sequence[ScalingRun], measured: Sequence[ScalingRun]) -> str:
    """The meters that measured, or else the reasons that none did."""
    if not measured:
        return "; ".join(dict.fromkeys(r.energy_note for r in runs))
    meters = "; ".join(dict.fromkeys(r.energy_note for r in measured))
    return meters if len(measured) == len(runs) else f"{meters} ({len(measured)} of {len(runs)} runs)"


def make_point(runs: Sequence[ScalingRun], direction: Direction = "at_most") -> ScalingPoint:
    """Reduce the runs of one (platform, device, N); efficiency and ideals come from `aggregate`."""
    first = runs[0]
    ends = [r.end_metric for r in runs if r.end_metric is not None]
    times = [r.mean_epoch_s for r in runs if r.mean_epoch_s is not None]
    measured = [r for r in runs if r.energy_j is not None]
    per_epoch_j = [r.energy_j / r.epochs for r in runs if r.energy_j is not None]
    return ScalingPoint(
        platform=first.platform,
        device=first.device,
        world_size=first.world_size,
        runs=len(runs),
        diverged=len(runs) - len(ends),
        best_metric=_best(ends, direction) if ends else None,
        median_metric=statistics.median(ends) if ends else None,
        learning_rates=tuple(sorted({r.learning_rate for r in runs if r.learning_rate is not None})),
        epochs=tuple(sorted({r.epochs for r in runs})),
        epoch_s=statistics.median(times) if times else None,
        samples_per_s=statistics.median(r.samples_per_s for r in runs),
        energy_per_epoch_j=statistics.median(per_epoch_j) if per_epoch_j else None,
        energy_note=_energy_note(runs, measured),
    )


def group_series(points: Sequence[ScalingPoint]) -> tuple[Series, ...]:
    """Points grouped by system, each in order of N; the device joins the label only when one
    platform ran on several devices."""
    systems = sorted({(p.platform, p.device) for p in points})
    platforms = [platform for platform, _ in systems]
    series = []
    for platform, device in systems:
        name = PLATFORM_NAMES.get(platform, platform)
        label = f"{name} ({device})" if platforms.count(platform) > 1 else name
        members = sorted(
            (p for p in points if (p.platform, p.device) == (platform, device)),
            key=lambda p: p.world_size,
        )
        series.append(Series(platform, device, label, tuple(members)))
    return tuple(series)


def _with_ideals(points: Sequence[ScalingPoint]) -> list[ScalingPoint]:
    """Ideal weak scaling against the smallest N of the system: time t_ref N_ref / N,
    throughput s_ref N / N_ref, and the parallel efficiency t_ref N_ref / (N t_N)."""
    timed = [p for p in points if p.epoch_s is not None]
    time_ref = timed[0] if timed else None
    rate_ref = points[0]
    updated = []
    for point in points:
        ideal_s = efficiency = None
        if time_ref is not None:
            ideal_s = time_ref.epoch_s * time_ref.world_size / point.world_size  # type: ignore[operator]
            efficiency = ideal_s / point.epoch_s if point.epoch_s else None
        ideal_rate = rate_ref.samples_per_s * point.world_size / rate_ref.world_size
        updated.append(replace(
            point, ideal_epoch_s=ideal_s, ideal_samples_per_s=ideal_rate, efficiency=efficiency
        ))
    return updated


def aggregate(runs: Sequence[ScalingRun], direction: Direction = "at_most") -> tuple[ScalingPoint, ...]:
    """One point per (platform, device, N), ordered by system then N, with ideals filled in."""
    groups: dict[tuple[str, str, int], list[ScalingRun]] = {}
    for run in runs:
        groups.setdefault((run.platform, run.device, run.world_size), []).append(run)
    points = [make_point(groups[key], direction) for key in sorted(groups)]
    return tuple(p for s in group_series(points) for p in _with_ideals(s.points))


# --- reading verified run files -------------------------------------------------------------------


def _refuse_mixed_sets(files: Sequence[Path], results: Sequence[SignedTrainingRunResult]) -> None:
    for field in ("workload", "scale", "mode"):
        first = getattr(results[0], field)
        for path, result in zip(files, results):
            other = getattr(result, field)
            if other != first:
                raise UserError(
                    f"{files[0]} ({field} {first}) and {path} ({field} {other}) differ in {field}: "
                    "report one workload, scale and mode at a time"
                )


def _learning_rate(result: SignedTrainingRunResult) -> float | None:
    value = result.hyperparameters.get("learning_rate")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def scaling_run(result: SignedTrainingRunResult) -> ScalingRun:
    """The numbers of one run that the report needs."""
    epoch_s = result.timing.epoch_s
    energy = result.energy
    if not energy.available or energy.joules is None:
        joules, note = None, energy.reason or "no reason recorded"
    elif result.quality.epochs == 0:
        joules, note = None, "no epoch finished, so no energy per epoch"
    else:
        joules, note = energy.joules, energy.meter or "unnamed meter"
    return ScalingRun(
        platform=result.system.platform,
        device=result.system.device,
        world_size=result.system.world_size,
        learning_rate=_learning_rate(result),
        end_metric=result.quality.achieved,
        epochs=result.quality.epochs,
        mean_epoch_s=statistics.fmean(epoch_s) if epoch_s else None,
        samples_per_s=result.throughput.samples_per_s,
        energy_j=joules,
        energy_note=note,
    )


def load_report(paths: Sequence[Path], trusted_key_ids: Collection[str] | None = None) -> ScalingReport:
    """Verify every run file under `paths` and reduce them to a report; one-line UserError if
    a file fails verification or the files mix workloads, scales or modes."""
    files = find_run_files(paths)
    read = [read_verified(path, SignedTrainingRunResult, trusted_key_ids) for path in files]
    results = [result for result, _ in read]
    _refuse_mixed_sets(files, results)
    first = results[0]
    return ScalingReport(
        workload=first.workload,
        scale=first.scale,
        mode=first.mode,
        metric=f"{first.quality.split} {first.quality.metric}",
        sources=tuple(str(path) for path in paths),
        key_ids=tuple(sorted({verified.key_id for _, verified in read})),
        points=aggregate([scaling_run(r) for r in results], first.quality.direction),
    )


# --- tables and files -------------------------------------------------------------------------------

CSV_COLUMNS = (
    "workload", "scale", "mode", "metric", "platform", "device", "world_size", "runs", "diverged",
    "learning_rates", "epochs", "end_metric_best", "end_metric_median", "time_per_epoch_s",
    "ideal_time_per_epoch_s", "parallel_efficiency", "samples_per_s", "ideal_samples_per_s",
    "energy_per_epoch_j", "energy_per_epoch_wh", "energy_source",
)


def _cell(value: object) -> str:
    """CSV text that parses back to the same number: repr of floats, empty for None."""
    if value is None:
        return ""
    if isinstance(value, tuple):
        return ";".join(_cell(v) for v in value)
    return repr(value) if isinstance(value, float) else str(value)


def render_csv(report: ScalingReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for p in report.points:
        writer.writerow(_cell(v) for v in (
            report.workload, report.scale, report.mode, report.metric, p.platform, p.device,
            p.world_size, p.runs, p.diverged, p.learning_rates, p.epochs, p.best_metric,
            p.median_metric, p.epoch_s, p.ideal_epoch_s, p.efficiency, p.samples_per_s,
            p.ideal_samples_per_s, p.energy_per_epoch_j, p.energy_per_epoch_wh, p.energy_source,
        ))
    return buffer.getvalue()


def _number(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _markdown_text(text: str) -> str:
    return text.replace("|", "\\|")


def _markdown_row(label: str, p: ScalingPoint) -> str:
    runs = f"{p.runs}" + (f" ({p.diverged} diverged)" if p.diverged else "")
    rates = ", ".join(f"{lr:g}" for lr in p.learning_rates) or "n/a"
    efficiency = _number(None if p.efficiency is None else 100 * p.efficiency, ".0f")
    energy = p.energy_source if p.energy_per_epoch_wh is None else (
        f"{p.energy_per_epoch_wh:.3g} ({p.energy_source})"
    )
    cells = (
        label, p.device, str(p.world_size), runs, rates, ", ".join(map(str, p.epochs)),
        _number(p.best_metric, ".4g"), _number(p.median_metric, ".4g"), _number(p.epoch_s, ".3g"),
        _number(p.ideal_epoch_s, ".3g"), efficiency, _number(p.samples_per_s, ",.0f"), energy,
    )
    return "| " + " | ".join(_markdown_text(c) for c in cells) + " |"


def render_markdown(report: ScalingReport) -> str:
    metric = report.metric
    header = (
        "system", "device", "N", "runs", "learning rates", "epochs", f"best end {metric}",
        f"median end {metric}", "time/epoch [s]", "ideal t1/N [s]", "efficiency [%]",
        "samples/s", "energy/epoch [Wh] (meter)",
    )
    signers = ("key " if len(report.key_ids) == 1 else "keys ") + ", ".join(report.key_ids)
    lines = [
        f"# Weak scaling: {report.workload}, {report.scale} scale, {report.epochs} epochs ({report.mode})",
        "",
        f"{report.runs} verified runs (run_N.json) from {', '.join(report.sources)}; "
        f"signed by {signers}.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * 3 + "---:|" * (len(header) - 3),
    ]
    lines += [_markdown_row(s.label, p) for s in report.series for p in s.points]
    lines += [
        "",
        f"N = processes = accelerators, local batch constant. End {metric}: best and median over "
        "the runs at each N (the seed reported the best over its learning-rate scan). "
        "Time/epoch: median over runs of each run's mean epoch time (training + evaluation). "
        "Efficiency: t1 N1 / (N tN) against the smallest N of the same system.",
    ]
    return "\n".join(lines) + "\n"


def write_report(report: ScalingReport, out_dir: Path) -> list[Path]:
    """Write scaling.csv, scaling.md and scaling.png into `out_dir`; return their paths."""
    outputs = {
        out_dir / "scaling.csv": render_csv(report).encode("utf-8"),
        out_dir / "scaling.md": render_markdown(report).encode("utf-8"),
        out_dir / "scaling.png": render_png(report),
    }
    return write_outputs(outputs, out_dir, "report")
