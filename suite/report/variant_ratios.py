"""`accelbench summarize`'s variant comparison: what one workload's change costs or gains against the
workload its rules compare it with (`compare_with`, e.g. efficientnet_b0_g16 against efficientnet_b0),
on the same system, scale and division.

The seed's question ("GPU throughput drops with the modified version") is a ratio per system, so
each pair gives the variant/baseline ratio of training samples/s and of time to target, and of
Offline samples/s and SingleStream latency, each beside both sets' 95% intervals: a Student-t
interval of the mean over the runs for throughput and time, and for a percentile latency the
distribution-free interval of that quantile from the trace's order statistics. A ratio whose two
intervals overlap is not a measured difference, and the table says so.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from matplotlib.figure import Figure
from scipy import stats

from accelbench.report.figures import ReportImage, png
from accelbench.report.inference_summary import InferenceSetSummary, ScenarioResult
from accelbench.report.summarize import CONFIDENCE, SetSummary, Summary, confidence_interval
from accelbench.rules.loader import available_workloads, load_rules

Interval = tuple[float, float] | None


@dataclass(frozen=True)
class Measure:
    """One number of one set, with its 95% interval where one can be given."""

    value: float
    interval: Interval


@dataclass(frozen=True)
class RatioRow:
    """variant / baseline for one quantity on one system."""

    system: str
    scale: str
    quantity: str  # e.g. "training samples/s"
    variant: str
    baseline: str
    variant_measure: Measure
    baseline_measure: Measure

    @property
    def ratio(self) -> float:
        return self.variant_measure.value / self.baseline_measure.value

    @property
    def distinct(self) -> bool | None:
        """Whether the two intervals are apart; None where either has none."""
        a, b = self.variant_measure.interval, self.baseline_measure.interval
        if a is None or b is None:
            return None
        return a[1] < b[0] or b[1] < a[0]


def comparisons() -> dict[str, str]:
    """variant workload -> the workload its rules compare it with."""
    pairs = {}
    for workload in available_workloads():
        baseline = load_rules(workload).compare_with
        if baseline is not None:
            pairs[workload] = baseline
    return pairs


def quantile_interval(sorted_values: Sequence[float], quantile: float, level: float = CONFIDENCE) -> Interval:
    """The order statistics that bracket the `quantile` of the population with probability >= `level`
    (binomial, no assumption on the distribution); None when the sample is too small to give one."""
    n = len(sorted_values)
    if n < 2:
        return None
    low = int(stats.binom.ppf((1 - level) / 2, n, quantile))  # ranks counted from 1
    high = int(stats.binom.ppf((1 + level) / 2, n, quantile)) + 1
    if low < 1 or high > n:
        return None
    return float(sorted_values[low - 1]), float(sorted_values[high - 1])


def _mean_measure(values: Sequence[float]) -> Measure:
    return Measure(statistics.fmean(values), confidence_interval(values))


def training_measures(s: SetSummary) -> dict[str, Measure]:
    """Training samples/s over every run; time to target as the olympic score (the mean of the runs it
    keeps) with the interval over every converged run (three runs keep one, which has none)."""
    measures = {"training samples/s": _mean_measure([run.samples_per_s for run in s.runs])}
    kept = s.kept_times_s
    if kept is not None:
        converged = [run.time_to_train_s for run in s.runs if run.converged]
        measures["time to target [s]"] = Measure(statistics.fmean(kept), confidence_interval(converged))
    return measures


def _scenario(s: InferenceSetSummary, name: str) -> list[ScenarioResult]:
    return [result for run in s.runs for result in run.scenarios if result.scenario == name]


def inference_measures(s: InferenceSetSummary) -> dict[str, Measure]:
    """Offline samples/s (over runs) and SingleStream's latency at its percentile (from the trace)."""
    measures = {}
    offline = _scenario(s, "Offline")
    if offline:
        measures["Offline samples/s"] = _mean_measure([r.samples_per_s for r in offline])
    single = _scenario(s, "SingleStream")
    if single:
        first = single[0]
        label = f"SingleStream p{round(first.latency_percentile * 100)} latency [ms]"
        if len(single) == 1:
            latencies_ms = [ns / 1e6 for ns in first.trace_latencies_ns]
            measures[label] = Measure(first.latency_ns / 1e6,
                                      quantile_interval(latencies_ms, first.latency_percentile))
        else:
            measures[label] = _mean_measure([r.latency_ns / 1e6 for r in single])
    return measures


def _key(s: SetSummary | InferenceSetSummary) -> tuple[str, str, str, str]:
    return s.submitter, s.system, s.scale, s.division


def ratio_rows(summary: Summary, pairs: dict[str, str] | None = None) -> tuple[RatioRow, ...]:
    """Every variant/baseline pair of sets the summary holds, quantity by quantity."""
    pairs = comparisons() if pairs is None else pairs
    rows: list[RatioRow] = []
    groups: Sequence[tuple[Sequence, Callable]] = ((summary.sets, training_measures),
                                                    (summary.inference, inference_measures))
    for sets, measures_of in groups:
        scored = [s for s in sets if getattr(s, "mode", "to_target") == "to_target"]
        by_key = {(s.workload, *_key(s)): s for s in scored}
        for s in scored:
            baseline = by_key.get((pairs.get(s.workload), *_key(s)))
            if baseline is None:
                continue
            ours, theirs = measures_of(s), measures_of(baseline)
            rows += [RatioRow(s.system, s.scale, quantity, s.workload, baseline.workload, ours[quantity],
                              theirs[quantity]) for quantity in ours if quantity in theirs]
    return tuple(rows)


def _interval_text(measure: Measure) -> str:
    if measure.interval is None:
        return "n/a"
    low, high = measure.interval
    return f"{low:.4g} to {high:.4g}"


def _verdict(row: RatioRow) -> str:
    return {True: "yes", False: "no: intervals overlap", None: "n/a"}[row.distinct]


COLUMNS = ("system", "scale", "quantity", "variant / baseline", "ratio", "variant (95% CI)", "baseline (95% CI)",
           "distinct")


def cells(row: RatioRow) -> tuple[str, ...]:
    return (row.system, row.scale, row.quantity, f"{row.variant} / {row.baseline}", f"{row.ratio:.3f}",
            f"{row.variant_measure.value:.4g} ({_interval_text(row.variant_measure)})",
            f"{row.baseline_measure.value:.4g} ({_interval_text(row.baseline_measure)})", _verdict(row))


METHOD = (f"Ratio = variant / baseline on the same system, scale and division. Intervals are {CONFIDENCE:.0%}: "
          "Student-t over the runs (samples/s over all runs; time to target is the olympic score, its interval over "
          "every converged run); "
          "a single run's percentile latency has the distribution-free interval of that quantile from its "
          "trace. 'distinct' says whether the two intervals are apart.")


def render_markdown(rows: Sequence[RatioRow], image: ReportImage | None) -> str:
    if not rows:
        return ""
    lines = ["## Variant ratios", "", METHOD, "", "| " + " | ".join(COLUMNS) + " |",
             "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in cells(row)) + " |" for row in rows]
    if image is not None:
        lines += ["", f"![{image.title}]({image.file})"]
    return "\n".join(lines) + "\n"


def ratio_figure(rows: Sequence[RatioRow]) -> Figure:
    """One horizontal bar per ratio, with the ratio's range from the two intervals' ends as a whisker."""
    figure = Figure(figsize=(8, 0.5 * len(rows) + 1.5))
    axes = figure.subplots()
    labels = [f"{r.system} {r.scale}: {r.quantity}" for r in rows]
    ratios = [r.ratio for r in rows]
    low, high = [], []
    for r in rows:
        a, b = r.variant_measure.interval, r.baseline_measure.interval
        if a is None or b is None or b[0] <= 0 or b[1] <= 0:
            low.append(0.0)
            high.append(0.0)
        else:
            low.append(r.ratio - a[0] / b[1])
            high.append(a[1] / b[0] - r.ratio)
    axes.barh(range(len(rows)), ratios, xerr=[low, high], color="tab:blue", capsize=3)
    axes.axvline(1.0, color="black", linewidth=0.8)
    axes.set_yticks(range(len(rows)), labels)
    axes.invert_yaxis()
    axes.set_xlabel("variant / baseline")
    axes.set_title(" · ".join(dict.fromkeys(f"{r.variant} / {r.baseline}" for r in rows)))
    figure.tight_layout()
    return figure


def ratio_image(rows: Sequence[RatioRow]) -> ReportImage | None:
    if not rows or not all(math.isfinite(r.ratio) for r in rows):
        return None
    return ReportImage("variant_ratios.png", "Variant / baseline ratios", png(ratio_figure(rows)))
