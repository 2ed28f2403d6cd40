"""Quality metrics and the one target comparison, shared by the harness and the validator.

MLPerf's checkers drifted from its rules because the comparison was written twice; here it
is written once and both sides import it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from accelbench.errors import UserError
from accelbench.rules.schema import Direction

if TYPE_CHECKING:
    import torch


def mean_squared_error(predictions: torch.Tensor, targets: torch.Tensor) -> float:
    """MSE over all samples and outputs, accumulated in float64."""
    import torch  # here, not above: `accelbench validate` imports this module and starts fast

    if predictions.shape != targets.shape:
        raise ValueError(f"predictions {tuple(predictions.shape)} vs targets {tuple(targets.shape)}")
    diff = predictions.detach().to("cpu", torch.float64) - targets.to("cpu", torch.float64)
    return float(diff.square().mean())


METRICS: dict[str, Callable[[torch.Tensor, torch.Tensor], float]] = {
    "mse": mean_squared_error,
}


def compute_metric(name: str, predictions: torch.Tensor, targets: torch.Tensor) -> float:
    try:
        metric = METRICS[name]
    except KeyError:
        raise UserError(f"unknown quality metric '{name}': known metrics are {sorted(METRICS)}") from None
    return metric(predictions, targets)


def meets_target(value: float | None, target: float, direction: Direction) -> bool:
    """True when `value` reaches `target`; a missing or non-finite value never does."""
    if value is None or not math.isfinite(value):
        return False
    return value <= target if direction == "at_most" else value >= target
