"""The seed's LSTM regressor: two LSTM layers of 256 units over a window of 16 features, the last
layer's final hidden state into a dense layer with one output (Graphcore's lstm_multi benchmark
shape). The weights travel between frameworks as numpy arrays named like this module's
`state_dict`, so the TensorFlow peer and the IPU port load the same trained parameters."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

FEATURES = 16
HIDDEN = 256
LAYERS = 2


class LSTMRegressor(nn.Module):
    """(batch, steps, features) returns -> (batch, 1) predicted next return."""

    def __init__(self, features: int = FEATURES, hidden: int = HIDDEN, layers: int = LAYERS) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=layers)  # time-major, as lstm_multi is
        self.head = nn.Linear(hidden, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.lstm(windows.transpose(0, 1))
        return self.head(sequence[-1])


def weights_of(model: nn.Module) -> dict[str, np.ndarray]:
    """The parameters as float32 numpy arrays, by state_dict name."""
    return {name: tensor.detach().cpu().float().numpy().copy() for name, tensor in model.state_dict().items()}


def model_from_weights(weights: Mapping[str, np.ndarray]) -> LSTMRegressor:
    """A float32 LSTMRegressor on the CPU holding `weights` (names and shapes must match exactly)."""
    model = LSTMRegressor()
    model.load_state_dict({name: torch.from_numpy(np.asarray(array)) for name, array in weights.items()}, strict=True)
    return model.eval()
