"""One chain of the reference's sampler, as each IPU replica runs it: the reference's log posterior and
adaptive HMC kernel (`accelbench.reference.mcmc_alpha.tfp_model`) over a (1, parameters) state, with
a (1, 1) step size adapted on that chain alone, as the reference adapts each of its chains.

A program call is a pure function of host-held inputs: every chain's state, kernel results and seed,
stacked over the chains, and the replica's index, which picks its own row. It runs `steps` steps and
returns that chain's states, log posteriors, acceptance and final kernel results, which the host
stacks again (`replicas`) and feeds to the next call. Needs TensorFlow and TensorFlow Probability,
not the Graphcore SDK: the tests run it on the CPU, one replica after another.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import numpy as np

from accelbench.contracts.sampling import SamplingContext
from accelbench.reference.mcmc_alpha.tfp_model import adaptive_kernel, log_posterior
from accelbench.submissions.ipu.mcmc_alpha.replicas import stacked

DTYPE = "float32"


class OneChainProgram:
    """The kernel of one chain and the body of its program call; `results_template` is the structure
    of its kernel results, to rebuild them from their flattened tensors."""

    def __init__(self, tf: ModuleType, tfp: ModuleType, context: SamplingContext) -> None:
        self.tf, self.tfp = tf, tfp
        step_size = tf.fill([1, 1], tf.constant(context.initial_step_size, DTYPE))
        self.kernel = adaptive_kernel(tfp, log_posterior(tf, tfp, context, DTYPE), context, step_size)
        self.results_template = self.kernel.bootstrap_results(tf.constant(context.initial_state[:1], DTYPE))

    def bootstrap(self, initial_state: np.ndarray) -> list[np.ndarray]:
        """Every chain's initial kernel results (its log posterior and gradient at its start), flattened and
        stacked over the chains; computed on the host, once, before the clock starts."""
        with self.tf.device("/device:CPU:0"):
            per_chain = [self.tf.nest.flatten(self.kernel.bootstrap_results(self.tf.constant(row[None], DTYPE)))
                         for row in initial_state]
        return stacked([[np.asarray(tensor) for tensor in results] for results in per_chain])

    def new_step_size(self, flat_results: list[np.ndarray]) -> np.ndarray:
        """The adapted step size in stacked flattened kernel results: (chains, 1, 1)."""
        return self.tf.nest.pack_sequence_as(self.results_template, flat_results).new_step_size

    def body(self, steps: int) -> Callable:
        """(replica, states (chains, 1, P), seeds (chains, 2), *flat results stacked over the chains) ->
        (all states (steps, 1, P), log posteriors (steps, 1), acceptance (steps, 1), *flat final results)
        of the replica's chain."""
        tf, tfp, kernel, template = self.tf, self.tfp, self.kernel, self.results_template

        def trace(_, results):
            inner = results.inner_results
            return inner.accepted_results.target_log_prob, inner.is_accepted

        def one_chain(replica, states, seeds, *flat_results):
            results = tf.nest.pack_sequence_as(template, [tf.gather(t, replica) for t in flat_results])
            outcome = tfp.mcmc.sample_chain(steps, tf.gather(states, replica), previous_kernel_results=results,
                                            kernel=kernel, trace_fn=trace, return_final_kernel_results=True,
                                            seed=tf.gather(seeds, replica))
            log_prob, accepted = outcome.trace
            return (outcome.all_states, log_prob, accepted, *tf.nest.flatten(outcome.final_kernel_results))

        return one_chain
