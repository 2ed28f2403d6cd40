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

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from accelbench.contracts.inference import InferenceContext, InferenceSession
from accelbench.submissions.ipu.common import poplar as shared
from accelbench.submissions.ipu.common.serving import ExecutorServing
from accelbench.submissions.ipu.lstm_inference.config import SETTINGS, SubmissionSettings, plan_for
from accelbench.submissions.ipu.lstm_inference.model import stack_from_weights


class IpuLstmSession(ExecutorServing):
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

    def load_samples(self, indices: Sequence[int], inputs: np.ndarray) -> None:
        self._hold({**self._held(), **dict(zip(indices, self._as_held(inputs)))})

    def unload_samples(self, indices: Sequence[int]) -> None:
        held = self._held()
        for index in indices:
            held.pop(index, None)
        self._hold(held)

    def _host_call(self, indices: Sequence[int]) -> torch.Tensor:
        return self.samples[torch.tensor([self.row_of[index] for index in indices])]

    def _as_held(self, inputs: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.dtype)

    def _held(self) -> dict[int, torch.Tensor]:
        return {index: self.samples[row] for index, row in self.row_of.items()}

    def _hold(self, held: dict[int, torch.Tensor]) -> None:
        """Keep `held` as one contiguous host tensor, a row per sample index."""
        self.row_of = {index: row for row, index in enumerate(held)}
        self.samples = torch.stack(list(held.values())) if held else torch.empty(0)


def create_session(context: InferenceContext) -> InferenceSession:
    return IpuLstmSession(context, shared.load())
