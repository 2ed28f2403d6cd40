"""The reference's LSTM regressor in the form PopTorch 3.4 compiles, and the mapping of the
reference's trained weights onto it.

PopTorch takes `nn.LSTM` with num_layers=1 only (graphcore/poptorch docs/user_guide/
supported_ops.rst, "Recurrent layers"), so each of the reference's two layers becomes its own
single-layer LSTM holding that layer's weights unchanged, which the closed division allows. Plain
torch: tested on the CPU against the reference; it has not been compiled by PopTorch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from torch import nn

from accelbench.reference.lstm_inference.model import FEATURES, HIDDEN

LSTM_PARAMETERS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
LAYER_MODULES = ("lower", "upper")
"""The single-layer LSTM that holds the reference's layer 0, then layer 1."""
HEAD_PARAMETERS = ("head.weight", "head.bias")


class SingleLayerLstmStack(nn.Module):
    """(batch, steps, features) -> (batch, 1), computing what `LSTMRegressor` computes.

    The batch stays the leading dimension of the input because PopTorch cuts a host call's
    inputs into its device iterations along dimension 0; the steps go first inside forward, for
    the time-major LSTMs, as in the reference."""

    def __init__(self, features: int = FEATURES, hidden: int = HIDDEN) -> None:
        super().__init__()
        self.lower = nn.LSTM(features, hidden, num_layers=1)
        self.upper = nn.LSTM(hidden, hidden, num_layers=1)
        self.head = nn.Linear(hidden, 1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        lower_sequence, _ = self.lower(windows.transpose(0, 1))
        _, (final_hidden, _) = self.upper(lower_sequence)
        return self.head(final_hidden[0])  # the upper layer's last step, as the reference's sequence[-1]


def single_layer_weights(weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The reference's parameters by `SingleLayerLstmStack` names: `lstm.<parameter>_l<k>`
    becomes `<module k>.<parameter>_l0`; the arrays themselves pass through untouched."""
    mapped = {
        f"{module}.{parameter}_l0": weights[f"lstm.{parameter}_l{layer}"]
        for layer, module in enumerate(LAYER_MODULES)
        for parameter in LSTM_PARAMETERS
    }
    mapped.update({name: weights[name] for name in HEAD_PARAMETERS})
    unmapped = sorted(set(weights) - {f"lstm.{p}_l{k}" for p in LSTM_PARAMETERS for k in range(2)}
                      - set(HEAD_PARAMETERS))
    if unmapped:
        raise ValueError(f"weights the two-layer reference does not have: {', '.join(unmapped)}")
    return mapped


def stack_from_weights(weights: Mapping[str, np.ndarray], *, half: bool) -> SingleLayerLstmStack:
    """A `SingleLayerLstmStack` in eval mode holding the reference's `weights`, cast to fp16
    (`model.half()`, fed fp16 inputs) when `half`, else float32."""
    model = SingleLayerLstmStack()
    model.load_state_dict(
        {name: torch.from_numpy(np.asarray(array, dtype=np.float32)) for name, array in
         single_layer_weights(weights).items()},
        strict=True,
    )
    if half:
        model.half()
    return model.eval()
