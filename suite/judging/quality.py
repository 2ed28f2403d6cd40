"""Quality metrics and the one target comparison, shared by the harness and the validator.

MLPerf's checkers drifted from its rules because the comparison was written twice; here it
is written once and both sides import it.

An implementation's eval predictions are one tensor (row i answers eval sample i), or a
mapping of named tensors with one row per sample, e.g. `{"logits": (N, C), "firing_rate.hidden_1":
(N,)}`. The harness computes every metric the rules name from them: the registered metrics
below, and for any other name that is a per-sample output, that output's mean over the split
(so the rules can bound or report what a model measures about itself, such as its activity).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Union

from accelbench.errors import UserError
from accelbench.rules.schema import Direction, QualityRules

if TYPE_CHECKING:
    import torch

Predictions = Union["torch.Tensor", Mapping[str, "torch.Tensor"]]

PRIMARY_OUTPUT = "logits"
"""The output a classification metric reads when the predictions are a mapping."""

FIRING_RATE_PREFIX = "firing_rate."
"""Per-sample outputs named `firing_rate.<layer>` are one layer's fraction of neuron-steps that spiked."""


def _primary(predictions: Predictions) -> torch.Tensor:
    if isinstance(predictions, Mapping):
        if PRIMARY_OUTPUT not in predictions:
            raise ValueError(f"predictions name {sorted(predictions)}, not '{PRIMARY_OUTPUT}'")
        return predictions[PRIMARY_OUTPUT]
    return predictions


def mean_squared_error(predictions: Predictions, targets: torch.Tensor) -> float:
    """MSE over all samples and outputs, accumulated in float64."""
    import torch  # here, not above: `accelbench validate` imports this module and starts fast

    predicted = _primary(predictions)
    if predicted.shape != targets.shape:
        raise ValueError(f"predictions {tuple(predicted.shape)} vs targets {tuple(targets.shape)}")
    diff = predicted.detach().to("cpu", torch.float64) - targets.to("cpu", torch.float64)
    return float(diff.square().mean())


def accuracy(predictions: Predictions, targets: torch.Tensor) -> float:
    """Fraction of samples whose highest-scoring class is the label (ties: the lowest class)."""
    scores = _primary(predictions)
    if scores.ndim != 2 or targets.ndim != 1 or len(scores) != len(targets):
        raise ValueError(f"class scores {tuple(scores.shape)} vs labels {tuple(targets.shape)}")
    hits = scores.detach().cpu().argmax(dim=1) == targets.cpu()
    return float(hits.double().mean())


def firing_rate(predictions: Predictions, targets: torch.Tensor) -> float:
    """Mean activity of the hidden layers: each layer's mean `firing_rate.<layer>` output, the
    layers weighted equally."""
    if not isinstance(predictions, Mapping):
        raise ValueError("firing_rate needs predictions with 'firing_rate.<layer>' outputs")
    layers = [output_mean(predictions, name) for name in predictions if name.startswith(FIRING_RATE_PREFIX)]
    if not layers:
        raise ValueError(f"predictions name {sorted(predictions)}, no '{FIRING_RATE_PREFIX}<layer>'")
    return sum(layers) / len(layers)


def output_mean(predictions: Mapping[str, torch.Tensor], name: str) -> float:
    import torch

    return float(predictions[name].detach().to("cpu", torch.float64).mean())


METRICS: dict[str, Callable[[Predictions, torch.Tensor], float]] = {
    "mse": mean_squared_error,
    "accuracy": accuracy,
    "firing_rate": firing_rate,
}


def compute_metric(name: str, predictions: Predictions, targets: torch.Tensor) -> float:
    metric = METRICS.get(name)
    if metric is not None:
        return metric(predictions, targets)
    if isinstance(predictions, Mapping) and name in predictions:
        return output_mean(predictions, name)
    raise UserError(
        f"unknown quality metric '{name}': known metrics are {sorted(METRICS)}, or a per-sample "
        "output of the implementation's predictions"
    )


def measured_names(rules: QualityRules) -> list[str]:
    """The metrics recorded beside the target at each eval: the bounds', then the reported ones."""
    names = [bound.metric for bound in rules.bounds] + list(rules.reported)
    return list(dict.fromkeys(names))


def meets_target(value: float | None, target: float, direction: Direction) -> bool:
    """True when `value` reaches `target`; a missing or non-finite value never does."""
    if value is None or not math.isfinite(value):
        return False
    return value <= target if direction == "at_most" else value >= target


def meets_bounds(rules: QualityRules, scale: str, measurements: Mapping[str, float | None]) -> bool:
    """Every extra bound of the rules holds for these measurements (a missing one never does)."""
    return all(
        meets_target(measurements.get(bound.metric), bound.value[scale], bound.direction)  # type: ignore[index]
        for bound in rules.bounds
    )


def unmet_bounds(rules: QualityRules, scale: str, measurements: Mapping[str, float | None]) -> list[str]:
    """Each bound these measurements break, in words, e.g. 'firing_rate 0.031 is not at_most 0.015'."""
    broken = []
    for bound in rules.bounds:
        limit = bound.value[scale]  # type: ignore[index]
        value = measurements.get(bound.metric)
        if not meets_target(value, limit, bound.direction):
            shown = "missing" if value is None else f"{value:.4g}"
            broken.append(f"{bound.metric} {shown} is not {bound.direction.replace('_', ' ')} {limit:g}")
    return broken
