"""Cutting a `predict` request into the host calls of a fixed-shape executor. Plain Python:
tested on the CPU.

A compiled executor takes exactly `micro_batch x device_iterations` samples per host call, so a
request is cut into whole calls in order, and the last one is padded by repeating the request's
own rows from its start (any real sample will do: an LSTM's outputs are per sample), whose
predictions are dropped afterwards (`common.executors.join_predictions`).
"""

from __future__ import annotations

from collections.abc import Sequence

from accelbench.submissions.ipu.common.executors import calls_for
from accelbench.submissions.ipu.common.plan import IpuPlan


def host_calls(rows: Sequence[int], per_call: int) -> list[list[int]]:
    """`rows`, in order, as the fewest host calls of exactly `per_call` rows; the padding, if
    any, is at the end of the last call."""
    calls = calls_for(len(rows), per_call)
    padded = [rows[position % len(rows)] for position in range(calls * per_call)]
    return [padded[start:start + per_call] for start in range(0, len(padded), per_call)]


def executor_for(samples: int, executors: Sequence[IpuPlan]) -> int:
    """Which executor (by position, smallest host call first) serves a request of `samples`: the
    smallest that takes it in one host call, else the largest, in several."""
    return next(
        (position for position, plan in enumerate(executors) if samples <= plan.inference_batch),
        len(executors) - 1,
    )
