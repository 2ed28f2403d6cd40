"""Benchmark: mcmc_alpha — sample the Bayesian network's posterior with HMC until R-hat, ESS and
the held-out predictive score meet the rules."""

from accelbench.benchmark_tests import test_sampling_run, test_score  # collected by pytest as this module's tests

WORKLOAD = "mcmc_alpha"

__all__ = ["WORKLOAD", "test_sampling_run", "test_score"]
