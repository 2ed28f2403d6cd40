"""Benchmark: lstm_inference — serve the two-layer LSTM under MLPerf LoadGen, accuracy gate first."""

from accelbench.benchmark_tests import test_inference_run  # collected by pytest as this module's test

WORKLOAD = "lstm_inference"

__all__ = ["WORKLOAD", "test_inference_run"]
