"""What the harness and the validator compute from a sampling run's draws with the rules and the
workload family's numpy network, so both reach the same numbers without a framework: each
chain's start, the diagnosed summaries (the posterior predictive means of the probe rows) and the
held-out predictive score.
"""

from __future__ import annotations

import importlib
from types import ModuleType

import numpy as np

from accelbench.judging import posterior
from accelbench.rules.schema import BenchmarkRules


def initial_state(seed: int, chains: int, parameters: int, scale: float) -> np.ndarray:
    """(chains, parameters) float32: each chain's own Normal(0, scale) start, from the run's seed."""
    generator = np.random.Generator(np.random.PCG64([seed, 0x5A3]))
    return (generator.standard_normal((chains, parameters)) * scale).astype(np.float32)


def network(rules: BenchmarkRules) -> ModuleType:
    """The family's numpy network (`accelbench.reference.<family>.network`)."""
    return importlib.import_module(f"accelbench.reference.{rules.family}.network")


def summaries(rules: BenchmarkRules, states: np.ndarray, eval_inputs: np.ndarray) -> np.ndarray:
    """(chains, draws, probe rows): the posterior predictive mean of each probe row, draw by draw."""
    assert rules.sampling is not None
    probe = eval_inputs[: rules.sampling.probe_rows]
    return network(rules).predict(states, probe, rules.sampling.model.hidden_units)


def predictive_score(rules: BenchmarkRules, states: np.ndarray, eval_inputs: np.ndarray,
                     eval_targets: np.ndarray) -> float | None:
    """The held-out posterior predictive log-likelihood over every draw in `states`."""
    assert rules.sampling is not None
    model = rules.sampling.model
    predictions = network(rules).predict(states, eval_inputs, model.hidden_units)
    return posterior.predictive_log_likelihood(predictions, eval_targets, model.likelihood_df, model.likelihood_scale)
