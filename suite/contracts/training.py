"""The training contract: what a train-to-target implementation (reference or vendor
submission) gives the harness.

An implementation module (`accelbench.reference.<family>.training` or
`accelbench.submissions.<system>.<family>`) exposes one function:

    def create_session(context: TrainingContext) -> TrainingSession

called during the untimed init phase. The harness (`accelbench.run.training`) then drives the
session inside the timed region: it asks for an epoch at a time, for eval predictions at the
rules' cadence, computes the quality metric itself from them, and stops at the target or the
epoch budget. A session must not read the scored clock, decide when to stop, or see the labels
of the evaluation split.

In a multi-process run (torchrun, srun, poprun) every process gets its own session, its own
contiguous shard of the training split and of the evaluation inputs; the session keeps its
replicas in step (e.g. DDP), and the harness gathers the predictions of all ranks.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, Union

import torch

from accelbench.contracts.context import RunContext
from accelbench.judging.verdict import EvalKind
from accelbench.rules.schema import HyperparameterValue

Predictions = Union[torch.Tensor, Mapping[str, torch.Tensor]]
"""Eval predictions: one tensor (row i answers eval sample i), or named per-sample outputs with
one row per sample, e.g. `{"logits": (N, C), "firing_rate.hidden_1": (N,)}`, when the rules
measure more than one thing (see `accelbench.judging.quality`)."""


@dataclass(frozen=True, kw_only=True)
class TrainingContext(RunContext):
    """The run, and this rank's data as torch tensors on the host."""

    train_inputs: torch.Tensor  # this rank's shard of the training split
    train_targets: torch.Tensor
    eval_inputs: torch.Tensor  # this rank's shard of the evaluation split's inputs


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

    def synchronize(self) -> None:
        """Wait until the device has finished the work queued so far. The harness calls it
        before every read of its clock, so a device that runs asynchronously (CUDA) cannot make
        an epoch look shorter than it was; on a synchronous one (the CPU, PopTorch's host calls)
        there is nothing to wait for."""

    def warm_up(self) -> None:
        """Compile, trace or allocate before the clock starts (counts against the init budget)."""

    @abc.abstractmethod
    def train_epoch(self, epoch: int) -> EpochReport:
        """Train one pass over the training data. `epoch` counts from 1."""

    @abc.abstractmethod
    def predict_eval(self) -> Predictions:
        """Predictions for `TrainingContext.eval_inputs`, in order, on the CPU."""

    def predict_final(self) -> Predictions:
        """True (inference-mode) predictions, asked for once after the timed region."""
        return self.predict_eval()

    def after_eval(self, metric: float) -> None:
        """Told the harness's eval result, e.g. to step a plateau LR schedule."""

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        """MLPerf hyperparameter keys (opt_name, global_batch_size, ...) for the event log."""
        return {}


class TrainingImplementation(Protocol):
    """The module the runner picks for a workload family on a system."""

    def create_session(self, context: TrainingContext) -> TrainingSession: ...
