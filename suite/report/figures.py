"""What every figure of the summary shares: its resolution, colours and PNG encoding, so the
training and the inference figures look alike."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

DPI = 110
RUN_COLORS = ("tab:blue", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink",
              "tab:olive", "tab:cyan", "tab:gray", "tab:red")
LOG_SCALE_FROM_RATIO = 10.0  # values spanning less than this read better on a linear axis


@dataclass(frozen=True)
class ReportImage:
    file: str  # the PNG's name in the output directory
    title: str
    png: bytes


def literal(text: str) -> str:
    """Text from a file as matplotlib shows it verbatim: a '$' would start mathtext."""
    return text.replace("$", r"\$")


def png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def safe_name(name: str) -> str:
    """A file name part made of letters, digits, '.', '_' and '-' only."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name)
