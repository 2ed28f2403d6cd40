"""A TensorFlow/Keras peer of the lstm_inference model, holding the same trained weights, so that
the outputs of the two frameworks can be compared and their throughput measured side by side
(Graphcore's finance baseline ran this model in TensorFlow).

Keras 3, the `keras` that TensorFlow 2.21 installs (and what `tf.keras` is there), on its
TensorFlow backend. tf-keras (Keras 2), which the suite's `tf` extra installs for TensorFlow
Probability, is a separate package this peer does not touch: it would only take `tf.keras` over
with TF_USE_LEGACY_KERAS=1 set. TensorFlow is imported inside `keras_model_from_weights` only, so
the suite imports and runs without it; install it with `pip install 'accelbench[tf]'`.

The mapping. Both frameworks order the four gates (input, forget, cell, output) and compute
c = f*c + i*tanh(g), h = o*tanh(c) with sigmoid gates, which are Keras's LSTM defaults. PyTorch
stores W_ih (4H, in), W_hh (4H, H) and two biases; Keras kernel (in, 4H), recurrent_kernel
(H, 4H) and one bias: kernel = W_ih.T, recurrent_kernel = W_hh.T, bias = b_ih + b_hh (setting the
weights makes the initializers, unit_forget_bias included, irrelevant). Dense kernel is the
Linear's weight transposed. PyTorch's model is time-major; the Keras model takes
(batch, steps, features), as the windows are stored.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from accelbench.errors import UserError
from accelbench.reference.lstm_inference.model import FEATURES, HIDDEN, LAYERS

# How closely the peer's fp32 outputs follow the reference's (np.allclose): the two frameworks
# round differently (~6e-9 apart on outputs of ~6e-3), a wrong mapping is off by ~1e-3 or more.
RTOL, ATOL = 1e-5, 1e-7


def expected_shapes() -> dict[str, tuple[int, ...]]:
    """The reference's state_dict names and shapes, which the peer needs, all of them, exactly."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(LAYERS):
        inputs = FEATURES if layer == 0 else HIDDEN
        shapes[f"lstm.weight_ih_l{layer}"] = (4 * HIDDEN, inputs)
        shapes[f"lstm.weight_hh_l{layer}"] = (4 * HIDDEN, HIDDEN)
        shapes[f"lstm.bias_ih_l{layer}"] = (4 * HIDDEN,)
        shapes[f"lstm.bias_hh_l{layer}"] = (4 * HIDDEN,)
    shapes["head.weight"] = (1, HIDDEN)
    shapes["head.bias"] = (1,)
    return shapes


def keras_layer_weights(weights: Mapping[str, np.ndarray]) -> list[list[np.ndarray]]:
    """Per Keras layer (the LSTMs, then the Dense), its `set_weights` list, from the reference's
    weights by state_dict name; a missing, extra or mis-shaped array is a UserError."""
    shapes = expected_shapes()
    missing = [name for name in shapes if name not in weights]
    if missing:
        raise UserError(f"lstm_inference weights for the Keras peer: missing {', '.join(missing)}")
    extra = sorted(set(weights) - set(shapes))
    if extra:
        raise UserError(f"lstm_inference weights for the Keras peer: unexpected {', '.join(extra)}")
    arrays = {name: np.asarray(weights[name], dtype=np.float32) for name in shapes}
    for name, shape in shapes.items():
        if arrays[name].shape != shape:
            raise UserError(f"lstm_inference weights for the Keras peer: {name} has shape "
                            f"{arrays[name].shape}, expected {shape}")
    layers = [
        [arrays[f"lstm.weight_ih_l{layer}"].T, arrays[f"lstm.weight_hh_l{layer}"].T,
         arrays[f"lstm.bias_ih_l{layer}"] + arrays[f"lstm.bias_hh_l{layer}"]]
        for layer in range(LAYERS)
    ]
    layers.append([arrays["head.weight"].T, arrays["head.bias"]])
    return [[np.ascontiguousarray(array) for array in layer] for layer in layers]


def keras_model_from_weights(weights: Mapping[str, np.ndarray]):
    """A float32 Keras model, (batch, steps, features) -> (batch, 1), computing what
    `model_from_weights(weights)` computes."""
    layer_weights = keras_layer_weights(weights)  # check the weights before the slow import
    try:
        import keras
    except ImportError as error:
        raise UserError(f"the Keras peer needs TensorFlow ({error}); install it with: "
                        "pip install 'accelbench[tf]'") from None
    if keras.backend.backend() != "tensorflow":
        raise UserError(f"the Keras peer runs on Keras's TensorFlow backend, not {keras.backend.backend()!r}: "
                        "set KERAS_BACKEND=tensorflow")
    layers = [keras.layers.LSTM(HIDDEN, return_sequences=layer < LAYERS - 1, dtype="float32")
              for layer in range(LAYERS)]
    model = keras.Sequential([keras.Input((None, FEATURES), dtype="float32"), *layers,
                              keras.layers.Dense(1, dtype="float32")])
    for layer, arrays in zip(model.layers, layer_weights, strict=True):
        layer.set_weights(arrays)
    return model
