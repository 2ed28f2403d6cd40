"""The mcmc_alpha sampling session for Graphcore IPUs: one chain per IPU, as in the seed.

The host holds every chain's state, kernel results and next seed, stacked over the chains
(`replicas`); each call of the replicated program (`poplar.IpuReplicas`) runs `steps` steps of every
chain at once, one chain per IPU (`chain.OneChainProgram`), and the host re-stacks their draws into
the contract's (chains, steps, ...) blocks. The chains never exchange anything: each replica reads
only its own row. A block's draws have reached the host when `draw` returns (the outfeed's dequeue
waits for the device), so `synchronize` has nothing left to wait for.

The replicas are anything with `replicas` and `run(steps, body, inputs)`: the IPUs here, a CPU
stand-in in the tests, which runs the same body for each replica in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import numpy as np

from accelbench.contracts.sampling import DrawBlock, SamplingContext, SamplingSession
from accelbench.reference.mcmc_alpha.tfp_model import require_tensorflow
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.ipu.mcmc_alpha.chain import OneChainProgram
from accelbench.submissions.ipu.mcmc_alpha.config import IpuSystemPlan, chain_seeds, plan_for
from accelbench.submissions.ipu.mcmc_alpha.poplar import IpuReplicas, require_ipu
from accelbench.submissions.ipu.mcmc_alpha.replicas import draw_block, joined


class Replicas(Protocol):
    replicas: int

    def run(self, steps: int, body: Callable, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """`body(replica index, *inputs)` once on every replica; each output stacked over the replicas."""


class IpuSamplingSession(SamplingSession):
    """Every chain on its own replica of one program, its state carried on the host between calls."""

    def __init__(self, context: SamplingContext, program: OneChainProgram, replicas: Replicas,
                 plan: IpuSystemPlan, framework: str) -> None:
        self.context, self.program, self.replicas, self.plan, self.framework = (
            context, program, replicas, plan, framework)
        self.states = context.initial_state[:, None, :].astype(np.float32)  # (chains, 1, parameters)
        self.results = program.bootstrap(context.initial_state)
        self.calls = 0

    def warm_up(self) -> None:
        """Compile the block program by running it once and dropping what it returns: the chains stay."""
        self._call(self.context.draws_per_block)

    def burn_in(self) -> DrawBlock:
        blocks, remaining = [], self.context.burn_in
        while remaining > 0:
            steps = min(self.context.draws_per_block, remaining)
            blocks.append(self._advance(steps, keep_states=False))
            remaining -= steps
        return joined(blocks)

    def draw(self, count: int) -> DrawBlock:
        return self._advance(count, keep_states=True)

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return {"framework": self.framework, "ipus": self.plan.ipus, "replicas": self.replicas.replicas,
                "chains_per_replica": 1, "xla": True, "ipu_model": self.plan.ipu_model}

    def _call(self, steps: int) -> list[np.ndarray]:
        seeds = chain_seeds(self.context.seed, self.calls, self.context.chains)
        return self.replicas.run(steps, self.program.body(steps), [self.states, seeds, *self.results])

    def _advance(self, steps: int, keep_states: bool) -> DrawBlock:
        all_states, log_prob, accepted, *results = self._call(steps)
        self.calls += 1
        self.states, self.results = all_states[:, -1], results
        return draw_block(all_states, log_prob, accepted, self.program.new_step_size(results), keep_states)


def create_session(context: SamplingContext) -> IpuSamplingSession:
    plan = plan_for(context)
    ipu = require_ipu()
    tf, tfp = require_tensorflow()
    framework = f"tensorflow {tf.__version__} (Graphcore), tensorflow-probability {tfp.__version__}"
    return IpuSamplingSession(context, OneChainProgram(tf, tfp, context), IpuReplicas(tf, ipu, plan), plan, framework)
