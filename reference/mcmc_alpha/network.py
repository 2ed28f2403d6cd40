"""The network whose posterior mcmc_alpha samples, in numpy: the harness and the validator compute
the posterior predictive from the draws with it, without any framework.

The parameter vector follows the seed's layout (Graphcore's mcmc_tfp): for F features and H hidden
units, W1 (F x H, row-major), b1 (H), W2 (H), then b2, w3 and b3, so F H + 2 H + 3 values (963 for
22 features and 40 units). The prediction is (tanh(x W1 + b1) . W2 + b2) w3 + b3: a tanh layer, a
dense layer to one unit, and a scalar dense layer, the seed's "3 fully connected layers".
"""

from __future__ import annotations

import numpy as np


def parameter_count(features: int, hidden_units: int) -> int:
    return features * hidden_units + 2 * hidden_units + 3


def predict(states: np.ndarray, inputs: np.ndarray, hidden_units: int) -> np.ndarray:
    """(..., rows) float64 predictions of every state in `states` (..., parameters) for `inputs`
    (rows, features)."""
    rows, features = inputs.shape
    flat = np.asarray(states, dtype=np.float64).reshape(-1, states.shape[-1])
    if flat.shape[1] != parameter_count(features, hidden_units):
        raise ValueError(f"states have {flat.shape[1]} parameters, the network over {features} features and "
                         f"{hidden_units} units has {parameter_count(features, hidden_units)}")
    x = inputs.astype(np.float64)
    out = np.empty((len(flat), rows))
    for start in range(0, len(flat), _STATES_PER_PASS):
        out[start:start + _STATES_PER_PASS] = _forward(flat[start:start + _STATES_PER_PASS], x, hidden_units)
    return out.reshape(*states.shape[:-1], rows)


_STATES_PER_PASS = 64  # bounds the (states, rows, hidden) intermediate


def _forward(flat: np.ndarray, x: np.ndarray, hidden_units: int) -> np.ndarray:
    features = x.shape[1]
    weights = features * hidden_units
    w1 = flat[:, :weights].reshape(-1, features, hidden_units)
    b1 = flat[:, weights:weights + hidden_units]
    w2 = flat[:, weights + hidden_units:weights + 2 * hidden_units]
    b2, w3, b3 = flat[:, -3], flat[:, -2], flat[:, -1]
    hidden = np.tanh(np.einsum("rf,sfh->srh", x, w1) + b1[:, None, :])
    return (np.einsum("srh,sh->sr", hidden, w2) + b2[:, None]) * w3[:, None] + b3[:, None]
