"""The contract between the harness and an implementation (reference or vendor submission).

An implementation module (`accelbench.reference.<w>.training` or
`accelbench.submissions.<device>.<w>`) exposes one function:

    def create_session(context: RunContext) -> TrainingSession

called during the untimed init phase. The harness then drives the session inside the timed
region. A session must not read the scored clock, decide when to stop, or see the labels of
the evaluation split: the harness owns the clock, the eval cadence and the stop rule, and
computes the quality metric itself from the predictions the session returns.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from accelbench.rules.schema import Division, HyperparameterValue, Scale


@dataclass(frozen=True)
class RunContext:
    """Everything an implementation may know about the run it is asked to do."""

    workload: str
    scale: Scale
    division: Division
    hyperparameters: Mapping[str, HyperparameterValue]
    seed: int
    device: str
    train_inputs: torch.Tensor
    train_targets: torch.Tensor
    eval_inputs: torch.Tensor


@dataclass(frozen=True)
class EpochReport:
    """What one training epoch did: samples consumed and the mean training loss."""

    samples: int
    train_loss: float


class TrainingSession(abc.ABC):
    """A model being trained, as the harness sees it."""

    def warm_up(self) -> None:
        """Compile, trace or allocate before the clock starts (counts against the init budget)."""

    @abc.abstractmethod
    def train_epoch(self, epoch: int) -> EpochReport:
        """Train one pass over the training data. `epoch` counts from 1."""

    @abc.abstractmethod
    def predict_eval(self) -> torch.Tensor:
        """Predictions for `RunContext.eval_inputs`, in order, as a CPU tensor."""

    def after_eval(self, metric: float) -> None:
        """Told the harness's eval result, e.g. to step a plateau LR schedule."""

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        """MLPerf hyperparameter keys (opt_name, global_batch_size, ...) for the event log."""
        return {}
