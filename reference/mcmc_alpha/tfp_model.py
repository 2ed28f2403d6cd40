"""The posterior in TensorFlow Probability, and the chains that sample it: the reference, and the
GPU and IPU submissions, build the same log density and the same kernel from here.

The log density of a (chains, parameters) batch is the Normal(0, prior_scale) prior of every
parameter plus the Student-t likelihood of every train row, with the network of `network.py`
(tanh hidden layer, the seed's parameter layout). The kernel is TFP's HamiltonianMonteCarlo with
the rules' leapfrog count inside DualAveragingStepSizeAdaptation (a step size per chain, adapted
by dual averaging over the rules' first burn-in steps towards the target acceptance, then fixed
at its average). The seed's `make_simple_step_size_update_policy` is gone from modern TFP, and
its successor SimpleStepSizeAdaptation moves the step by 1% per step, too slowly for a burn-in
of 100 to 200 steps: measured at smoke scale it left the chains at 0.3 acceptance for a 0.75
target. `Chains` runs a fixed number of steps per call
under `tf.function(jit_compile=True)`, carrying the kernel's state across calls, so the burn-in
and every block of draws reuse one compiled program.

TensorFlow is imported by `require_tensorflow`, never at module import: the suite plans and
validates without it.
"""

from __future__ import annotations

import os
from types import ModuleType

import numpy as np

from accelbench.contracts.sampling import DrawBlock, SamplingContext
from accelbench.errors import UserError

TENSORFLOW_EXTRA = "pip install 'accelbench[tf]' (TensorFlow 2.21, TensorFlow Probability 0.25 and tf-keras)"


def require_tensorflow() -> tuple[ModuleType, ModuleType]:
    """(tensorflow, tensorflow_probability), or a one-line error naming the extra to install."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up lines off the console
    try:
        import tensorflow as tf
        import tensorflow_probability as tfp
    except ImportError as err:
        raise UserError(f"mcmc_alpha samples with TensorFlow Probability, which is not importable here "
                        f"({err}): {TENSORFLOW_EXTRA}") from None
    return tf, tfp


def log_posterior(tf: ModuleType, tfp: ModuleType, context: SamplingContext, dtype: str = "float32"):
    """The unnormalised log posterior of a (chains, parameters) batch, as a TF function of it."""
    model = context.model
    tfd = tfp.distributions
    inputs = tf.constant(context.inputs, dtype=dtype)
    targets = tf.constant(context.targets[:, 0], dtype=dtype)
    features, hidden = context.inputs.shape[1], model.hidden_units
    weights = features * hidden
    prior = tfd.Normal(tf.constant(0.0, dtype), tf.constant(model.prior_scale, dtype))
    df, scale = tf.constant(model.likelihood_df, dtype), tf.constant(model.likelihood_scale, dtype)

    def log_prob(state):
        w1 = tf.reshape(state[:, :weights], [-1, features, hidden])
        b1 = state[:, weights:weights + hidden]
        w2 = state[:, weights + hidden:weights + 2 * hidden]
        b2, w3, b3 = state[:, -3:-2], state[:, -2:-1], state[:, -1:]
        activations = tf.tanh(tf.einsum("rf,cfh->crh", inputs, w1) + b1[:, None, :])
        predicted = (tf.einsum("crh,ch->cr", activations, w2) + b2) * w3 + b3
        likelihood = tfd.StudentT(df, predicted, scale).log_prob(targets[None, :])
        return tf.reduce_sum(likelihood, axis=-1) + tf.reduce_sum(prior.log_prob(state), axis=-1)

    return log_prob


def adaptive_kernel(tfp: ModuleType, log_prob, context: SamplingContext, step_size):
    """HMC with the rules' leapfrog count, its step size (one per chain) adapted by dual averaging during burn-in."""
    hmc = tfp.mcmc.HamiltonianMonteCarlo(log_prob, step_size=step_size, num_leapfrog_steps=context.leapfrog_steps)
    return tfp.mcmc.DualAveragingStepSizeAdaptation(hmc, num_adaptation_steps=context.adaptation_steps,
                                                    target_accept_prob=context.target_accept_prob)


class Chains:
    """The chains' state and kernel results, advanced `steps` at a time by one compiled program
    per distinct `steps`; each call draws with its own stateless seed (the run's seed, the call)."""

    def __init__(self, tf: ModuleType, tfp: ModuleType, context: SamplingContext, jit_compile: bool = True,
                 dtype: str = "float32") -> None:
        self.tf, self.tfp, self.context = tf, tfp, context
        log_prob = log_posterior(tf, tfp, context, dtype)
        chains = context.chains
        step_size = tf.fill([chains, 1], tf.constant(context.initial_step_size, dtype))
        self.kernel = adaptive_kernel(tfp, log_prob, context, step_size)
        self.state = tf.constant(context.initial_state, dtype=dtype)
        self.results = self.kernel.bootstrap_results(self.state)
        self.calls = 0
        self.jit_compile = jit_compile
        self._programs: dict[int, object] = {}

    def program(self, steps: int):
        """The compiled run of `steps` steps (built on first use)."""
        if steps not in self._programs:
            tf, tfp, kernel = self.tf, self.tfp, self.kernel

            def trace(_, results):
                inner = results.inner_results
                return inner.accepted_results.target_log_prob, inner.is_accepted

            @tf.function(jit_compile=self.jit_compile)
            def advance(state, results, seed):
                return tfp.mcmc.sample_chain(steps, state, previous_kernel_results=results, kernel=kernel,
                                             trace_fn=trace, return_final_kernel_results=True, seed=seed)

            self._programs[steps] = advance
        return self._programs[steps]

    def _seed(self):
        return self.tf.constant([self.context.seed % 2**31, self.calls], dtype="int32")

    def compile(self, steps: int) -> None:
        """Run `steps` once from the current state and throw the result away: the chains do not move."""
        outcome = self.program(steps)(self.state, self.results, self._seed())
        outcome.all_states.numpy()

    def advance(self, steps: int, keep_states: bool) -> DrawBlock:
        """The next `steps` steps of every chain, as numpy in (chains, steps, ...) order."""
        outcome = self.program(steps)(self.state, self.results, self._seed())
        self.calls += 1
        self.state, self.results = outcome.all_states[-1], outcome.final_kernel_results
        log_prob, accepted = outcome.trace
        step_size = np.asarray(self.results.new_step_size).reshape(self.context.chains)
        states = np.swapaxes(outcome.all_states.numpy(), 0, 1).astype(np.float32) if keep_states else None
        return DrawBlock(states=states, target_log_prob=np.swapaxes(log_prob.numpy(), 0, 1).astype(np.float64),
                         accepted=np.swapaxes(accepted.numpy(), 0, 1), step_size=step_size.astype(np.float64))

    def burn_in(self) -> DrawBlock:
        """The rules' burn-in, one block-sized program at a time (the last call shorter if need be)."""
        blocks, remaining = [], self.context.burn_in
        while remaining > 0:
            steps = min(self.context.draws_per_block, remaining)
            blocks.append(self.advance(steps, keep_states=False))
            remaining -= steps
        return DrawBlock(states=None, target_log_prob=np.concatenate([b.target_log_prob for b in blocks], axis=1),
                         accepted=np.concatenate([b.accepted for b in blocks], axis=1), step_size=blocks[-1].step_size)
