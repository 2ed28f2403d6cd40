"""The IPU inference session of the efficientnet workloads: the reference's network with the served
weights, run by PopTorch 3.4 inference executors, answering LoadGen's queries from uint8 images
held on the host.

Two executors, each compiled for one host-call shape, hold the IPU in turn (`config.serving_plan`):
a throughput one of exactly batch_size images per host call, and a latency one for SingleStream's
single images; a request goes to the smallest that takes it in one call, and is cut into whole
host calls, the last padded with the request's own images (`common.serving`). The
images stay uint8 all the way to the IPU, where the network normalises them (as Graphcore's
eight_bit_io with normalisation on the IPU); a host call's images are stacked into one contiguous
tensor, as PopTorch wants its graph inputs. PopTorch's call returns when the device is done, so
there is nothing to `synchronize`. Switching executors detaches one and attaches the other, which
reloads its engine and weights: about once per LoadGen scenario.

The PopTorch calls are the shared ones (`common.poplar.PopTorch`): poptorch.Options with
replicationFactor(1), deviceIterations, randomSeed, enableExecutableCaching, outputMode(All) and,
with fp16 partials, Precision.setPartialsType(torch.half); poptorch.inferenceModel(model,
options=); the executor's compile, __call__, attachToDevice and detachFromDevice.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from accelbench.contracts.inference import InferenceContext, InferenceSession
from accelbench.reference.efficientnet.model import from_hyperparameters, load_weights
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.ipu.common import poplar as shared
from accelbench.submissions.ipu.common.serving import ExecutorServing
from accelbench.submissions.ipu.efficientnet.config import SERVING, ServingSettings, serving_plan
from accelbench.submissions.ipu.efficientnet.precision import half_network

HYPERPARAMETERS: dict[str, HyperparameterValue] = {
    "precision": "fp16",
    "batch_size": 1024,
    "single_stream_expected_latency_ms": 0.5,
    "offline_expected_qps": 10000.0,
}
"""Merged over the rules' reference values: fp16 weights and activations with fp16 partials
(Graphcore's "16.16", half_partial), and host calls of 1024 images, the largest batch the closed
division allows (Graphcore's calls were 49 or 106 x 128 device iterations). The LoadGen claims are
unmeasured guesses, set high on purpose: a run sized for a faster system only lasts longer."""


class IpuEfficientNetServing(ExecutorServing):
    def __init__(self, context: InferenceContext, poplar: shared.PopTorch, settings: ServingSettings = SERVING) -> None:
        self.plan = serving_plan(context, settings)
        self.poplar = poplar
        network = from_hyperparameters(context.hyperparameters, int(context.dataset_parameters["classes"]))
        self.network = load_weights(network, context.weights).eval()
        if self.plan.half:
            half_network(self.network)
        self.executors = [poplar.inference_executor(self.network, poplar.options(plan, training=False))
                          for plan in self.plan.executors]
        self.attached: Any = None
        self.samples: dict[int, torch.Tensor] = {}

    def load_samples(self, indices: Sequence[int], inputs: np.ndarray) -> None:
        self.samples.update(zip(indices, self._as_held(inputs)))

    def unload_samples(self, indices: Sequence[int]) -> None:
        for index in indices:
            self.samples.pop(index, None)

    def close(self) -> None:
        """Let go of the IPU, so the next run's session can attach."""
        if self.attached is not None:
            self.attached.detachFromDevice()
            self.attached = None

    def _as_held(self, inputs: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(inputs))

    def _host_call(self, indices: Sequence[int]) -> torch.Tensor:
        return torch.stack([self.samples[index] for index in indices])


def create_session(context: InferenceContext) -> InferenceSession:
    return IpuEfficientNetServing(context, shared.load())
