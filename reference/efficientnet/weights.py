"""The recipe that trains an efficientnet inference workload's served weights, once, beside its data.

It is the reference training (`accelbench.reference.efficientnet.training`) for a fixed number of
epochs, on one CPU thread so that the same torch version computes the same bits on any x86-64
machine whatever its core count; the rules pin the result by content hash. The parameters name the
variant (expand ratio, group size, norm) and the training hyperparameters.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from accelbench.reference.cpu_threads import one_thread
from accelbench.reference.efficientnet.model import from_hyperparameters, weights_of
from accelbench.reference.efficientnet.training import ImageClassifierTrainer
from accelbench.rules.schema import HyperparameterValue


def train(
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    seed: int,
    epochs: int,
    classes: int,
    progress: Callable[[int, int], None] | None = None,
    **hyperparameters: HyperparameterValue,
) -> dict[str, np.ndarray]:
    """The trained parameters and batch-norm statistics, by state_dict name, from the training split."""
    with one_thread():
        torch.manual_seed(seed)
        network = from_hyperparameters(hyperparameters, classes)
        trainer = ImageClassifierTrainer(network, network, hyperparameters, torch.from_numpy(inputs),
                                         torch.from_numpy(targets), torch.Generator().manual_seed(seed))
        for epoch in range(epochs):
            trainer.epoch()
            if progress is not None:
                progress((epoch + 1) * trainer.steps_per_epoch, epochs * trainer.steps_per_epoch)
    return weights_of(network)
