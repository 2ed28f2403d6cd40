"""What the torch reference inference sessions share: the model in fp32 on any torch device,
LoadGen's samples held on that device, forward passes under torch.inference_mode, and on the CPU
one core left to LoadGen (`cpu_threads`). A family's session only builds its model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from accelbench.contracts.inference import InferenceSession
from accelbench.reference.cpu_threads import leave_one_core
from accelbench.rules.schema import HyperparameterValue


class TorchServingSession(InferenceSession):
    """`model` (already holding the served weights) answering LoadGen's queries."""

    def __init__(self, model: nn.Module, device: str | torch.device) -> None:
        self.device = torch.device(device)
        self.model = model.eval().to(self.device)
        self.samples: dict[int, torch.Tensor] = {}
        self.threads_before = torch.get_num_threads()
        if self.device.type == "cpu":
            leave_one_core()
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
