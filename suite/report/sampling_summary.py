"""Sampling sets in `accelbench summarize`: one diagnostics table per set, a row per run.

A sampling run's record is its draws (beside the run file, pinned by hash) and the diagnostics the
harness took after each block of them. A row shows what the signed result states: the draws each
chain kept against the budget, R-hat and bulk and tail ESS at the end, the held-out predictive score
against its target, the time to target, the effective samples per second and per joule, and each
chain's acceptance and adapted step size; the set adds its olympic score when it has one. The
figures (`sampling_plots`) are drawn from the draws themselves, which need no dataset. The tables
are built here rather than in `summary_tables`, since a set has a table of its own; they use the
same cells and escaping as the other tables. The arithmetic works on small dataclasses, so it is
tested without files.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from accelbench.report.summary_html import escaped, figure_html, table_html
from accelbench.report.summary_tables import (
    TARGET_SIGNS,
    _csv_cell,
    _markdown_image,
    _markdown_rows,
    _markdown_text,
    joules,
    rate,
    seconds,
)
from accelbench.results.draws import Draws
from accelbench.results.models import DiagnosticsPoint, SignedSamplingRunResult
from accelbench.rules.loader import load_rules
from accelbench.rules.schema import SCALES, Direction

if TYPE_CHECKING:
    from accelbench.report.figures import ReportImage
    from accelbench.report.sampling_plots import SamplingSetImages
    from accelbench.report.summarize import Verdict

NOT_SCORED = "not scored: the set has no score.json"
HEADER = (
    "run", "seed", "converged", "draws per chain / budget", "R-hat", "ESS bulk", "ESS tail", "predictive vs target",
    "time to target", "ESS/s", "s per effective sample", "J per effective sample", "acceptance per chain",
    "step size per chain",
)
METHOD = (
    "Sampling: one table per set, a row per run, as its signed result states it. R-hat (rank-normalised, "
    "split) and bulk and tail ESS are the worst over the diagnosed summaries (the rules' [sampling] summaries), "
    "over every kept draw, as the harness computed them with ArviZ; the predictive score is over every kept draw "
    "too. Time to target: the timed burn-in and blocks of draws until the bounds and the target held; a run "
    "that did not converge shows where it stopped. ESS/s, s and J per effective sample: the bulk ESS over the "
    "timed run. The olympic score ranks the runs' times to target as a training set's does. The trace and rank "
    "plots are drawn from the draws file: the log posterior and the first and last parameters, chain by chain; "
    "the rank plot is ArviZ's (ranks over all chains, one histogram per chain, flat where the chains agree)."
)
CSV_COLUMNS = (
    "submitter", "division", "system", "platform", "device", "accelerators", "workload", "scale", "chains",
    "leapfrog_steps", "run", "seed", "dropped", "converged", "stop_reason", "draws_per_chain",
    "max_draws_per_chain", "rhat", "ess_bulk", "ess_tail", "metric", "direction", "target", "achieved",
    "time_to_target_s", "ess_per_s", "s_per_effective_sample", "j_per_effective_sample", "energy_note",
    "acceptance", "step_size", "score_s", "score_valid", "score_reason",
)


@dataclass(frozen=True)
class Bound:
    """One of the rules' diagnostic bounds at the set's scale, e.g. rhat at most 1.05."""

    metric: str
    direction: Direction
    value: float

    def __str__(self) -> str:
        return f"{self.metric} {TARGET_SIGNS[self.direction]} {self.value:g}"


@dataclass(frozen=True, eq=False)  # eq=False: the traces are arrays
class SamplingRunSummary:
    """What one run contributes to its set's table and figures."""

    file: str  # run_N.json
    seed: int
    dropped: bool  # dropped by the olympic score as the fastest or the slowest
    converged: bool
    stop_reason: str
    draws_per_chain: int
    max_draws_per_chain: int
    rhat: float | None  # None: too few draws, or a stuck chain
    ess_bulk: float | None
    ess_tail: float | None
    achieved: float | None  # the predictive score over every kept draw
    time_to_target_s: float  # where it stopped, when it did not converge
    ess_per_s: float | None
    s_per_effective_sample: float | None
    j_per_effective_sample: float | None  # None: not measured
    acceptance: tuple[float, ...]  # per chain, over the kept draws
    step_size: tuple[float, ...]  # per chain, as adapted in the burn-in
    curve: tuple[DiagnosticsPoint, ...]
    traces: Mapping[str, np.ndarray]  # name -> (chains, draws): what the trace and rank plots draw

    @property
    def name(self) -> str:
        return self.file.removesuffix(".json")


@dataclass(frozen=True, eq=False)
class SamplingSetSummary:
    """One sampling set of one submission: its runs share the system, workload, scale and sampler."""

    submitter: str
    division: str
    system: str
    platform: str
    device: str
    world_size: int
    workload: str
    scale: str
    chains: int
    leapfrog_steps: int
    metric: str  # e.g. "val predictive_log_likelihood"
    direction: Direction
    target: float
    bounds: tuple[Bound, ...]
    energy_note: str  # the meters, or why there is no energy
    verdict: Verdict | None  # None: the set has no score
    runs: tuple[SamplingRunSummary, ...]

    @property
    def label(self) -> str:
        return f"{self.submitter} · {self.system}: {self.workload} {self.scale}"

    @property
    def converged(self) -> int:
        return sum(run.converged for run in self.runs)

    def bound(self, metric: str) -> Bound | None:
        return next((bound for bound in self.bounds if bound.metric == metric), None)


def set_order(sets: Sequence[SamplingSetSummary]) -> tuple[SamplingSetSummary, ...]:
    """Sets of one workload and scale side by side; submission order within them."""
    return tuple(sorted(sets, key=lambda s: (s.workload, SCALES.index(s.scale))))


# --- from signed results -------------------------------------------------------------------------


def chain_traces(draws: Draws) -> dict[str, np.ndarray]:
    """The log posterior and the first and last parameters, per chain and draw, by the name a figure
    shows (for mcmc_alpha the first weight into the hidden layer and the output bias b3): what the
    draws hold, so the figures need no dataset."""
    last = draws.states.shape[2] - 1
    return {"log posterior (lp)": draws.target_log_prob, "theta[0], the first parameter": draws.states[:, :, 0],
            f"theta[{last}], the last parameter": draws.states[:, :, last]}


def run_summary(file: str, result: SignedSamplingRunResult, draws: Draws, dropped: bool) -> SamplingRunSummary:
    quality, measured, rates = result.quality, result.quality.measurements, result.efficiency
    return SamplingRunSummary(
        file=file, seed=result.seed, dropped=dropped, converged=quality.converged, stop_reason=quality.stop_reason,
        draws_per_chain=result.draws.draws_per_chain, max_draws_per_chain=quality.max_draws_per_chain,
        rhat=measured.get("rhat"), ess_bulk=measured.get("ess_bulk"), ess_tail=measured.get("ess_tail"),
        achieved=quality.achieved, time_to_target_s=result.timing.time_to_train_s, ess_per_s=rates.ess_per_s,
        s_per_effective_sample=rates.s_per_effective_sample, j_per_effective_sample=rates.j_per_effective_sample,
        acceptance=tuple(result.sampler.acceptance), step_size=tuple(result.sampler.step_size),
        curve=tuple(quality.curve), traces=chain_traces(draws),
    )


def _energy_note(results: Sequence[SignedSamplingRunResult]) -> str:
    notes = [(r.energy.meter or "unnamed meter") if r.energy.available else
             f"not measured: {r.energy.reason or 'no reason recorded'}" for r in results]
    return "; ".join(dict.fromkeys(notes))


def set_summary(
    submitter: str, runs: Sequence[tuple[str, SignedSamplingRunResult, Draws]], verdict: Verdict | None,
    dropped: set[str],
) -> SamplingSetSummary:
    """The set of (file name, verified result, its draws) runs, with its score's verdict and the runs
    that score dropped; the bounds are the rules' at the set's scale, as the harness judged them."""
    first = runs[0][1]
    rules = load_rules(first.workload, first.rules_version)
    quality = first.quality
    return SamplingSetSummary(
        submitter=submitter, division=first.division, system=first.system.name, platform=first.system.platform,
        device=first.system.device, world_size=first.system.world_size, workload=first.workload,
        scale=first.scale, chains=first.sampler.chains, leapfrog_steps=first.sampler.leapfrog_steps,
        metric=f"{quality.split} {quality.metric}", direction=quality.direction, target=quality.target,
        bounds=tuple(Bound(b.metric, b.direction, b.value[first.scale]) for b in rules.quality.bounds),
        energy_note=_energy_note([result for _, result, _ in runs]), verdict=verdict,
        runs=tuple(run_summary(file, result, draws, file in dropped) for file, result, draws in runs),
    )


# --- the cells -----------------------------------------------------------------------------------


def _number(value: float | None, shown: Callable[[float], str]) -> str:
    return "n/a" if value is None else shown(value)


def rhat_cell(value: float | None) -> str:
    return _number(value, lambda v: f"{v:.4f}")


def ess_cell(value: float | None) -> str:
    return _number(value, rate)


def score_cell(s: SamplingSetSummary) -> str:
    verdict = s.verdict
    if verdict is None:
        return NOT_SCORED
    if verdict.valid and verdict.score_s is not None:
        return seconds(verdict.score_s)
    mean = "" if verdict.score_s is None else f" (mean {seconds(verdict.score_s)})"
    return f"not valid: {verdict.reason}{mean}"


def header(s: SamplingSetSummary) -> tuple[str, ...]:
    """HEADER, its predictive column named by the set's metric."""
    predictive = f"{s.metric.replace('_', ' ')} vs target"
    return tuple(predictive if name == "predictive vs target" else name for name in HEADER)


def run_cells(s: SamplingSetSummary, run: SamplingRunSummary) -> tuple[str, ...]:
    """One row of a set's human-readable table, in the order of HEADER."""
    target = f"target {TARGET_SIGNS[s.direction]} {s.target:g}"
    time = seconds(run.time_to_target_s)
    return (
        run.name + (" (dropped)" if run.dropped else ""), str(run.seed), "yes" if run.converged else "no",
        f"{run.draws_per_chain} / {run.max_draws_per_chain}", rhat_cell(run.rhat), ess_cell(run.ess_bulk),
        ess_cell(run.ess_tail), f"{_number(run.achieved, lambda v: f'{v:.4f}')} ({target})",
        time if run.converged else f"not reached (stopped at {time})", _number(run.ess_per_s, rate),
        _number(run.s_per_effective_sample, lambda v: f"{v:.3g} s"), _number(run.j_per_effective_sample, joules),
        ", ".join(f"{a:.2f}" for a in run.acceptance), ", ".join(f"{x:.3g}" for x in run.step_size),
    )


def set_notes(s: SamplingSetSummary) -> str:
    """What the table's rows share: the sampler, the score, the bounds, the energy."""
    bounds = ", ".join(map(str, s.bounds)) or "none"
    return (f"{len(s.runs)} runs ({s.converged} converged), {s.chains} chains × {s.leapfrog_steps} leapfrog steps "
            f"on {s.world_size} × {s.device}. Olympic score (time to target): {score_cell(s)}. Bounds at "
            f"{s.scale}: {bounds}; target {s.metric} {TARGET_SIGNS[s.direction]} {s.target:g}. "
            f"Energy: {s.energy_note}.")


# --- Markdown, HTML and CSV ----------------------------------------------------------------------


def _figures(images: SamplingSetImages) -> list[ReportImage]:
    """The set's diagnostics, then each run's trace and rank plots."""
    return [images.diagnostics, *(image for pair in zip(images.traces, images.ranks) for image in pair)]


def render_markdown(sets: Sequence[SamplingSetSummary], images: Sequence[SamplingSetImages]) -> str:
    """The sampling section of summary.md."""
    lines = ["## Sampling", "", METHOD, ""]
    for s, set_images in zip(sets, images):
        lines += [f"### {_markdown_text(s.label)}", "", _markdown_text(set_notes(s)), "",
                  _markdown_rows(header(s), [run_cells(s, run) for run in s.runs])]
        lines += [line for image in _figures(set_images) for line in (_markdown_image(image), "")]
    return "\n".join(lines)


def sampling_tables(sets: Sequence[SamplingSetSummary]) -> str:
    """Each sampling set's table, for the console."""
    return "\n".join(f"{_markdown_text(s.label)}\n\n{_markdown_rows(header(s), [run_cells(s, run) for run in s.runs])}\n"
                     for s in sets)


def with_sampling_markdown(text: str, sets: Sequence[SamplingSetSummary], images: Sequence[SamplingSetImages]) -> str:
    """`summary_tables`' summary.md with the sampling section at its end."""
    return text.rstrip("\n") + "\n\n" + render_markdown(sets, images) if sets else text


def render_html(sets: Sequence[SamplingSetSummary], images: Sequence[SamplingSetImages]) -> str:
    """The sampling section of summary.html."""
    parts = ["<h2>Sampling</h2>", f'<p class="note">{escaped(METHOD)}</p>']
    for s, set_images in zip(sets, images):
        parts += [f"<h3>{escaped(s.label)}</h3>", f"<p>{escaped(set_notes(s))}</p>",
                  table_html(header(s), [run_cells(s, run) for run in s.runs]), *map(figure_html, _figures(set_images))]
    return "\n".join(parts) + "\n"


def with_sampling_html(page: str, sets: Sequence[SamplingSetSummary], images: Sequence[SamplingSetImages]) -> str:
    """`summary_html`'s summary.html with the sampling section at its end, inside the body."""
    end = "</body></html>\n"
    return page.removesuffix(end) + render_html(sets, images) + end if sets else page


def render_csv(sets: Sequence[SamplingSetSummary]) -> str:
    """summary_sampling.csv: a row per run; numbers as repr, so they parse back exactly."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in sets:
        verdict = s.verdict
        for run in s.runs:
            writer.writerow(_csv_cell(value) for value in (
                s.submitter, s.division, s.system, s.platform, s.device, s.world_size, s.workload, s.scale,
                s.chains, s.leapfrog_steps, run.file, run.seed, run.dropped, run.converged, run.stop_reason,
                run.draws_per_chain, run.max_draws_per_chain, run.rhat, run.ess_bulk, run.ess_tail, s.metric,
                s.direction, s.target, run.achieved, run.time_to_target_s, run.ess_per_s,
                run.s_per_effective_sample, run.j_per_effective_sample, s.energy_note,
                ";".join(map(repr, run.acceptance)), ";".join(map(repr, run.step_size)),
                None if verdict is None else verdict.score_s, None if verdict is None else verdict.valid,
                None if verdict is None else verdict.reason,
            ))
    return buffer.getvalue()
