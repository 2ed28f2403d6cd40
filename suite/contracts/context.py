"""What every implementation is told about its run, whatever the workload's kind.

Each kind's contract extends `RunContext` with the data its sessions get: `training.py` gives
torch tensors (every training implementation is torch); a kind whose implementations may be
written in another framework gives numpy arrays, so nothing torch travels through it. Whatever
the kind, a session never reads the scored clock, never decides when to stop, and never sees the
labels of the evaluation split: the harness owns all three.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from accelbench.rules.schema import Division, HyperparameterValue, Scale
from accelbench.run.world import World


@dataclass(frozen=True, kw_only=True)
class RunContext:
    """The run an implementation is asked to do, as the rules and the launcher fixed it."""

    workload: str
    scale: Scale
    division: Division
    hyperparameters: Mapping[str, HyperparameterValue]
    seed: int
    device: str  # this process's device, e.g. "cpu", "cuda:3" or "ipu"
    world: World
    dataset_parameters: Mapping[str, HyperparameterValue] = field(default_factory=dict)
    """The generator's settings at this scale (e.g. the number of classes), from the rules."""
