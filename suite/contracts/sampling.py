"""The sampling contract: what a sampling implementation (reference or vendor submission) gives
the harness.

An implementation module (`accelbench.reference.<family>.sampling` or
`accelbench.submissions.<system>.<family>`) exposes one function:

    def create_session(context: SamplingContext) -> SamplingSession

called during the untimed init phase. The session runs the rules' Markov chains from the
harness's initial state: `burn_in()` once (adapting the step size), then `draw(count)` as often as
the harness asks, each call handing back the next `count` kept draws of every chain. The harness
owns the clock and keeps every draw; it computes the diagnostics and the held-out predictive
quality from the draws and decides alone when the chains have converged. A session never sees the
held-out split and never reads a clock.

Everything crosses this boundary as numpy, so an implementation may be TensorFlow Probability
(the reference), TensorFlow for IPU, JAX or torch.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from accelbench.contracts.context import RunContext
from accelbench.rules.schema import HyperparameterValue, PosteriorModelRules


@dataclass(frozen=True, kw_only=True)
class SamplingContext(RunContext):
    """The run, the rows the likelihood is over, and the sampler's settings from the rules."""

    inputs: np.ndarray  # (rows, features) float32: the train split's features
    targets: np.ndarray  # (rows, 1) float32: its alpha
    model: PosteriorModelRules
    initial_state: np.ndarray  # (chains, parameters) float32, drawn by the harness from the seed
    leapfrog_steps: int
    burn_in: int
    adaptation_steps: int  # the first burn-in steps, over which the step size adapts
    initial_step_size: float
    target_accept_prob: float
    draws_per_block: int  # what `draw` is asked for (the last block of a run may be shorter), to compile ahead

    @property
    def chains(self) -> int:
        return int(self.initial_state.shape[0])


@dataclass(frozen=True)
class DrawBlock:
    """Consecutive steps of every chain, in step order."""

    states: np.ndarray | None  # (chains, steps, parameters) float32 kept draws; None for the burn-in
    target_log_prob: np.ndarray  # (chains, steps): the unnormalised log posterior at each state
    accepted: np.ndarray  # (chains, steps) bool: whether the step's proposal was accepted
    step_size: np.ndarray  # (chains,) the step size in force after the block


class SamplingSession(abc.ABC):
    """Markov chains over the posterior, as the harness sees them."""

    def synchronize(self) -> None:
        """Wait until the device has finished the work queued so far (see TrainingSession)."""

    def warm_up(self) -> None:
        """Compile (XLA, Poplar) before the clock starts, without moving the chains."""

    @abc.abstractmethod
    def burn_in(self) -> DrawBlock:
        """Run the rules' burn-in from the initial state, adapting the step size over the first
        `adaptation_steps`; its states are not kept (`states` is None)."""

    @abc.abstractmethod
    def draw(self, count: int) -> DrawBlock:
        """The next `count` kept draws of every chain, continuing where the last call ended,
        at the step size the burn-in adapted."""

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        """What the session chose (XLA, device placement), recorded in the result."""
        return {}

    def close(self) -> None:
        """Give back what the session took for the run (a device), once it is over."""


class SamplingImplementation(Protocol):
    """The module the runner picks for a sampling workload family on a system."""

    def create_session(self, context: SamplingContext) -> SamplingSession: ...
