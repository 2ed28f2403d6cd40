"""The store's reports as Markdown tables: a history with its steps, a comparison, what is stored."""

from __future__ import annotations

import statistics

from accelbench.history.comparison import MetricComparison
from accelbench.history.queries import StoredSet
from accelbench.history.series import Series
from accelbench.history.steps import Step


def _cells(row: tuple[object, ...]) -> str:
    return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in row) + " |"


def markdown(header: tuple[str, ...], rows: list[tuple[object, ...]]) -> str:
    lines = [_cells(header), "|" + "---|" * len(header), *(_cells(row) for row in rows)]
    return "\n".join(lines) + "\n"


def number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def step_line(series: Series, step: Step) -> str:
    worse = step.worse(series.higher_is_better)
    judged = {True: "worse", False: "better", None: "changed"}[worse]
    point = series.points[step.index]
    return (f"step at {point.label}: {series.metric} {number(step.before)} -> {number(step.after)} "
            f"({step.ratio:.3f}x, {judged})")


def history_table(series: Series, steps: list[Step]) -> str:
    marks = {step.index: f"{step.ratio:.3f}x" for step in steps}
    rows = [(point.label, point.first_run_at.strftime("%Y-%m-%d %H:%M"), len(point.values), number(point.median),
             number(point.low), number(point.high), marks.get(index, ""))
            for index, point in enumerate(series.points)]
    header = (series.axis, "first run (UTC)", "runs", f"median {series.metric}", "min", "max", "step")
    found = "\n".join(step_line(series, step) for step in steps) or "no step detected"
    return f"{series.key}: {series.metric}\n\n{markdown(header, rows)}\n{found}\n"


def comparison_table(comparisons: list[MetricComparison]) -> str:
    rows = []
    for c in comparisons:
        interval = "n/a" if c.low is None else f"{c.low:.3f} .. {c.high:.3f}"
        rows.append((c.key, c.metric, f"{number(statistics.median(c.base))} ({len(c.base)})",
                     f"{number(statistics.median(c.new))} ({len(c.new)})", f"{c.ratio:.3f}", interval,
                     number(c.p_value), c.verdict))
    header = ("set", "metric", "base median (n)", "new median (n)", "new / base", "95% CI", "p (Mann-Whitney)",
              "verdict")
    return markdown(header, rows)


def stored_table(sets: list[StoredSet]) -> str:
    rows = [(s.key.system, s.key.workload, s.key.scale, s.key.division, s.runs, s.commits,
             s.first.strftime("%Y-%m-%d"), s.last.strftime("%Y-%m-%d")) for s in sets]
    return markdown(("system", "workload", "scale", "division", "records", "commits", "first", "last"), rows)
