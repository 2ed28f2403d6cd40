"""The neuron-inverter network: the original CNN+FC regressor (2,988,843 parameters).

3 x [Conv1d k=4 -> MaxPool1d 4 -> ReLU] with 30/90/180 filters, BatchNorm1d over the 4320
flattened features, FC 512-512-512-256-128 (ReLU + Dropout 0.05), then a linear layer to the
15 targets with no output activation.

One deliberate difference from the original: the input (N, 1600, 4) is *transposed* to
(N, 4, 1600), so each Conv1d input channel is one probe's trace. The original used `.view`,
which reinterprets memory: its channel c held time bins 400c..400c+399 with the 4 probes
interleaved. The transpose is what the architecture means; the parameter count is the same.
"""

from __future__ import annotations

import torch
from torch import nn

CONV_FILTERS = (30, 90, 180)
CONV_KERNEL = 4
POOL = 4
FC_WIDTHS = (512, 512, 512, 256, 128)
DROPOUT = 0.05
PROBES = 4
TIME_BINS = 1600
OUTPUTS = 15


def flattened_size(time_bins: int = TIME_BINS) -> int:
    """Features after the conv stack: 4320 for 1600 bins."""
    length = time_bins
    for _ in CONV_FILTERS:
        length = (length - CONV_KERNEL + 1) // POOL
    return CONV_FILTERS[-1] * length


class NeuronInverter(nn.Module):
    def __init__(self, time_bins: int = TIME_BINS, dropout: float = DROPOUT) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        channels = PROBES
        for filters in CONV_FILTERS:
            layers += [nn.Conv1d(channels, filters, CONV_KERNEL), nn.MaxPool1d(POOL), nn.ReLU()]
            channels = filters
        self.features = nn.Sequential(*layers, nn.Flatten())
        width = flattened_size(time_bins)
        self.flat_norm = nn.BatchNorm1d(width)
        head: list[nn.Module] = []
        for out in FC_WIDTHS:
            head += [nn.Linear(width, out), nn.ReLU(), nn.Dropout(dropout)]
            width = out
        head.append(nn.Linear(width, OUTPUTS))
        self.head = nn.Sequential(*head)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """frames: (N, time_bins, probes) as stored on disk -> (N, 15) normalised conductances."""
        return self.head(self.flat_norm(self.features(frames.transpose(1, 2))))
