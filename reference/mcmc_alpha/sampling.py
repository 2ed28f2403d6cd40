"""The reference sampler of mcmc_alpha: TensorFlow Probability's adaptive HMC over every chain at
once, as one (chains, parameters) batch, compiled with XLA and pinned to the host CPU (TensorFlow
would otherwise place it on a GPU it sees, and a `--device=cpu` result would not be the CPU's).
"""

from __future__ import annotations

from collections.abc import Mapping

from accelbench.contracts.sampling import DrawBlock, SamplingContext, SamplingSession
from accelbench.reference.mcmc_alpha.tfp_model import Chains, require_tensorflow
from accelbench.rules.schema import HyperparameterValue

HOST = "/CPU:0"


class ReferenceSamplingSession(SamplingSession):
    """Every chain batched in one XLA program on the host."""

    def __init__(self, context: SamplingContext) -> None:
        tf, tfp = require_tensorflow()
        self.context, self.tf = context, tf
        with tf.device(HOST):
            self.chains = Chains(tf, tfp, context, jit_compile=True)
        self.framework = f"tensorflow {tf.__version__}, tensorflow-probability {tfp.__version__}"

    def warm_up(self) -> None:
        with self.tf.device(HOST):
            self.chains.compile(self.context.draws_per_block)

    def burn_in(self) -> DrawBlock:
        with self.tf.device(HOST):
            return self.chains.burn_in()

    def draw(self, count: int) -> DrawBlock:
        with self.tf.device(HOST):
            return self.chains.advance(count, keep_states=True)

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return {"framework": self.framework, "tf_device": HOST, "xla": True, "chains_batched": True}


def create_session(context: SamplingContext) -> ReferenceSamplingSession:
    return ReferenceSamplingSession(context)
