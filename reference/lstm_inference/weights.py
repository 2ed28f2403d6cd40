"""The recipe that trains lstm_inference's weights, once, when its data are generated.

Adam on the mean squared error of the next return, over the training split in a seeded order,
back-propagating through the last `train_window` steps of each window (the factors forget their
past within a few dozen steps, so the shorter window learns the same filter at a quarter of the
cost; the model is run over all 200 steps at inference). One CPU thread, so the same torch
version computes the same bits on any x86-64 machine, whatever its core count.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from accelbench.reference.cpu_threads import one_thread
from accelbench.reference.lstm_inference.model import LSTMRegressor, weights_of

RECIPE = (
    "Adam (betas 0.9, 0.999) on the MSE of the next return, batches in a seeded order, through the last "
    "train_window steps of each training window, on one CPU thread; weights as float32 arrays named by state_dict"
)


def train(
    inputs: np.ndarray,
    targets: np.ndarray,
    *,
    seed: int,
    epochs: int,
    batch_size: int,
    learning_rate: float,
    train_window: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, np.ndarray]:
    """The trained parameters, by state_dict name, from the training split's windows and targets."""
    generator = torch.Generator().manual_seed(seed)
    with one_thread():
        torch.manual_seed(seed)
        model = LSTMRegressor()
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        windows = torch.from_numpy(np.ascontiguousarray(inputs[:, -train_window:]))
        next_return = torch.from_numpy(targets)
        steps, total = 0, epochs * ((len(windows) + batch_size - 1) // batch_size)
        for _ in range(epochs):
            order = torch.randperm(len(windows), generator=generator)
            for start in range(0, len(order), batch_size):
                rows = order[start : start + batch_size]
                loss = torch.mean((model(windows[rows]) - next_return[rows]) ** 2)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                steps += 1
                if progress is not None:
                    progress(steps, total)
    return weights_of(model)
