"""The mcmc_alpha sampling session for NVIDIA GPUs.

Closed division: the reference's log posterior and adaptive HMC kernel (`tfp_model.Chains`) run
unchanged, every chain batched in one (chains, parameters) state, compiled by XLA
(`jit_compile=True`) and placed on the GPU with `tf.device`. The rules ask for float32, and
TensorFlow runs float32 matmuls and einsums on Ampere and later GPUs in TF32 by default (10
mantissa bits, the loss TFP itself warns about for MCMC), so the GPU path switches TF32 off.

`create_session`, which the runner calls, refuses a TensorFlow that sees no GPU; `session_on`
builds the same session on any TensorFlow device, so the tests run the GPU path's code on the CPU.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from accelbench.contracts.sampling import DrawBlock, SamplingContext, SamplingSession
from accelbench.errors import UserError
from accelbench.reference.mcmc_alpha.tfp_model import Chains, require_tensorflow
from accelbench.rules.schema import HyperparameterValue


class GpuSamplingSession(SamplingSession):
    """Every chain batched in one XLA program on `tf_device` ('/GPU:0', or '/CPU:0' in tests).

    Each call runs inside `tf.device(tf_device)`: the chains' state and kernel results, created
    there in the constructor, stay on the device between calls, and only the block's draws come
    back to the host."""

    def __init__(self, context: SamplingContext, tf: ModuleType, tfp: ModuleType, tf_device: str,
                 tf32: bool) -> None:
        self.context, self.tf, self.tf_device, self.tf32 = context, tf, tf_device, tf32
        with tf.device(tf_device):
            self.chains = Chains(tf, tfp, context, jit_compile=True)
        self.framework = f"tensorflow {tf.__version__}, tensorflow-probability {tfp.__version__}"

    def synchronize(self) -> None:
        """Every method below already returns only after its program's outputs reached the host
        (`Chains` converts them to numpy), so nothing is queued when the harness reads its clock;
        TensorFlow's own device barrier makes that explicit."""
        self.tf.test.experimental.sync_devices()

    def warm_up(self) -> None:
        with self.tf.device(self.tf_device):
            self.chains.compile(self.context.draws_per_block)

    def burn_in(self) -> DrawBlock:
        with self.tf.device(self.tf_device):
            return self.chains.burn_in()

    def draw(self, count: int) -> DrawBlock:
        with self.tf.device(self.tf_device):
            return self.chains.advance(count, keep_states=True)

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        return {"framework": self.framework, "tf_device": self.tf_device, "xla": True, "tf32": self.tf32,
                "chains_batched": True}


def session_on(context: SamplingContext, tf_device: str) -> GpuSamplingSession:
    """The session on any TensorFlow device, TF32 left as TensorFlow has it (the CPU has none)."""
    tf, tfp = require_tensorflow()
    tf32 = tf.config.experimental.tensor_float_32_execution_enabled()
    return GpuSamplingSession(context, tf, tfp, tf_device, tf32=tf32)


def tensorflow_device(torch_device: str) -> str:
    """TensorFlow's name for the runner's CUDA device: 'cuda:3' -> '/GPU:3' ('cuda' -> '/GPU:0').
    Both frameworks number the GPUs the process sees in CUDA's order."""
    _, _, index = torch_device.partition(":")
    return f"/GPU:{index or 0}"


def create_session(context: SamplingContext) -> GpuSamplingSession:
    tf, tfp = require_tensorflow()
    if not tf.config.list_physical_devices("GPU"):
        raise UserError(f"the a100 mcmc_alpha submission samples on an NVIDIA GPU, but TensorFlow {tf.__version__} "
                        "sees none: run inside the Dockerfile.gpu image (tensorflow[and-cuda]) or use --device=cpu")
    tf.config.experimental.enable_tensor_float_32_execution(False)  # process-global: the rules' float32
    return GpuSamplingSession(context, tf, tfp, tensorflow_device(context.device), tf32=False)
