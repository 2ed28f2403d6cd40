"""The one-screen summary of a set of runs: a row per run, then the olympic score (none for
fixed-epoch runs, which `accelbench scaling` compares instead); for an inference set, a row per
LoadGen run; for a sampling set, a row per run with its diagnostics and effective samples."""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from accelbench.results.models import (
    AnySignedRun,
    SignedBenchmarkScore,
    SignedInferenceRunResult,
    SignedSamplingRunResult,
    SignedTrainingRunResult,
)
from accelbench.rules.loader import load_rules


def summary_table(results: Sequence[SignedTrainingRunResult], score: SignedBenchmarkScore | None) -> Table:
    first = results[0]
    title = f"{first.workload} ({first.scale}, {first.division}) on {first.system.name}"
    if first.mode == "fixed_epochs":
        title += f", {first.quality.max_epochs} fixed epochs"
    table = Table(title=title, title_justify="left")
    metric = first.quality.metric if first else "quality"
    measured = list(dict.fromkeys(  # what the rules bound besides the target, e.g. firing_rate
        bound.metric for bound in load_rules(first.workload, first.rules_version).quality.bounds
    ))
    units = list(first.throughput.units_per_s)  # e.g. timesteps
    columns = ("run", "seed", "converged", "epochs", f"val {metric}", *(m.replace("_", " ") for m in measured),
               "target", "time to train [s]", "samples/s", *(f"{unit}/s" for unit in units), "energy [J]", "init [s]")
    for column in columns:
        table.add_column(escape(column), justify="left" if column == "run" else "right")
    dropped = set(score.dropped) if score is not None else set()
    for result in results:
        name = f"run_{result.run_index}.json"
        achieved = result.quality.achieved
        table.add_row(
            f"{result.run_index}" + (" (dropped)" if name in dropped else ""),
            str(result.seed),
            "yes" if result.quality.converged else "NO",
            f"{result.quality.epochs}/{result.quality.max_epochs}",
            "n/a" if achieved is None else f"{achieved:.4f}",
            *(_shown(result.quality.measurements.get(name)) for name in measured),
            f"{result.quality.target:g}",
            f"{result.timing.time_to_train_s:.1f}",
            f"{result.throughput.samples_per_s:,.0f}",
            *(f"{result.throughput.units_per_s.get(unit, 0.0):,.0f}" for unit in units),
            "n/a" if result.energy.joules is None else f"{result.energy.joules:,.0f}",
            f"{result.timing.init_s:.2f}",
        )
    energy = first.energy
    metered = (f"energy: {energy.meter}, {energy.sampling_hz:.1f} Hz" if energy.available and energy.sampling_hz
               else f"energy: not measured ({energy.reason})")
    if score is None:
        table.caption = f"not scored (fixed epochs); compare with `accelbench scaling`; {metered}"
    else:
        verdict = "valid" if score.valid else f"NOT VALID: {score.reason}"
        value = "n/a" if score.score_s is None else f"{score.score_s:.1f} s"
        table.caption = f"olympic score: {value} ({verdict}); {metered}"
    table.caption_justify = "left"
    return table


def _shown(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def sampling_table(results: Sequence[SignedSamplingRunResult], score: SignedBenchmarkScore | None) -> Table:
    """A row for each sampling run: draws, diagnostics, predictive score, time and ESS rates."""
    first = results[0]
    table = Table(title=f"{first.workload} ({first.scale}, {first.division}) on {first.system.name}, "
                        f"{first.sampler.chains} chains x {first.sampler.leapfrog_steps} leapfrog steps",
                  title_justify="left")
    columns = ("run", "seed", "converged", "draws/chain", "R-hat", "ESS bulk", "ESS tail",
               f"val {first.quality.metric.replace('_', ' ')}", "target", "time to target [s]", "ESS/s",
               "s/ESS", "J/ESS", "init [s]")
    for column in columns:
        table.add_column(escape(column), justify="left" if column == "run" else "right")
    dropped = set(score.dropped) if score is not None else set()
    for result in results:
        quality, measured, rate = result.quality, result.quality.measurements, result.efficiency
        name = f"run_{result.run_index}.json"
        table.add_row(
            f"{result.run_index}" + (" (dropped)" if name in dropped else ""), str(result.seed),
            "yes" if quality.converged else "NO", f"{result.draws.draws_per_chain}/{quality.max_draws_per_chain}",
            _shown(measured.get("rhat")), _count(measured.get("ess_bulk")), _count(measured.get("ess_tail")),
            _shown(quality.achieved), f"{quality.target:g}", f"{result.timing.time_to_train_s:.1f}",
            _count(rate.ess_per_s, 2), _count(rate.s_per_effective_sample, 3), _count(rate.j_per_effective_sample, 3),
            f"{result.timing.init_s:.2f}",
        )
    energy = first.energy
    metered = f"energy: {energy.meter}" if energy.available else f"energy: not measured ({energy.reason})"
    if score is None:
        table.caption = f"not scored yet; {metered}"
    else:
        verdict = "valid" if score.valid else f"NOT VALID: {score.reason}"
        value = "n/a" if score.score_s is None else f"{score.score_s:.1f} s"
        table.caption = f"olympic score (time to target): {value} ({verdict}); {metered}"
    table.caption_justify = "left"
    return table


def _count(value: float | None, digits: int = 0) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def inference_table(results: Sequence[SignedInferenceRunResult]) -> Table:
    """A row for each run's accuracy run and each of its LoadGen performance runs."""
    first = results[0]
    table = Table(title=f"{first.workload} ({first.scale}, {first.division}) on {first.system.name}, "
                        f"batch {first.inference.batch_size}", title_justify="left")
    for column in ("run", "LoadGen run", "verdict", "samples/s", "latency [ms]", "queries", "energy [J/query]"):
        table.add_column(column, justify="left" if column in ("run", "LoadGen run", "verdict") else "right")
    for result in results:
        accuracy = result.inference.accuracy
        shown = "n/a" if accuracy.achieved is None else f"{accuracy.achieved:.4f}"
        table.add_row(str(result.run_index), f"accuracy ({accuracy.samples} samples)",
                      f"{accuracy.metric} {shown} vs gate {accuracy.target:.4f}: "
                      + ("passed" if accuracy.passed else "FAILED"), "", "", "", "")
        for run in result.inference.scenarios:
            table.add_row(
                "", run.scenario, "VALID" if run.valid else "INVALID: " + escape("; ".join(run.invalid_reasons)),
                f"{run.samples_per_s:,.1f}", f"p{run.latency_percentile * 100:g} {run.latency_ns / 1e6:.2f}",
                str(run.queries), "n/a" if run.joules_per_query is None else f"{run.joules_per_query:.3g}",
            )
    energy = first.energy
    table.caption = (f"LoadGen {first.inference.loadgen_version}; "
                     + (f"energy: {energy.meter}" if energy.available else f"energy: not measured ({energy.reason})"))
    table.caption_justify = "left"
    return table


def render(results: Sequence[AnySignedRun], score: SignedBenchmarkScore | None, width: int = 150) -> str:
    """The table as plain text, for terminals that rich does not drive (pytest's reporter)."""
    buffer = io.StringIO()
    inference = [r for r in results if isinstance(r, SignedInferenceRunResult)]
    sampling = [r for r in results if isinstance(r, SignedSamplingRunResult)]
    if inference:
        table = inference_table(inference)
    elif sampling:
        table = sampling_table(sampling, score)
    else:
        table = summary_table(results, score)  # type: ignore[arg-type]
    Console(file=buffer, width=width, force_terminal=False).print(table)
    return buffer.getvalue()
