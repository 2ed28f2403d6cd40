"""Quality metrics: the numbers the harness computes from an implementation's eval outputs.

The outputs are numpy arrays, whatever framework made them (a kind's harness loop converts its
framework's tensors, gathered from every rank, before anything is measured): one array (row i
answers eval sample i), or named per-sample outputs with one row per sample, e.g.
`{"logits": (N, C), "firing_rate.hidden_1": (N,)}`. The harness computes every metric the rules
name from them: the registered metrics below, and for any other name that is a per-sample
output, that output's mean over the split (so the rules can bound or report what a model
measures about itself, such as its activity). Sums are taken in float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Union

import numpy as np

from accelbench.errors import UserError

Outputs = Union[np.ndarray, Mapping[str, np.ndarray]]

PRIMARY_OUTPUT = "logits"
"""The output a classification metric reads when the outputs are a mapping."""

FIRING_RATE_PREFIX = "firing_rate."
"""Per-sample outputs named `firing_rate.<layer>` are one layer's fraction of neuron-steps that spiked."""


def _primary(outputs: Outputs) -> np.ndarray:
    if isinstance(outputs, Mapping):
        if PRIMARY_OUTPUT not in outputs:
            raise ValueError(f"outputs name {sorted(outputs)}, not '{PRIMARY_OUTPUT}'")
        return outputs[PRIMARY_OUTPUT]
    return outputs


def mean_squared_error(outputs: Outputs, targets: np.ndarray) -> float:
    """MSE over all samples and outputs."""
    predicted = _primary(outputs)
    if predicted.shape != targets.shape:
        raise ValueError(f"predictions {tuple(predicted.shape)} vs targets {tuple(targets.shape)}")
    diff = predicted.astype(np.float64) - targets.astype(np.float64)
    return float(np.mean(np.square(diff)))


def r2(outputs: Outputs, targets: np.ndarray) -> float:
    """Coefficient of determination: 1 - SSE / the targets' sum of squares about their mean (a
    constant predictor scores 0 at best, a perfect one 1)."""
    predicted = _primary(outputs)
    if predicted.shape != targets.shape:
        raise ValueError(f"predictions {tuple(predicted.shape)} vs targets {tuple(targets.shape)}")
    truth = targets.astype(np.float64)
    residual = np.sum(np.square(predicted.astype(np.float64) - truth))
    spread = np.sum(np.square(truth - truth.mean()))
    return float(1.0 - residual / spread) if spread > 0 else float("nan")


def accuracy(outputs: Outputs, targets: np.ndarray) -> float:
    """Fraction of samples whose highest-scoring class is the label (ties: the lowest class)."""
    scores = _primary(outputs)
    if scores.ndim != 2 or targets.ndim != 1 or len(scores) != len(targets):
        raise ValueError(f"class scores {tuple(scores.shape)} vs labels {tuple(targets.shape)}")
    return float(np.mean(np.argmax(scores, axis=1) == targets))


def firing_rate(outputs: Outputs, targets: np.ndarray) -> float:
    """Mean activity of the hidden layers: each layer's mean `firing_rate.<layer>` output, the
    layers weighted equally."""
    if not isinstance(outputs, Mapping):
        raise ValueError("firing_rate needs outputs with 'firing_rate.<layer>' entries")
    layers = [output_mean(outputs, name) for name in outputs if name.startswith(FIRING_RATE_PREFIX)]
    if not layers:
        raise ValueError(f"outputs name {sorted(outputs)}, no '{FIRING_RATE_PREFIX}<layer>'")
    return sum(layers) / len(layers)


def output_mean(outputs: Mapping[str, np.ndarray], name: str) -> float:
    return float(np.mean(outputs[name], dtype=np.float64))


METRICS: dict[str, Callable[[Outputs, np.ndarray], float]] = {
    "mse": mean_squared_error,
    "r2": r2,
    "accuracy": accuracy,
    "firing_rate": firing_rate,
}


def compute_metric(name: str, outputs: Outputs, targets: np.ndarray) -> float:
    metric = METRICS.get(name)
    if metric is not None:
        return metric(outputs, targets)
    if isinstance(outputs, Mapping) and name in outputs:
        return output_mean(outputs, name)
    raise UserError(
        f"unknown quality metric '{name}': known metrics are {sorted(METRICS)}, or a per-sample "
        "output of the implementation's predictions"
    )
