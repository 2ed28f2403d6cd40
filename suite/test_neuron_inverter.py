"""Benchmark: neuron_inverter — train the CNN+FC regressor until val MSE meets the target."""

from accelbench.benchmark_tests import test_run, test_score  # collected by pytest as this module's tests

WORKLOAD = "neuron_inverter"

__all__ = ["WORKLOAD", "test_run", "test_score"]
