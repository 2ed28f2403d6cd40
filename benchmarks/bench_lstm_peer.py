"""Offline throughput of lstm_inference's model: the PyTorch reference vs its TensorFlow/Keras peer, in one run.

    pip install -e '.[tf]'   # TensorFlow 2.21 (brings Keras 3), TensorFlow Probability, tf-keras
    python benchmarks/bench_lstm_peer.py [--batch 256] [--repeats 7] [--threads N] [--seed 0] [--xla]

Why: Graphcore's finance baseline ran this model in TensorFlow; before a number for our PyTorch
reference is set beside theirs we want to know that TensorFlow computes the same outputs from
the same weights, and how fast each framework runs the same forward pass on the same machine.

Setup. The weights of `LSTMRegressor()` after torch.manual_seed(seed) (the throughput does not
depend on their values, so no trained weights are needed), loaded into both models; one batch
of standard normal windows (batch, 200, 16) float32, held by each framework as its own tensor
before timing. The outputs must agree to keras_peer's RTOL/ATOL, or the script exits non-zero.
Both frameworks get `--threads` threads (torch intra- and inter-op, TensorFlow intra- and
inter-op), default the CPUs this process may use.

The fast path of each. PyTorch: `model(windows)` under torch.inference_mode, which runs
oneDNN's fused RNN kernel (aten::mkldnn_rnn_layer) per layer. Keras: the model called under
`tf.function`, one compiled graph of Keras 3's LSTM loop (on the CPU it has no fused kernel;
cuDNN's is for GPUs). That is the same graph that `predict_on_batch` runs, without converting
the input from numpy on every call, so both sides time exactly one forward pass of a tensor
they already hold. XLA (`--xla`, jit_compile=True) is not reliably faster: in trials on a 2-core
CPU it took 0.94 s against 1.02 s per batch of 256 on one thread, but 1.75 s against 1.46 s on two.

Timing: one uncounted warm-up each (Keras traces its graph there), then `--repeats` passes
interleaved (torch, Keras, torch, ...) so that load on a shared machine hits both alike; each
pass ends with the output copied to numpy. Samples/s is batch / median seconds. Torch's
OpenMP threads lose far more than TensorFlow's thread pool when other processes share the
cores: on a busy machine compare `--threads 1`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable

import numpy as np
import torch

from accelbench.errors import UserError
from accelbench.reference.lstm_inference.keras_peer import ATOL, RTOL, keras_model_from_weights
from accelbench.reference.lstm_inference.model import FEATURES, LSTMRegressor, model_from_weights, weights_of

STEPS = 200  # the dataset's window, steps in rules/v1/lstm_inference.toml


def seconds_of(forward: Callable[[], np.ndarray]) -> float:
    start = time.perf_counter()
    forward()
    return time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--xla", action="store_true", help="compile the Keras graph with XLA (jit_compile=True)")
    args = parser.parse_args(argv)

    try:
        import tensorflow as tf
    except ImportError as error:
        sys.exit(f"bench_lstm_peer: tensorflow is not importable ({error}); install it with: "
                 "pip install -e '.[tf]'")
    import keras

    # Before either framework starts its thread pools.
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)

    torch.manual_seed(args.seed)
    weights = weights_of(LSTMRegressor())
    windows = np.random.default_rng(args.seed).standard_normal((args.batch, STEPS, FEATURES)).astype(np.float32)
    torch_model = model_from_weights(weights)
    try:
        keras_model = keras_model_from_weights(weights)
    except UserError as error:
        sys.exit(f"bench_lstm_peer: {error}")
    torch_windows, tf_windows = torch.from_numpy(windows), tf.constant(windows)
    keras_graph = tf.function(lambda batch: keras_model(batch, training=False), jit_compile=args.xla)

    def torch_forward() -> np.ndarray:
        with torch.inference_mode():
            return torch_model(torch_windows).numpy()

    def keras_forward() -> np.ndarray:
        return keras_graph(tf_windows).numpy()

    print(f"torch {torch.__version__}, tensorflow {tf.__version__}, keras {keras.__version__}; threads "
          f"{args.threads} each (torch intra/inter-op, TF intra/inter-op); batch {args.batch}, {STEPS} steps, "
          f"{FEATURES} features, fp32")
    torch_outputs, keras_outputs = torch_forward(), keras_forward()  # also the warm-ups
    difference = float(np.abs(torch_outputs - keras_outputs).max())
    print(f"outputs: max abs diff {difference:.2e} (max |output| {np.abs(torch_outputs).max():.2e}), "
          f"tolerance rtol {RTOL:g} atol {ATOL:g}")
    if not np.allclose(keras_outputs, torch_outputs, rtol=RTOL, atol=ATOL):
        sys.exit("bench_lstm_peer: the Keras peer's outputs differ from the PyTorch reference's")

    seconds: dict[str, list[float]] = {"torch": [], "keras": []}
    for _ in range(args.repeats):
        seconds["torch"].append(seconds_of(torch_forward))
        seconds["keras"].append(seconds_of(keras_forward))
    print(f"Offline, batch {args.batch} forward passes, {args.repeats} interleaved repeats after 1 warm-up each:")
    labels = {"torch": "pytorch (inference_mode)", "keras": f"keras (tf.function{', XLA' if args.xla else ''})"}
    for name, values in seconds.items():
        print(f"  {labels[name]:29s}  median {statistics.median(values):.3f} s  min {min(values):.3f} s  "
              f"{args.batch / statistics.median(values):,.1f} samples/s")
    # torch's samples/s over TensorFlow's is TensorFlow's seconds over torch's
    ratios = [keras_s / torch_s for torch_s, keras_s in zip(seconds["torch"], seconds["keras"], strict=True)]
    ratio = statistics.median(seconds["keras"]) / statistics.median(seconds["torch"])
    print(f"per-repeat ratios torch/tf (samples/s) {min(ratios):.2f}..{max(ratios):.2f}")
    print(f"ratio torch/tf = {ratio:.2f} (samples/s of the medians, same run; above 1 torch is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
