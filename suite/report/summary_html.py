"""The summary as one self-contained HTML page: CSS inline, every figure a base64 data URI, no
script and no link to anything outside, so the page can be mailed, archived or opened offline
and shows the same thing. Every string that came from a file is escaped: a submitter's name
is text, never markup.
"""

from __future__ import annotations

import base64
from html import escape
from typing import TYPE_CHECKING

from accelbench.report.summary_tables import (
    HEADER,
    INFERENCE_HEADER,
    INFERENCE_METHOD,
    METHOD,
    NO_POWER_TRACES,
    NO_SCORED_SETS,
    display_cells,
    inference_cells,
    no_energy_note,
)

if TYPE_CHECKING:
    from accelbench.report.summarize import Summary
    from accelbench.report.summary_plots import ReportImage, ReportImages

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto;
       max-width: 1200px; padding: 0 1em; color: #222; line-height: 1.45; }
table { border-collapse: collapse; font-size: 0.88em; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 0.35em 0.6em; text-align: left; vertical-align: top; }
th { background: #f2f4f7; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; border: 1px solid #e4e4e4; }
figcaption, .note { color: #555; font-size: 0.9em; }
code { background: #f2f4f7; padding: 0 0.2em; }
"""


def escaped(value: object) -> str:
    return escape(str(value), quote=True)


def figure_html(image: ReportImage) -> str:
    data = base64.b64encode(image.png).decode("ascii")
    return (f'<figure><img alt="{escaped(image.title)}" src="data:image/png;base64,{data}">'
            f"<figcaption>{escaped(image.title)}</figcaption></figure>")


def table_html(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    head = "".join(f"<th>{escaped(name)}</th>" for name in header)
    body = "".join("<tr>" + "".join(f"<td>{escaped(cell)}</td>" for cell in cells) + "</tr>" for cells in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _submissions(summary: Summary) -> str:
    items = "".join(
        f"<li><code>{escaped(info.path)}</code>: {escaped(info.submitter)}, {escaped(info.division)} "
        f"division, rules {escaped(info.rules_version)}, manifest signed by key "
        f"<code>{escaped(info.key_id)}</code> ({escaped(info.created_at)})</li>"
        for info in summary.submissions
    )
    return f"<ul>{items}</ul>"


def _training_sections(summary: Summary, images: ReportImages) -> list[str]:
    parts = [
        table_html(HEADER, [display_cells(s) for s in summary.sets]),
        f'<p class="note">{escaped(METHOD)}</p>',
        "<h2>Time to train</h2>",
        figure_html(images.time_to_train) if images.time_to_train is not None else
        f'<p class="note">{escaped(NO_SCORED_SETS)}</p>',
        "<h2>Energy to train</h2>",
        figure_html(images.energy_to_train) if images.energy_to_train is not None else
        f'<p class="note">{escaped(no_energy_note(summary))}</p>',
        "<h2>Power profiles</h2>",
        "".join(map(figure_html, images.power)) or f'<p class="note">{escaped(NO_POWER_TRACES)}</p>',
        "<h2>Convergence</h2>",
    ]
    for s, image in zip(summary.sets, images.convergence):
        parts += [f"<h3>{escaped(s.label)}</h3>", figure_html(image)]
    return parts


def _inference_sections(summary: Summary, images: ReportImages) -> list[str]:
    return [
        "<h2>Inference</h2>",
        table_html(INFERENCE_HEADER, [inference_cells(row) for row in summary.inference_rows]),
        f'<p class="note">{escaped(INFERENCE_METHOD)}</p>',
        "<h3>Latency distributions</h3>",
        *map(figure_html, images.latency_cdfs),
        "<h3>Latency against batch size</h3>",
        *map(figure_html, images.latency_vs_batch),
    ]


def render_html(summary: Summary, images: ReportImages) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>accelbench summary</title>",
        f"<style>{STYLE}</style></head><body>",
        "<h1>accelbench summary</h1>",
        (f"<p>{len(summary.sets) + len(summary.inference) + len(summary.sampling)} result set(s) from {len(summary.submissions)} "
         "submission(s); every run file and score verified (signature, layout, schema, log hash):</p>"),
        _submissions(summary),
    ]
    if summary.sets:
        parts += _training_sections(summary, images)
    if summary.inference:
        parts += _inference_sections(summary, images)
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
