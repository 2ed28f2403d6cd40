"""Benchmark: snn_bptt_sparse — train the LIF network through time to the val accuracy target
with about 1% of hidden neuron-steps spiking."""

from accelbench.benchmark_tests import test_run, test_score  # collected by pytest as this module's tests

WORKLOAD = "snn_bptt_sparse"

__all__ = ["WORKLOAD", "test_run", "test_score"]
