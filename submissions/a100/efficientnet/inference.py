"""The efficientnet serving session for NVIDIA GPUs (both variants: the hyperparameters name one).

Closed division: the reference's timm B0 with the served fp32 weights, made faster only in the ways
the rules allow — autocast to the precision's dtype (fp16 by default, bf16, or fp32 with or without
TF32) with the convolutions' and the classifier's weights cast to it once (autocast would recast
them in every forward: a kernel per layer, which a batch of one waits for; the rounding is the
same), the norm layers left in fp32 as autocast has them, channels-last weights and activations,
torch.compile, the QSL's uint8 samples held on the GPU (the network normalises them there), a CUDA
graph per power-of-two batch size up to batch_size, and host transfers through pinned buffers. The
harness splits queries into batches of at most batch_size, so nothing is batched or cached across
queries here.

Every batch size up to the largest closed one (1024) gets a graph, not only the small ones: at
32 px even 1024 images are expected to be under a millisecond of GPU work, about what launching
B0's few hundred kernels (fewer once compiled) takes; at 224 px the large graphs gain little and
cost memory (each keeps its own pool: all of them together about twice the largest). A request of
n images replays the smallest graph that holds them, its rows padded (`common.serving`, with
`common.buckets` and `common.graphs`, shared with lstm_inference).

On a CPU device the same code runs eagerly, in the default layout and without graphs, so CI checks
its numerics and sample bookkeeping against the reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from accelbench.contracts.inference import InferenceContext
from accelbench.reference.efficientnet.model import from_hyperparameters, load_weights
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.a100.common.precision import claim_device, precision_for
from accelbench.submissions.a100.common.serving import HeldSamplesSession

HYPERPARAMETERS = {
    "precision": "fp16",
    "batch_size": 1024,
    "single_stream_expected_latency_ms": 0.25,
    "offline_expected_qps": 100000.0,
}
"""Merged by the runner over the rules' reference hyperparameters: fp16 rather than bf16 because
an A100 runs both at the same rate and fp16 rounds 8 times finer, while a normalised network's
activations stay far below its 65504 (inference has no gradients to underflow); the largest closed
batch for Offline. The LoadGen claims are guesses, not yet measured on a GPU, set fast on purpose:
a run sized for a faster system only lasts longer, one sized for a slower system misses its
minimum duration and is INVALID. benchmarks/check_a100_efficientnet.py measures what to claim."""

GRAPH_BATCH_SIZES = tuple(2**k for k in range(11))
"""1 to 1024, the closed division's batch sizes: every request up to batch_size replays a graph."""


class A100EfficientNetSession(HeldSamplesSession):
    """The reference model in `precision` on the context's device, answering from samples held there.

    Channels-last, torch.compile, CUDA graphs and pinned host buffers are used only on a CUDA
    device. `graph_batch_sizes` are the candidate graphs (those up to batch_size are captured); an
    empty tuple serves every batch through the compiled network without graphs."""

    def __init__(self, context: InferenceContext, graph_batch_sizes: Sequence[int] = GRAPH_BATCH_SIZES) -> None:
        hp = context.hyperparameters
        self.precision = precision_for(str(hp["precision"]))
        self.device = claim_device(context.device, self.precision)
        on_gpu = self.device.type == "cuda"
        classes = int(context.dataset_parameters["classes"])
        self.model = load_weights(from_hyperparameters(hp, classes), context.weights).eval().to(self.device)
        for module in self.model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                module.to(self.precision.dtype)  # what autocast would cast them to
        if on_gpu:
            self.model.to(memory_format=torch.channels_last)
        super().__init__(torch.compile(self._forward) if on_gpu else self._forward, context.batch_size, classes,
                         torch.uint8, graph_batch_sizes)

    def _logged_options(self) -> Mapping[str, HyperparameterValue]:
        on_gpu = self.device.type == "cuda"
        return {"channels_last": on_gpu, "torch_compile": on_gpu}

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        """float32 logits of uint8 images, the network under the precision's autocast."""
        with self.precision.autocast_on(self.device.type):
            return self.model(images).float()

    def _upload(self, inputs: np.ndarray) -> torch.Tensor:
        """The uint8 images onto the device (the network normalises them there)."""
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.uint8)).to(self.device)


def create_session(context: InferenceContext) -> A100EfficientNetSession:
    return A100EfficientNetSession(context)
