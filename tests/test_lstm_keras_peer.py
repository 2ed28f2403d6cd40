"""The Keras peer of lstm_inference's model computes what the PyTorch reference computes from the
same weights, and refuses weights it cannot map; the suite never imports TensorFlow for it."""

import subprocess
import sys

import numpy as np
import pytest
import torch

from accelbench.errors import UserError
from accelbench.reference.lstm_inference.keras_peer import (
    ATOL,
    RTOL,
    keras_layer_weights,
    keras_model_from_weights,
)
from accelbench.reference.lstm_inference.model import LSTMRegressor, model_from_weights, weights_of


@pytest.fixture(scope="module")
def weights():
    torch.manual_seed(0)
    return weights_of(LSTMRegressor())


@pytest.fixture(scope="module")
def windows():
    return np.random.default_rng(0).standard_normal((8, 200, 16)).astype(np.float32)


def torch_outputs(weights, windows):
    with torch.inference_mode():
        return model_from_weights(weights)(torch.from_numpy(windows)).numpy()


def keras_outputs(weights, windows):
    return np.asarray(keras_model_from_weights(weights)(windows, training=False))


def test_keras_peer_matches_the_pytorch_reference(weights, windows):
    expected = torch_outputs(weights, windows)
    assert expected.shape == (8, 1)
    np.testing.assert_allclose(keras_outputs(weights, windows), expected, rtol=RTOL, atol=ATOL)


def test_the_tolerance_catches_a_wrong_mapping(weights, windows):
    """Keras with b_hh left out of its bias (one plausible slip) is out of tolerance."""
    without_hh_bias = {name: np.zeros_like(array) if name.startswith("lstm.bias_hh") else array
                       for name, array in weights.items()}
    assert not np.allclose(keras_outputs(without_hh_bias, windows), torch_outputs(weights, windows),
                           rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("change, message", [
    (lambda w: w.pop("lstm.weight_hh_l1"), "missing lstm.weight_hh_l1"),
    (lambda w: w.update({"lstm.weight_ih_l0": np.zeros((1024, 15), np.float32)}),
     r"lstm.weight_ih_l0 has shape \(1024, 15\), expected \(1024, 16\)"),
    (lambda w: w.update({"head.weight": np.zeros((256,), np.float32)}), "head.weight has shape"),
    (lambda w: w.update({"lstm.weight_ih_l2": np.zeros((1024, 256), np.float32)}), "unexpected lstm.weight_ih_l2"),
])
def test_weights_that_do_not_fit_are_a_one_line_user_error(weights, change, message):
    broken = dict(weights)
    change(broken)
    with pytest.raises(UserError, match=message) as raised:
        keras_layer_weights(broken)
    assert "\n" not in str(raised.value)


def test_the_peer_module_imports_without_tensorflow():
    probe = ("import sys, accelbench.reference.lstm_inference.keras_peer; "
             "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
