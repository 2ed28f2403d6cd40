"""The IPU inference session: the reference's trained LSTM as two single-layer LSTMs, run by
PopTorch 3.4 inference executors, answering LoadGen's queries from samples held on the host.

Written for PopTorch 3.4 and tested on the CPU only, through a stand-in for the PopTorch layer:
nothing here has run on an IPU.

PopTorch streams every host call's inputs from the host, so the samples LoadGen's QSL loads
stay in host memory as one contiguous tensor of the run's precision; `predict` gathers a
request's rows from it into contiguous host calls (PopTorch wants contiguous graph inputs) for
the executor that fits the request (`config`, `common.serving`), and returns float32 on the host.
PopTorch's call returns only when the device is done, so there is nothing to `synchronize`.

One process drives one IPU, as in the other IPU submissions: only one executor is attached at a
time. `warm_up` compiles each (each compile attaches its executor), and a request that needs the
other one detaches the attached executor and attaches it, which reloads its engine and weights
on the device: once per change between single-sample and larger requests, about once per
LoadGen scenario.

The PopTorch calls all go through `common.poplar.PopTorch`, whose docstring says where each was
checked: poptorch.Options with replicationFactor(1), deviceIterations, randomSeed,
enableExecutableCaching, outputMode(All) and, with fp16 partials, Precision.setPartialsType;
poptorch.inferenceModel(model, options=); the executor's compile, __call__, attachToDevice and
detachFromDevice (graphcore/poptorch python/_poplar_executor.py: compiling attaches under the
default ConnectionType.Always; tests/attach_detach_test.py swaps two executors on one IPU so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from accelbench.contracts.inference import InferenceContext, InferenceSession
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.ipu.common import poplar as shared
from accelbench.submissions.ipu.common.executors import join_predictions, pad_by_cycling
from accelbench.submissions.ipu.common.serving import executor_for, host_calls
from accelbench.submissions.ipu.lstm_inference.config import SETTINGS, SubmissionSettings, plan_for
from accelbench.submissions.ipu.lstm_inference.model import stack_from_weights


class IpuLstmSession(InferenceSession):
    def __init__(
        self, context: InferenceContext, poplar: shared.PopTorch, settings: SubmissionSettings = SETTINGS
    ) -> None:
        self.plan = plan_for(context, settings)
        self.poplar = poplar
        self.dtype = torch.half if self.plan.half else torch.float32
        self.model = stack_from_weights(context.weights, half=self.plan.half)
        self.executors = [
            poplar.inference_executor(self.model, poplar.options(plan, training=False))
            for plan in self.plan.executors
        ]
        self.attached: Any = None
        self.samples = torch.empty(0)
        self.row_of: dict[int, int] = {}

    def warm_up(self, inputs: np.ndarray) -> None:
        """Compile every executor for its host-call shape, from real eval samples."""
        windows = self._as_held(inputs)
        for plan, executor in zip(self.plan.executors, self.executors):
            if self.attached is not None:
                self.attached.detachFromDevice()
            executor.compile(pad_by_cycling(windows, plan.inference_batch))
            self.attached = executor

    def load_samples(self, indices: Sequence[int], inputs: np.ndarray) -> None:
        self._hold({**self._held(), **dict(zip(indices, self._as_held(inputs)))})

    def unload_samples(self, indices: Sequence[int]) -> None:
        held = self._held()
        for index in indices:
            held.pop(index, None)
        self._hold(held)

    def predict(self, indices: Sequence[int]) -> np.ndarray:
        position = executor_for(len(indices), self.plan.executors)
        executor, per_call = self.executors[position], self.plan.executors[position].inference_batch
        self._attach(executor)
        rows = [self.row_of[index] for index in indices]
        outputs = [executor(self.samples[torch.tensor(call)]) for call in host_calls(rows, per_call)]
        return join_predictions(outputs, per_call, len(rows)).numpy()

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

    def _as_held(self, inputs: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.dtype)

    def _held(self) -> dict[int, torch.Tensor]:
        return {index: self.samples[row] for index, row in self.row_of.items()}

    def _hold(self, held: dict[int, torch.Tensor]) -> None:
        """Keep `held` as one contiguous host tensor, a row per sample index."""
        self.row_of = {index: row for row, index in enumerate(held)}
        self.samples = torch.stack(list(held.values())) if held else torch.empty(0)

    def _attach(self, executor: Any) -> None:
        if executor is self.attached:
            return
        if self.attached is None:
            raise RuntimeError("predict before warm_up: warm_up compiles the IPU executors")
        self.attached.detachFromDevice()
        executor.attachToDevice()
        self.attached = executor


def create_session(context: InferenceContext) -> InferenceSession:
    return IpuLstmSession(context, shared.load())
