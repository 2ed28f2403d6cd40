"""lstm_inference on NVIDIA GPUs: cuDNN's LSTM with fp16 weights, the QSL's samples on the GPU,
CUDA graphs for the small batches, pinned host transfers (see session.py).

Tested on the CPU's eager path only so far: the CUDA graphs and pinned buffers have not run on a
GPU yet (benchmarks/check_a100_lstm_inference.py and the CUDA tests check them there)."""

from accelbench.submissions.a100.lstm_inference.session import create_session

HYPERPARAMETERS = {
    "precision": "fp16",
    "batch_size": 1024,
    "single_stream_expected_latency_ms": 0.5,
    "multi_stream_expected_latency_ms": 1.0,
    "offline_expected_qps": 100000.0,
    "server_target_qps": 1000.0,
}
"""Merged by the runner over the rules' reference hyperparameters: fp16 because cuDNN's RNN takes
it on every version (bf16 needs a recent torch and cuDNN to reach it), and the largest closed
batch for Offline; smaller queries use the graphs. The LoadGen claims are guesses, not yet
measured on a GPU: the expected latencies and Offline rate are set high on purpose (a run sized
for a faster system only lasts longer; one sized for a slower system misses its minimum
duration and is INVALID); the Server rate is a claim to tune with
benchmarks/check_a100_lstm_inference.py on the first GPU."""

__all__ = ["HYPERPARAMETERS", "create_session"]
