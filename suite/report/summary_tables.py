"""The summary as text: the cells every human-readable table shows (Markdown here, HTML in
`html_report`), and the CSV, whose numbers parse back exactly, for whoever compares further.
Training sets and inference rows (one per set and LoadGen scenario) have a table each."""

from __future__ import annotations

import csv
import html
import io
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from accelbench.report.inference_summary import ScenarioRow
    from accelbench.report.summarize import SetSummary, Summary
    from accelbench.report.summary_plots import ReportImage, ReportImages

SCALING_POINTER = "see `accelbench scaling`"
NO_POWER_TRACES = "no power traces in these results"
NO_SCORED_SETS = "No set is scored (fixed epochs only): compare them with `accelbench scaling`."
TARGET_SIGNS = {"at_most": "≤", "at_least": "≥"}
ENERGY_UNITS = ((1e6, "MJ"), (1e3, "kJ"), (1.0, "J"))
HEADER = (
    "submitter", "system", "platform (device)", "accelerators", "workload", "scale", "division",
    "runs (converged)", "time to train", "95% CI of the mean", "end quality (median)",
    "energy to train", "samples/s (median)",
)
METHOD = (
    "Time to train: the signed score's olympic mean (fastest and slowest run dropped; a "
    "non-converged run counts as the slowest). 95% CI: Student t over the kept runs, n/a below "
    "two. End quality: median over the runs of the metric each ended at. Energy to train: the "
    "olympic mean over the same kept runs, only when every one was measured. Samples/s: median "
    "over the runs. Fixed-epoch (weak-scaling) sets have no score: their time per epoch is "
    "shown instead; compare them with `accelbench scaling`."
)
CSV_COLUMNS = (
    "submitter", "division", "system", "platform", "device", "accelerators", "workload", "scale",
    "mode", "runs", "converged", "dropped_runs", "valid", "verdict", "time_to_train_s",
    "ci95_low_s", "ci95_high_s", "time_per_epoch_s", "metric", "direction", "target",
    "end_metric_median", "energy_to_train_j", "energy_note", "samples_per_s_median",
)
INFERENCE_HEADER = (
    "submitter", "system", "platform (device)", "workload", "scale", "batch size", "precision", "scenario",
    "result", "samples/s", "latency at the percentile", "p50", "p99", "queries", "energy per query", "accuracy",
)
INFERENCE_METHOD = (
    "Inference: one row per set and LoadGen scenario, as LoadGen reported each run (a set of several runs "
    "shows the median over them, and all their queries). VALID: LoadGen found the scenario VALID in every "
    "run and every run passed the accuracy gate. Latencies are per sample, per query for MultiStream (a "
    "query waits for its slowest sample); Offline's run is one query, so its latencies span the whole run. "
    "Energy per query: over the LoadGen run, only when every run was measured. Accuracy: the median over "
    "the runs against the gate, a fraction of the fp32 reference's quality."
)
INFERENCE_CSV_COLUMNS = (
    "submitter", "division", "system", "platform", "device", "accelerators", "workload", "scale",
    "batch_size", "precision", "scenario", "runs", "valid", "invalid_reasons", "samples_per_s_median",
    "latency_percentile", "latency_ms_median", "p50_ms_median", "p99_ms_median", "queries",
    "joules_per_query_median", "energy_note", "accuracy_metric", "accuracy_achieved_median",
    "accuracy_target", "accuracy_passed",
)


def seconds(value: float) -> str:
    return f"{value:,.1f} s"


def joules(value: float) -> str:
    """Energy with the prefix that keeps 1 to 3 digits before the point: 512 J, 12.3 kJ."""
    scale, unit = next(((s, u) for s, u in ENERGY_UNITS if abs(value) >= s), ENERGY_UNITS[-1])
    return f"{value / scale:.3g} {unit}"


def rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def milliseconds(value: float) -> str:
    return f"{value:,.0f} ms" if value >= 100 else f"{value:.3g} ms"


def time_cell(s: SetSummary) -> str:
    if s.verdict is None:
        per_epoch = "n/a" if s.time_per_epoch_s is None else seconds(s.time_per_epoch_s)
        return f"fixed epochs: {per_epoch} per epoch; {SCALING_POINTER}"
    if s.verdict.valid and s.verdict.score_s is not None:
        return seconds(s.verdict.score_s)
    mean = "" if s.verdict.score_s is None else f" (mean {seconds(s.verdict.score_s)})"
    return f"not valid: {s.verdict.reason}{mean}"


def interval_cell(s: SetSummary) -> str:
    interval = s.confidence_interval_s
    if interval is not None:
        low, high = interval
        return f"{low:,.1f} – {high:,.1f} s"
    if s.verdict is None:
        return "n/a (not scored)"
    if s.kept_times_s is None:
        return "n/a (a kept run did not converge)"
    return f"n/a ({len(s.kept)} kept run{'s' if len(s.kept) != 1 else ''})"


def quality_cell(s: SetSummary) -> str:
    target = f"target {TARGET_SIGNS[s.direction]} {s.target:g}"
    end = s.end_metric
    if end is None:
        return f"{s.metric} n/a, every run diverged ({target})"
    diverged = sum(run.achieved is None for run in s.runs)
    note = f", {diverged} diverged" if diverged else ""
    return f"{s.metric} {end:.4g} ({target}{note})"


def energy_cell(s: SetSummary) -> str:
    energy = s.energy
    return energy.note if energy.joules is None else f"{joules(energy.joules)} ({energy.note})"


def runs_cell(s: SetSummary) -> str:
    if s.verdict is None:
        return f"{len(s.runs)} (fixed epochs)"
    return f"{len(s.runs)} ({s.converged} converged)"


def no_energy_note(summary: Summary) -> str:
    """Why no set has an energy to train, each reason once."""
    notes = dict.fromkeys(s.energy.note for s in summary.sets)
    return "No energy to train in these results: " + "; ".join(notes)


def display_cells(s: SetSummary) -> tuple[str, ...]:
    """One row of the human-readable table, in the order of HEADER."""
    return (
        s.submitter, s.system, f"{s.platform} ({s.device})", str(s.world_size), s.workload,
        s.scale, s.division, runs_cell(s), time_cell(s), interval_cell(s), quality_cell(s),
        energy_cell(s), rate(s.samples_per_s),
    )


def result_cell(row: ScenarioRow) -> str:
    return "VALID" if row.valid else "INVALID: " + "; ".join(row.invalid_reasons)


def queries_cell(row: ScenarioRow) -> str:
    runs = len(row.set.runs)
    return f"{row.queries:,}" + (f" over {runs} runs" if runs > 1 else "")


def energy_per_query_cell(row: ScenarioRow) -> str:
    energy = row.energy_per_query
    return energy.note if energy.joules is None else f"{joules(energy.joules)} ({energy.note})"


def accuracy_cell(row: ScenarioRow) -> str:
    gate = row.set.accuracy
    achieved = "n/a" if gate.achieved is None else f"{gate.achieved:.4g}"
    failed = row.set.failed_accuracy_runs
    if not failed:
        outcome = "passed"
    elif failed == len(row.set.runs):
        outcome = "FAILED"
    else:
        outcome = f"FAILED in {failed} of {len(row.set.runs)} runs"
    return f"{gate.metric} {achieved} vs gate {gate.target:g}: {outcome}"


def inference_cells(row: ScenarioRow) -> tuple[str, ...]:
    """One row of the human-readable inference table, in the order of INFERENCE_HEADER."""
    s = row.set
    return (
        s.submitter, s.system, f"{s.platform} ({s.device})", s.workload, s.scale, str(s.batch_size),
        s.precision, row.scenario, result_cell(row), rate(row.samples_per_s),
        f"{milliseconds(row.latency_ms)} ({row.percentile_name})", milliseconds(row.p50_ms),
        milliseconds(row.p99_ms), queries_cell(row), energy_per_query_cell(row), accuracy_cell(row),
    )


def _markdown_text(text: str) -> str:
    """Text that stays one cell and shows as written: Markdown passes HTML through."""
    escaped = html.escape(" ".join(text.split()), quote=False)
    return re.sub(r"([|\[\]])", r"\\\1", escaped)


def _markdown_image(image: ReportImage) -> str:
    return f"![{_markdown_text(image.title)}]({image.file})"


def _markdown_rows(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(_markdown_text, cells)) + " |" for cells in rows]
    return "\n".join(lines) + "\n"


def training_table(summary: Summary) -> str:
    return _markdown_rows(HEADER, [display_cells(s) for s in summary.sets])


def inference_table(summary: Summary) -> str:
    return _markdown_rows(INFERENCE_HEADER, [inference_cells(row) for row in summary.inference_rows])


def markdown_table(summary: Summary) -> str:
    """The training sets' table, then the inference rows' table, each where there are any."""
    tables = [training_table(summary)] if summary.sets else []
    if summary.inference:
        tables.append(inference_table(summary))
    return "\n".join(tables)


def _training_sections(summary: Summary, images: ReportImages) -> list[str]:
    lines = ["", training_table(summary), METHOD, "", "## Time to train", ""]
    if images.time_to_train is None:
        lines.append(NO_SCORED_SETS)
    else:
        lines.append(_markdown_image(images.time_to_train))
    lines += ["", "## Energy to train", ""]
    if images.energy_to_train is None:
        lines.append(_markdown_text(no_energy_note(summary)))
    else:
        lines.append(_markdown_image(images.energy_to_train))
    lines += ["", "## Power profiles", ""]
    lines += [_markdown_image(image) for image in images.power] or [NO_POWER_TRACES]
    lines += ["", "## Convergence", ""]
    for s, image in zip(summary.sets, images.convergence):
        lines += [f"### {_markdown_text(s.label)}", "", _markdown_image(image), ""]
    return lines


def render_markdown(summary: Summary, images: ReportImages) -> str:
    lines = [
        "# accelbench summary",
        "",
        (f"{len(summary.sets) + len(summary.inference) + len(summary.sampling)} result set(s) from {len(summary.submissions)} "
         "submission(s); every run file and score verified (signature, layout, schema, log hash):"),
        "",
    ]
    lines += [
        f"- {_markdown_text(info.path)}: {_markdown_text(info.submitter)}, {info.division} "
        f"division, rules {_markdown_text(info.rules_version)}, manifest signed by key "
        f"{info.key_id} ({_markdown_text(info.created_at)})"
        for info in summary.submissions
    ]
    if summary.sets:
        lines += _training_sections(summary, images)
    if summary.inference:
        lines += ["", "## Inference", "", inference_table(summary), INFERENCE_METHOD, "",
                  "### Latency distributions", ""]
        for image in images.latency_cdfs:
            lines += [_markdown_image(image), ""]
        lines += ["### Latency against batch size", ""]
        for image in images.latency_vs_batch:
            lines += [_markdown_image(image), ""]
    return "\n".join(lines)


def _csv_cell(value: object) -> str:
    """Text that parses back to the same value: repr of floats, empty for None."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value) if isinstance(value, float) else str(value)


def render_csv(summary: Summary) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in summary.sets:
        interval = s.confidence_interval_s or (None, None)
        verdict = s.verdict
        energy = s.energy
        writer.writerow(_csv_cell(value) for value in (
            s.submitter, s.division, s.system, s.platform, s.device, s.world_size, s.workload,
            s.scale, s.mode, len(s.runs), s.converged,
            ";".join(run.file for run in s.runs if run.dropped),
            None if verdict is None else verdict.valid,
            None if verdict is None else verdict.reason,
            None if verdict is None else verdict.score_s,
            *interval, s.time_per_epoch_s, s.metric, s.direction, s.target, s.end_metric,
            energy.joules, energy.note, s.samples_per_s,
        ))
    return buffer.getvalue()


def render_inference_csv(summary: Summary) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(INFERENCE_CSV_COLUMNS)
    for row in summary.inference_rows:
        s, gate, energy = row.set, row.set.accuracy, row.energy_per_query
        writer.writerow(_csv_cell(value) for value in (
            s.submitter, s.division, s.system, s.platform, s.device, s.world_size, s.workload, s.scale,
            s.batch_size, s.precision, row.scenario, len(s.runs), row.valid, "; ".join(row.invalid_reasons),
            row.samples_per_s, row.latency_percentile, row.latency_ms, row.p50_ms, row.p99_ms, row.queries,
            energy.joules, energy.note, gate.metric, gate.achieved, gate.target, gate.passed,
        ))
    return buffer.getvalue()
