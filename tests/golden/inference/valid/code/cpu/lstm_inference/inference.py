"""The reference inference implementation of lstm_inference: the fp32 PyTorch model on any
torch device, answering LoadGen's queries from samples held on that device.

It is the accuracy gate's yardstick: a run of it must reproduce the rules' reference quality.

On the CPU it leaves one core to LoadGen: LoadGen's scheduler waits for each query's time by
spinning, and torch's threads on every core then fight it. On 2 cores a Server run's p99 went
from 29 ms to 474 ms between two runs with 2 torch threads, and stayed at 38-51 ms with 1.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from accelbench.contracts.inference import InferenceContext, InferenceSession
from accelbench.errors import UserError
from accelbench.reference.lstm_inference.model import model_from_weights
from accelbench.rules.schema import HyperparameterValue


class ReferenceSession(InferenceSession):
    """fp32 forward passes under torch.inference_mode."""

    def __init__(self, context: InferenceContext) -> None:
        precision = context.hyperparameters.get("precision", "fp32")
        if precision != "fp32":
            raise UserError(f"the lstm_inference reference computes in fp32, not {precision!r}: "
                            "use --hparam precision=fp32, or a submission that implements it")
        self.device = torch.device(context.device)
        self.model = model_from_weights(context.weights).to(self.device)
        self.samples: dict[int, torch.Tensor] = {}
        self.threads_before = torch.get_num_threads()
        if self.device.type == "cpu":
            torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) - 1))
        self.threads = torch.get_num_threads()

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def warm_up(self, inputs: np.ndarray) -> None:
        with torch.inference_mode():
            self.model(torch.from_numpy(inputs).to(self.device))

    def load_samples(self, indices: Sequence[int], inputs: np.ndarray) -> None:
        rows = torch.from_numpy(np.ascontiguousarray(inputs)).to(self.device)
        self.samples.update(zip(indices, rows))

    def unload_samples(self, indices: Sequence[int]) -> None:
        for index in indices:
            self.samples.pop(index, None)

    def predict(self, indices: Sequence[int]) -> np.ndarray:
        with torch.inference_mode():
            batch = torch.stack([self.samples[index] for index in indices])
            return self.model(batch).float().cpu().numpy()

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        logged: dict[str, HyperparameterValue] = {"precision": "fp32", "framework": f"torch {torch.__version__}"}
        if self.device.type == "cpu":
            logged["cpu_threads"] = self.threads
        return logged

    def close(self) -> None:
        torch.set_num_threads(self.threads_before)


def create_session(context: InferenceContext) -> ReferenceSession:
    return ReferenceSession(context)
