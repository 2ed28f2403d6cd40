"""The serving shape of the IPU inference submissions. Plain Python: tested on the CPU.

Two inference executors, each compiled for one host-call shape, hold the IPU in turn: a throughput
one of exactly `batch_size` samples per host call (`device_iterations` passes of `micro_batch`),
and a latency one of `latency_micro_batch` samples in one pass, for single-sample requests the
throughput one would pad to `batch_size`; only one when the two are the same. A request goes to the
smallest that takes it in one call and is cut into whole host calls, the last padded by repeating
the request's own rows from its start (any real sample will do: each output depends on its own
sample only), whose predictions are dropped afterwards (`executors.join_predictions`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from accelbench.submissions.ipu.common.executors import calls_for
from accelbench.submissions.ipu.common.plan import IpuPlan, executable_cache_dir


@dataclass(frozen=True)
class ServingPlan:
    """The precision, and the executors' plans by samples per host call, smallest first."""

    precision: str
    executors: tuple[IpuPlan, ...]

    @property
    def half(self) -> bool:
        """fp16 weights and inputs."""
        return self.precision == "fp16"

    @property
    def throughput(self) -> IpuPlan:
        return self.executors[-1]


def serving_plan(
    precision: str,
    batch_size: int,
    micro_batch: int,
    latency_micro_batch: int,
    half_partials: bool,
    seed: int,
    environ: Mapping[str, str] = os.environ,
) -> ServingPlan:
    """The latency and throughput executors' plans; `micro_batch` must divide `batch_size`."""

    def executor(micro: int, iterations: int) -> IpuPlan:
        return IpuPlan(
            micro_batch=micro,
            gradient_accumulation=1,  # PopTorch requires 1 for an inferenceModel
            device_iterations=iterations,
            seed=seed,
            executable_cache_dir=executable_cache_dir(environ),
            fp16=half_partials and precision == "fp16",
        )

    throughput = executor(micro_batch, batch_size // micro_batch)
    latency = executor(min(latency_micro_batch, batch_size), 1)
    if latency.inference_batch == throughput.inference_batch:
        return ServingPlan(precision, (throughput,))
    return ServingPlan(precision, (latency, throughput))


def executor_for(samples: int, executors: Sequence[IpuPlan]) -> int:
    """Which executor (by position, smallest host call first) serves a request of `samples`: the
    smallest that takes it in one host call, else the largest, in several."""
    return next(
        (position for position, plan in enumerate(executors) if samples <= plan.inference_batch),
        len(executors) - 1,
    )


def host_calls(rows: Sequence[int], per_call: int) -> list[list[int]]:
    """`rows`, in order, as the fewest host calls of exactly `per_call` rows; the padding, if
    any, is at the end of the last call."""
    calls = calls_for(len(rows), per_call)
    padded = [rows[position % len(rows)] for position in range(calls * per_call)]
    return [padded[start:start + per_call] for start in range(0, len(padded), per_call)]
