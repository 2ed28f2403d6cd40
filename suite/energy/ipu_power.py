"""The power strings Graphcore's tools print: "92.3W" (gcipuinfo), "114.7 W" (gc-monitor), "N/A".

Parsed strictly: a string in any other shape raises, because guessing at a number we do not
understand would put a wrong value into a signed result.
"""

from __future__ import annotations

import re

_WATTS = re.compile(r"(\d+(?:\.\d+)?) ?W")
NOT_AVAILABLE = "N/A"


def parse_power_w(text: str) -> float | None:
    """Watts, or None for "N/A" (the sensor is not being read)."""
    value = text.strip()
    if value == NOT_AVAILABLE:
        return None
    match = _WATTS.fullmatch(value)
    if match is None:
        raise ValueError(f"IPU power {text!r} is neither '<watts>W', '<watts> W' nor 'N/A'")
    return float(match[1])
