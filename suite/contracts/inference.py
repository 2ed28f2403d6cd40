"""The inference contract: what an inference implementation (reference or vendor submission)
gives the harness.

An implementation module (`accelbench.reference.<family>.inference` or
`accelbench.submissions.<system>.<family>`) exposes one function:

    def create_session(context: InferenceContext) -> InferenceSession

called during the untimed init phase, with the trained weights as numpy arrays. The harness
(`accelbench.run.inference`) builds MLPerf LoadGen's system under test and query sample library
around the session: LoadGen owns the clock and the query schedule. It tells the session which
eval samples to hold (`load_samples`, untimed, as LoadGen's QSL loads them), then asks it for
predictions of those samples by index, at most `batch_size` at a time. The session never sees
the eval targets, never reads a clock, and cannot tell the accuracy run from a scored one: both
ask for predictions the same way.

Everything crosses this boundary as numpy, so an implementation may be torch, PopTorch or
TensorFlow.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from accelbench.contracts.context import RunContext
from accelbench.rules.schema import HyperparameterValue


@dataclass(frozen=True, kw_only=True)
class InferenceContext(RunContext):
    """The run, and the trained model's parameters (float32, by the reference's state_dict names)."""

    weights: Mapping[str, np.ndarray]
    batch_size: int  # the most samples one `predict` call is given (hyperparameter batch_size)


class InferenceSession(abc.ABC):
    """A trained model serving predictions, as the harness sees it."""

    def synchronize(self) -> None:
        """Wait until the device has finished the work queued so far (see TrainingSession)."""

    def warm_up(self, inputs: np.ndarray) -> None:
        """Compile, trace or capture graphs before LoadGen starts (counts against the init
        budget); `inputs` are eval samples of every batch shape to be expected."""

    @abc.abstractmethod
    def load_samples(self, indices: Sequence[int], inputs: np.ndarray) -> None:
        """Hold eval samples `indices` (rows of `inputs`, in that order) for later `predict`
        calls, e.g. in pinned host or device memory; untimed, as LoadGen's QSL loads them. An
        index may repeat (LoadGen pads MultiStream's sample set to whole queries)."""

    def unload_samples(self, indices: Sequence[int]) -> None:
        """Release samples LoadGen no longer needs (repeats and indices not held are no error)."""

    @abc.abstractmethod
    def predict(self, indices: Sequence[int]) -> np.ndarray:
        """(len(indices), outputs) float32 predictions for loaded samples, on the host, in order."""

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        """What the session chose (precision, graph capture), recorded in the result."""
        return {}

    def close(self) -> None:
        """Give back what the session took for the run (threads, a device), once it is over."""


class InferenceImplementation(Protocol):
    """The module the runner picks for an inference workload family on a system."""

    def create_session(self, context: InferenceContext) -> InferenceSession: ...
