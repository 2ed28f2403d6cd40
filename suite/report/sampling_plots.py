"""The sampling sets' figures, as PNG bytes. Per run, from its draws file: the trace of the log
posterior and of the first and last parameters, chain by chain (do the chains mix, and do they sit
in one region?), and their rank plots, as ArviZ draws them (the draws ranked over all chains, one
histogram per chain: flat when every chain samples the same distribution, skewed or humped when
one is stuck or offset). Per set, from the signed diagnostics: R-hat and bulk and tail ESS against
draws per chain, as the harness checked them after each block, with the rules' bounds (tail ESS
too: a run whose R-hat and bulk ESS hold can still wait on it).

Drawn with matplotlib on Agg canvases without pyplot, as `summary_plots` draws, rather than with
arviz-plots: its 0.8 release draws through pyplot, does not import under matplotlib 3.11
(arviz-devs/arviz-plots#500), and its `plot_rank` is a rank Δ-ECDF, not the histogram. The ranks
are scipy's `rankdata` over all chains, ties averaged, as ArviZ's rank plot computes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import stats

from accelbench.report.figures import DPI, RUN_COLORS, ReportImage, literal, png, safe_name
from accelbench.report.summary_tables import seconds

if TYPE_CHECKING:
    from accelbench.report.sampling_summary import SamplingRunSummary, SamplingSetSummary

DROPPED_LINE = {"linestyle": "--", "alpha": 0.6}
CURVES = (("rhat", "R-hat"), ("ess_bulk", "bulk ESS"), ("ess_tail", "tail ESS"))  # DiagnosticsPoint fields


@dataclass(frozen=True)
class SamplingSetImages:
    """One sampling set's figures, in the order the report shows them."""

    diagnostics: ReportImage
    traces: tuple[ReportImage, ...]  # one per run, in run order
    ranks: tuple[ReportImage, ...]  # one per run, in run order

    @property
    def all(self) -> tuple[ReportImage, ...]:
        return (self.diagnostics, *self.traces, *self.ranks)


def _color(index: int) -> str:
    """A chain's colour in a run's figures, a run's in its set's."""
    return RUN_COLORS[index % len(RUN_COLORS)]


def _outcome(run: SamplingRunSummary) -> str:
    if run.converged:
        return f"converged after {run.draws_per_chain} draws per chain, {seconds(run.time_to_target_s)}"
    return f"not converged, stopped at {run.draws_per_chain} of {run.max_draws_per_chain} draws per chain"


def _title(s: SamplingSetSummary, run: SamplingRunSummary, what: str) -> str:
    return literal(f"{s.label}, {run.name} (seed {run.seed}): {what}\n{_outcome(run)}")


def _no_draws(figure: Figure, run: SamplingRunSummary) -> None:
    """A run that kept no draw (it failed in the burn-in) has nothing to trace or rank: say why."""
    ax = figure.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, literal(f"no kept draws: {run.stop_reason}"), ha="center", va="center", wrap=True)


def _chain_legend(figure: Figure, run: SamplingRunSummary) -> None:
    handles = [Line2D([], [], color=_color(chain), linewidth=2,
                      label=f"chain {chain}: acceptance {accepted:.2f}, step size {step:.3g}")
               for chain, (accepted, step) in enumerate(zip(run.acceptance, run.step_size))]
    figure.legend(handles=handles, loc="outside lower center", ncols=min(4, len(handles)) or 1, frameon=False,
                  fontsize=9)


# --- per run, from its draws ---------------------------------------------------------------------


def trace_figure(s: SamplingSetSummary, run: SamplingRunSummary) -> Figure:
    """Each traced quantity against the kept draw, one line per chain."""
    figure = Figure(figsize=(11, 1.6 + 2.3 * len(run.traces)), dpi=DPI, layout="constrained")
    if not run.draws_per_chain:
        _no_draws(figure, run)
        return figure
    axes = figure.subplots(len(run.traces), 1, sharex=True, squeeze=False)[:, 0]
    for ax, (name, values) in zip(axes, run.traces.items()):
        draws = np.arange(1, values.shape[1] + 1)
        for chain, line in enumerate(values):
            ax.plot(draws, line, color=_color(chain), linewidth=0.8, alpha=0.85)
        ax.set_title(literal(name), fontsize=10, loc="left")
        ax.grid(True, alpha=0.3)
    axes[-1].set_xlabel("kept draw, after the burn-in")
    _chain_legend(figure, run)
    figure.suptitle(_title(s, run, "trace per chain"), fontsize=11)
    return figure


def rank_bins(draws_per_chain: int) -> int:
    """ArviZ's rank plot's default bins: Sturges' formula over one chain's draws, doubled."""
    return int(np.ceil(2 * np.log2(draws_per_chain)) + 1)


def rank_histograms(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(bin edges, counts (chains, bins)) of `values` (chains, draws) ranked over all chains, then
    counted chain by chain in `rank_bins` equal bins over the ranks."""
    ranks = stats.rankdata(values, method="average", axis=None).reshape(values.shape)
    edges = np.histogram_bin_edges(ranks, bins=rank_bins(values.shape[1]), range=(0, ranks.size))
    return edges, np.stack([np.histogram(chain, bins=edges)[0] for chain in ranks])


def _rank_bars(ax: Axes, name: str, values: np.ndarray) -> None:
    """One quantity's histograms stacked per chain, each with a dashed line at its mean count: the
    height every bin has when the chain's ranks are uniform."""
    edges, counts = rank_histograms(values)
    gap = counts.max() * 1.05
    centres = (edges[1:] + edges[:-1]) / 2
    for chain, row in enumerate(counts):
        ax.bar(centres, row, width=edges[1] - edges[0], bottom=chain * gap, color=_color(chain),
               edgecolor="white", linewidth=0.5)
        ax.axhline(chain * gap + row.mean(), color="black", linestyle="--", linewidth=1.0)
    ax.set_yticks([chain * gap for chain in range(len(counts))], [f"chain {chain}" for chain in range(len(counts))])
    ax.set_xlim(0, values.size)
    ax.set(xlabel="rank over all chains", title=literal(name))


def rank_figure(s: SamplingSetSummary, run: SamplingRunSummary) -> Figure:
    """Each traced quantity's rank plot, side by side."""
    figure = Figure(figsize=(11, 1.8 + 0.9 * len(run.acceptance)), dpi=DPI, layout="constrained")
    if not run.draws_per_chain:
        _no_draws(figure, run)
        return figure
    axes = figure.subplots(1, len(run.traces), squeeze=False)[0]
    for ax, (name, values) in zip(axes, run.traces.items()):
        _rank_bars(ax, name, values)
    _chain_legend(figure, run)
    figure.suptitle(_title(s, run, f"rank plots, {rank_bins(run.draws_per_chain)} bins; dashed: uniform"),
                    fontsize=11)
    return figure


# --- per set, from the signed diagnostics --------------------------------------------------------


def diagnostics_figure(s: SamplingSetSummary) -> Figure:
    """R-hat, bulk and tail ESS after each block of every run, each run ending in a star where it
    converged or an X where it stopped without converging, and the rules' bounds dotted."""
    figure = Figure(figsize=(13, 5.2), dpi=DPI, layout="constrained")
    axes = figure.subplots(1, len(CURVES), sharex=True)
    handles = []
    for index, run in enumerate(s.runs):
        color, line = _color(index), DROPPED_LINE if run.dropped else {"linestyle": "-"}
        for ax, (field, _) in zip(axes, CURVES):
            points = [(p.draws_per_chain, getattr(p, field)) for p in run.curve if getattr(p, field) is not None]
            if not points:
                continue
            ax.plot(*zip(*points), color=color, marker="o", markersize=3.5, **line)
            ax.plot(*points[-1], marker="*" if run.converged else "X", markersize=13 if run.converged else 10,
                    color=color, markeredgecolor="black", linestyle="none", zorder=4)
        label = f"{run.name} (seed {run.seed}): {_outcome(run)}" + (" — dropped" if run.dropped else "")
        handles.append(Line2D([], [], color=color, marker="o", markersize=3.5, label=literal(label), **line))
    budget = max(run.max_draws_per_chain for run in s.runs)
    for ax, (field, name) in zip(axes, CURVES):
        bound = s.bound(field)
        if bound is not None:
            ax.axhline(bound.value, color="black", linestyle=":", linewidth=1.3)
        ax.set_xlim(0, budget * 1.03)
        ax.set(xlabel="draws per chain", ylabel=f"{name}, worst over the summaries",
               title=name + ("" if bound is None else f" (bound {bound})"))
        ax.grid(True, alpha=0.3)
    handles.append(Line2D([], [], color="black", linestyle=":", label=f"the rules' bounds at {s.scale}"))
    if s.converged:
        handles.append(Line2D([], [], color="gray", marker="*", markersize=12, markeredgecolor="black",
                              linestyle="none", label="converged there (bounds and target met)"))
    if s.converged < len(s.runs):
        handles.append(Line2D([], [], color="gray", marker="X", markersize=9, markeredgecolor="black",
                              linestyle="none", label="stopped there without converging"))
    figure.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False, fontsize=9)
    figure.suptitle(literal(f"{s.label}: diagnostics after each block of {len(s.runs)} runs ({s.converged} "
                            f"converged), {s.chains} chains"), fontsize=12)
    return figure


# --- all images of the sampling sets -------------------------------------------------------------


def set_images(index: int, s: SamplingSetSummary) -> SamplingSetImages:
    stem = safe_name(f"{index + 1:02d}_{s.system}_{s.workload}_{s.scale}")
    return SamplingSetImages(
        diagnostics=ReportImage(f"sampling_diagnostics_{stem}.png", f"Sampling diagnostics: {s.label}",
                                png(diagnostics_figure(s))),
        traces=tuple(ReportImage(safe_name(f"sampling_trace_{stem}_{run.name}.png"), f"Trace: {s.label}, {run.name}",
                                 png(trace_figure(s, run))) for run in s.runs),
        ranks=tuple(ReportImage(safe_name(f"sampling_rank_{stem}_{run.name}.png"), f"Ranks: {s.label}, {run.name}",
                                png(rank_figure(s, run))) for run in s.runs),
    )


def sampling_images(sets: Sequence[SamplingSetSummary]) -> tuple[SamplingSetImages, ...]:
    """Every sampling set's figures, in the order of `sets`."""
    return tuple(set_images(index, s) for index, s in enumerate(sets))
