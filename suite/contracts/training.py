"""The contract between the harness and an implementation (reference or vendor submission).

An implementation module (`accelbench.reference.<w>.training` or
`accelbench.submissions.<device>.<w>`) exposes one function:

    def create_session(context: RunContext) -> TrainingSession

called during the untimed init phase. The harness then drives the session inside the timed
region. A session must not read the scored clock, decide when to stop, or see the labels of
the evaluation split: the harness owns the clock, the eval cadence and the stop rule, and
computes the quality metric itself from the predictions the session returns.

In a multi-process run (torchrun, srun, poprun) every process gets its own session, its own
contiguous shard of the training split and of the evaluation inputs; the session keeps its
replicas in step (e.g. DDP), and the harness gathers the predictions of all ranks.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch

from accelbench.run.distributed import World
from accelbench.judging.quality import Predictions
from accelbench.rules.schema import Division, HyperparameterValue, Scale

EvalKind = Literal["true", "pseudo"]


@dataclass(frozen=True)
class RunContext:
    """Everything an implementation may know about the run it is asked to do."""

    workload: str
    scale: Scale
    division: Division
    hyperparameters: Mapping[str, HyperparameterValue]
    seed: int
    device: str  # a torch device string for this process, e.g. "cpu" or "cuda:3"
    world: World
    train_inputs: torch.Tensor  # this rank's shard of the training split
    train_targets: torch.Tensor
    eval_inputs: torch.Tensor  # this rank's shard of the evaluation split's inputs
    dataset_parameters: Mapping[str, HyperparameterValue] = field(default_factory=dict)
    """The generator's settings at this scale (e.g. the number of classes), from the rules."""


@dataclass(frozen=True)
class EpochReport:
    """What one training epoch did on this rank: samples consumed and the mean training loss.

    The harness sums the samples and averages the loss over the ranks."""

    samples: int
    train_loss: float


class TrainingSession(abc.ABC):
    """A model being trained, as the harness sees it.

    `network` is the plain torch module being trained (unwrapped from DDP or torch.compile), so
    tests can compare weights and gradients across implementations."""

    network: torch.nn.Module

    eval_kind: EvalKind = "true"
    """'pseudo' when `predict_eval` runs the training graph at learning rate 0 (dropout on, batch
    statistics) to avoid a graph switch, as the seed's IPU port did. The rules say per division
    whether that is allowed; the reported quality is then `predict_final`'s, after the clock."""

    def warm_up(self) -> None:
        """Compile, trace or allocate before the clock starts (counts against the init budget)."""

    @abc.abstractmethod
    def train_epoch(self, epoch: int) -> EpochReport:
        """Train one pass over the training data. `epoch` counts from 1."""

    @abc.abstractmethod
    def predict_eval(self) -> Predictions:
        """Predictions for `RunContext.eval_inputs`, in order, on the CPU: one tensor, or named
        per-sample outputs (see `accelbench.judging.quality`) when the rules measure more than one thing."""

    def predict_final(self) -> Predictions:
        """True (inference-mode) predictions, asked for once after the timed region."""
        return self.predict_eval()

    def after_eval(self, metric: float) -> None:
        """Told the harness's eval result, e.g. to step a plateau LR schedule."""

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        """MLPerf hyperparameter keys (opt_name, global_batch_size, ...) for the event log."""
        return {}
