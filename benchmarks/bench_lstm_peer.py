"""Offline throughput of lstm_inference's model: the PyTorch reference vs its TensorFlow/Keras peer, in one run.

    pip install -e '.[tf]'   # TensorFlow 2.21 (brings Keras 3), TensorFlow Probability, tf-keras
    pytest benchmarks/bench_lstm_peer.py --benchmark-only [--bench-scale smoke] [--bench-threads N]

Why: Graphcore's finance baseline ran this model in TensorFlow; before a number for our PyTorch
reference is set beside theirs we want to know that TensorFlow computes the same outputs from
the same weights, and how fast each framework runs the same forward pass on the same machine.

Setup. The weights of `LSTMRegressor()` after torch.manual_seed(0) (the throughput does not
depend on their values, so no trained weights are needed), loaded into both models; one batch
of standard normal windows (batch, 200, 16) float32, held by each framework as its own tensor
before timing. The outputs must agree to keras_peer's RTOL/ATOL, or the benchmark fails.
Both frameworks get --bench-threads threads (torch intra- and inter-op, TensorFlow intra- and
inter-op), default the CPUs this process may use.

The fast path of each. PyTorch: `model(windows)` under torch.inference_mode, which runs
oneDNN's fused RNN kernel (aten::mkldnn_rnn_layer) per layer. Keras: the model called under
`tf.function`, one compiled graph of Keras 3's LSTM loop (on the CPU it has no fused kernel;
cuDNN's is for GPUs). That is the same graph that `predict_on_batch` runs, without converting
the input from numpy on every call, so both sides time exactly one forward pass of a tensor
they already hold. XLA (jit_compile=True) is not reliably faster: in trials on a 2-core CPU it
took 0.94 s against 1.02 s per batch of 256 on one thread, but 1.75 s against 1.46 s on two, so
the graph is not compiled with it.

Timing: one uncounted warm-up each (Keras traces its graph there), then the size's repeats
interleaved (Keras, torch, Keras, ...) so that load on a shared machine hits both alike;
pytest-benchmark times torch's passes, each ending with the output copied to numpy. Samples/s
is batch / median seconds. Torch's OpenMP threads lose far more than TensorFlow's thread pool
when other processes share the cores: on a busy machine compare `--bench-threads 1`.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

import numpy as np
import torch
from rounds import run_rounds, seconds_of

from accelbench.reference.lstm_inference.keras_peer import ATOL, RTOL, keras_model_from_weights
from accelbench.reference.lstm_inference.model import FEATURES, LSTMRegressor, model_from_weights, weights_of

STEPS = 200  # the dataset's window, steps in rules/v1/lstm_inference.toml
SEED = 0


@dataclass(frozen=True)
class Size:
    batch: int
    repeats: int


SIZES = {"smoke": Size(batch=32, repeats=3), "small": Size(batch=256, repeats=7), "full": Size(batch=256, repeats=7)}


def test_torch_vs_keras_offline(benchmark, goal_ratio, bench_scale, bench_threads, tensorflow):
    import keras

    tf, size = tensorflow, SIZES[bench_scale]
    torch.set_num_threads(bench_threads)
    if torch.get_num_interop_threads() != bench_threads:
        torch.set_num_interop_threads(bench_threads)
    torch.manual_seed(SEED)
    weights = weights_of(LSTMRegressor())
    windows = np.random.default_rng(SEED).standard_normal((size.batch, STEPS, FEATURES)).astype(np.float32)
    torch_model, keras_model = model_from_weights(weights), keras_model_from_weights(weights)
    torch_windows, tf_windows = torch.from_numpy(windows), tf.constant(windows)
    keras_graph = tf.function(lambda batch: keras_model(batch, training=False))

    def torch_forward() -> np.ndarray:
        with torch.inference_mode():
            return torch_model(torch_windows).numpy()

    def keras_forward() -> np.ndarray:
        return keras_graph(tf_windows).numpy()

    torch_outputs, keras_outputs = torch_forward(), keras_forward()  # also the warm-ups
    difference = float(np.abs(torch_outputs - keras_outputs).max())
    assert np.allclose(keras_outputs, torch_outputs, rtol=RTOL, atol=ATOL), \
        f"the Keras peer's outputs differ from the PyTorch reference's by up to {difference:.2e}"

    rounds = run_rounds(benchmark, lambda: seconds_of(torch_forward), size.repeats,
                        peer=lambda: seconds_of(keras_forward))

    # torch's samples/s over TensorFlow's is TensorFlow's seconds over torch's
    ratio = 1 / rounds.ratio_of_medians()
    per_repeat = [1 / r for r in rounds.pair_ratios()]
    benchmark.extra_info.update(
        torch_version=torch.__version__, tensorflow_version=tf.__version__, keras_version=keras.__version__,
        threads=bench_threads, batch=size.batch, steps=STEPS, features=FEATURES, repeats=size.repeats,
        max_abs_output_diff=difference, torch_samples_per_s=size.batch / statistics.median(rounds.subject),
        keras_samples_per_s=size.batch / statistics.median(rounds.peer), per_repeat_ratio_min=min(per_repeat),
        per_repeat_ratio_max=max(per_repeat))
    print(f"outputs: max abs diff {difference:.2e}; samples/s torch "
          f"{size.batch / statistics.median(rounds.subject):,.1f}, keras {size.batch / statistics.median(rounds.peer):,.1f}"
          f"; per-repeat ratios {min(per_repeat):.2f}..{max(per_repeat):.2f}")
    goal_ratio("torch / tf samples/s (of the medians; above 1 torch is faster)", ratio, "none set")
