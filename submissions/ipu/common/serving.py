"""The serving shape of the IPU inference submissions. Plain Python: tested on the CPU.

Two inference executors, each compiled for one host-call shape, hold the IPU in turn: a throughput
one of exactly `batch_size` samples per host call (`device_iterations` passes of `micro_batch`),
and a latency one of `latency_micro_batch` samples in one pass, for single-sample requests the
throughput one would pad to `batch_size`; only one when the two are the same. A request goes to the
smallest that takes it in one call and is cut into whole host calls, the last padded by repeating
the request's own rows from its start (any real sample will do: each output depends on its own
sample only), whose predictions are dropped afterwards (`executors.join_predictions`).

`ExecutorServing` is the part of an IPU inference session that does not depend on the workload:
compiling the executors, attaching the one a request needs, the host-call loop, and the logged
plan; a session supplies how the QSL's samples are held and a host call's inputs gathered.
"""

from __future__ import annotations

import abc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from accelbench.contracts.inference import InferenceSession
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.ipu.common.executors import calls_for, join_predictions, pad_by_cycling
from accelbench.submissions.ipu.common.plan import IpuPlan, executable_cache_dir

if TYPE_CHECKING:
    import torch

    from accelbench.submissions.ipu.common.poplar import PopTorch


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


class ExecutorServing(InferenceSession):
    """Serves requests through `executors` (one per `plan.executors`), one attached at a time.

    A subclass sets `plan`, `poplar` and `executors`, with `attached` None until `warm_up`, and
    supplies `_as_held` (the QSL's inputs as held) and `_host_call` (one host call's inputs)."""

    plan: ServingPlan
    poplar: PopTorch
    executors: list[Any]
    attached: Any

    @abc.abstractmethod
    def _as_held(self, inputs: np.ndarray) -> torch.Tensor:
        """The QSL's inputs as a tensor of samples, as the session holds them."""

    @abc.abstractmethod
    def _host_call(self, indices: Sequence[int]) -> torch.Tensor:
        """The held samples of `indices`, in that order, as one contiguous tensor."""

    def warm_up(self, inputs: np.ndarray) -> None:
        """Compile every executor for its host-call shape, from real eval samples."""
        samples = self._as_held(inputs)
        for plan, executor in zip(self.plan.executors, self.executors):
            if self.attached is not None:
                self.attached.detachFromDevice()
            executor.compile(pad_by_cycling(samples, plan.inference_batch))  # compiling attaches
            self.attached = executor

    def predict(self, indices: Sequence[int]) -> np.ndarray:
        position = executor_for(len(indices), self.plan.executors)
        executor, per_call = self.executors[position], self.plan.executors[position].inference_batch
        self._attach(executor)
        outputs = [executor(self._host_call(call)) for call in host_calls(indices, per_call)]
        return join_predictions(outputs, per_call, len(indices)).numpy()

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        throughput = self.plan.throughput
        logged: dict[str, HyperparameterValue] = {
            "precision": self.plan.precision,
            "micro_batch": throughput.micro_batch,
            "device_iterations": throughput.device_iterations,
            "half_partials": throughput.fp16,
            "framework": f"poptorch {self.poplar.poptorch.__version__}",
        }
        if len(self.plan.executors) > 1:
            logged["latency_micro_batch"] = self.plan.executors[0].micro_batch
        return logged

    def _attach(self, executor: Any) -> None:
        if executor is self.attached:
            return
        if self.attached is None:
            raise RuntimeError("predict before warm_up: warm_up compiles the IPU executors")
        self.attached.detachFromDevice()
        executor.attachToDevice()
        self.attached = executor
