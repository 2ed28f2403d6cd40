"""The pipeline's static HTML dashboard: every stored set's history, one self-contained page.

Like `asv publish`, no server: one index.html with every figure inline, so a CI job can publish
it as an artifact or a Pages site. The page leads with the last pipeline run's verdict, then per
set and gated metric (one that has a better direction) the history over commits, with its steps.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from statistics import median

from accelbench.history.comparison import MetricComparison
from accelbench.history.history_plots import history_image
from accelbench.history.queries import stored_metrics, stored_sets
from accelbench.history.series import metric_series
from accelbench.history.steps import detect_steps
from accelbench.history.store import Store
from accelbench.history.tables import number, step_line
from accelbench.report.summary_html import STYLE, escaped, figure_html, table_html
from accelbench.results.files import write_outputs

RECENT_POINTS = 10  # rows of each history's table; the figure shows them all


def _verdict_section(title: str, comparisons: Sequence[MetricComparison]) -> list[str]:
    if not comparisons:
        return [f"<h2>{escaped(title)}</h2>",
                "<p class='note'>No earlier accepted run to compare with: this run is the first baseline.</p>"]
    rows = [(str(c.key), c.metric, number(median(c.base)), number(median(c.new)),
             f"{c.ratio:.3f}", "n/a" if c.low is None else f"{c.low:.3f} .. {c.high:.3f}", number(c.p_value),
             c.verdict) for c in comparisons]
    header = ("set", "metric", "base median", "new median", "new / base", "95% CI", "p (Mann-Whitney)", "verdict")
    return [f"<h2>{escaped(title)}</h2>", table_html(header, rows)]


def _set_sections(store: Store) -> list[str]:
    parts = []
    for stored in stored_sets(store):
        parts.append(f"<h2>{escaped(stored.key)}</h2><p class='note'>{stored.runs} record(s) over "
                     f"{stored.commits} commit(s), {stored.first:%Y-%m-%d} to {stored.last:%Y-%m-%d}</p>")
        for metric in stored_metrics(store, stored.key):
            series = metric_series(store, stored.key, metric)
            if series.higher_is_better is None:
                continue
            steps = detect_steps([point.median for point in series.points])
            recent = series.points[-RECENT_POINTS:]
            rows = [(p.label, f"{p.first_run_at:%Y-%m-%d %H:%M}", str(len(p.values)), number(p.median),
                     number(p.low), number(p.high)) for p in recent]
            parts.append(f"<h3>{escaped(metric)}</h3>")
            parts.append(figure_html(history_image(series, steps)))
            parts.append("<p>" + escaped("; ".join(step_line(series, s) for s in steps) or "no step detected") + "</p>")
            parts.append(table_html(("commit", "first run (UTC)", "runs", "median", "min", "max"), rows))
    return parts


def write_dashboard(store: Store, out_dir: Path, verdict_title: str,
                    comparisons: Sequence[MetricComparison]) -> Path:
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">', "<title>accelbench history</title>",
        f"<style>{STYLE}</style></head><body>", "<h1>accelbench history</h1>",
        (f"<p class='note'>From the store {escaped(store.url)}, {made}. Every record was verified before it was "
         "stored; each point is one suite commit's runs (median, range), steps found as asv finds them.</p>"),
        *_verdict_section(verdict_title, comparisons), *_set_sections(store), "</body></html>",
    ]
    page = out_dir / "index.html"
    write_outputs({page: ("\n".join(parts) + "\n").encode()}, out_dir, "dashboard")
    page.chmod(0o644)  # a page to publish, not a private file
    return page
