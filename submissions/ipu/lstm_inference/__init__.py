"""lstm_inference on Graphcore IPUs: the reference's two-layer LSTM regressor as two single-layer
LSTMs in fp16, served by PopTorch 3.4 inference executors.

Written for PopTorch 3.4 (Poplar SDK 3.4) and tested on the CPU only: nothing here has run on an
IPU. Importing this package never imports poptorch, so the suite can resolve the implementation
on any machine; `create_session` says in one line when the Poplar SDK is missing.
"""

from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.ipu.lstm_inference.session import create_session

HYPERPARAMETERS: dict[str, HyperparameterValue] = {
    "precision": "fp16",
    "batch_size": 1024,
    "single_stream_expected_latency_ms": 0.5,
    "multi_stream_expected_latency_ms": 1.0,
    "offline_expected_qps": 100000.0,
    "server_target_qps": 1000.0,
}
"""Merged over the rules' reference values: fp16 weights and activations, as Graphcore's LSTM
benchmark ran, and host calls of 1024 samples (the largest batch its finance deck names), four
forward passes of 256 on the device; both inside the closed division. The LoadGen claims are
unmeasured guesses set high on purpose (a run sized for a faster system only lasts longer); the
Server rate must be tuned on an IPU."""

__all__ = ["HYPERPARAMETERS", "create_session"]
