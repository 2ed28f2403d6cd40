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
n images replays the smallest graph that holds them, its rows padded (`common.buckets` and `common.graphs`,
shared with lstm_inference).

On a CPU device the same code runs eagerly, in the default layout and without graphs, so CI checks
its numerics and sample bookkeeping against the reference.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

from accelbench.contracts.inference import InferenceContext, InferenceSession
from accelbench.reference.efficientnet.model import from_hyperparameters, load_weights
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.a100.common.buckets import bucket_for, graph_buckets, padded_rows
from accelbench.submissions.a100.common.graphs import CapturedForward
from accelbench.submissions.a100.common.precision import claim_device, precision_for

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


class A100EfficientNetSession(InferenceSession):
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
        self.forward = torch.compile(self._forward) if on_gpu else self._forward
        self.graph_batch_sizes = graph_buckets(context.batch_size, graph_batch_sizes) if on_gpu else ()
        self.graphs: dict[int, CapturedForward] = {}
        self.samples = torch.empty(0, dtype=torch.uint8, device=self.device)  # torch.cat skips this (0,) tensor
        self.rows: dict[int, int] = {}  # sample index -> its row in self.samples
        self.host_rows = torch.empty(context.batch_size, dtype=torch.int64, pin_memory=on_gpu)
        self.host_outputs = torch.empty((context.batch_size, classes), dtype=torch.float32, pin_memory=on_gpu)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def warm_up(self, inputs: np.ndarray) -> None:
        """One pass over the whole warm-up batch (compiling for it), then a graph per batch size,
        smallest first (their warm-up passes compile for the dynamic batch dimension)."""
        with torch.no_grad():
            batch = self._upload(inputs)
            self.forward(batch)
            for size in self.graph_batch_sizes:
                static_inputs = torch.zeros((size, *batch.shape[1:]), dtype=batch.dtype, device=self.device)
                self.graphs[size] = CapturedForward(self.forward, static_inputs)

    def load_samples(self, indices: Sequence[int], inputs: np.ndarray) -> None:
        """Append the uint8 images to the held tensor on the device; a sample loaded again replaces its row."""
        arriving = set(indices)
        staying = [index for index in self.rows if index not in arriving]
        self.samples = torch.cat([self._held(staying), self._upload(inputs)])
        self.rows = {index: row for row, index in enumerate([*staying, *indices])}

    def unload_samples(self, indices: Sequence[int]) -> None:
        """Compact the held tensor to the samples still needed, freeing the rest."""
        leaving = set(indices)
        staying = [index for index in self.rows if index not in leaving]
        self.samples = self._held(staying)
        self.rows = {index: row for row, index in enumerate(staying)}

    def predict(self, indices: Sequence[int]) -> np.ndarray:
        """Gather the images on the device by a row tensor sent from the pinned buffer, replay the
        smallest graph that holds them (padded) or run the network, and copy the logits back."""
        count = len(indices)
        bucket = bucket_for(count, tuple(self.graphs))
        rows = self._device_rows(padded_rows([self.rows[index] for index in indices], bucket or count))
        with torch.no_grad():
            if bucket is None:
                logits = self.forward(self.samples.index_select(0, rows))
            else:
                logits = self.graphs[bucket](self.samples, rows)
        return self._to_host(logits[:count])

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        on_gpu = self.device.type == "cuda"
        cudnn = f", cuDNN {torch.backends.cudnn.version()}" if on_gpu else ""
        return {
            "precision": self.precision.name,
            "framework": f"torch {torch.__version__}{cudnn}",
            "channels_last": on_gpu,
            "torch_compile": on_gpu,
            "cuda_graphs": bool(self.graphs),
            "cuda_graph_batch_sizes": ",".join(str(size) for size in self.graphs),
        }

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        """float32 logits of uint8 images, the network under the precision's autocast."""
        with self.precision.autocast_on(self.device.type):
            return self.model(images).float()

    def _upload(self, inputs: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.uint8)).to(self.device)

    def _held(self, indices: Sequence[int]) -> torch.Tensor:
        """The held images of `indices`, in that order, as a new tensor."""
        rows = torch.tensor([self.rows[index] for index in indices], dtype=torch.int64, device=self.device)
        return self.samples.index_select(0, rows)

    def _device_rows(self, rows: Sequence[int]) -> torch.Tensor:
        """`rows` on the device, written into the pinned buffer and copied without blocking (the
        buffer is free again once `predict` has synchronized)."""
        staged = self.host_rows[: len(rows)]
        staged.numpy()[:] = rows
        return staged.to(self.device, non_blocking=True)

    def _to_host(self, logits: torch.Tensor) -> np.ndarray:
        """The logits through the pinned buffer, as a float32 array the caller owns."""
        host = self.host_outputs[: len(logits)]
        host.copy_(logits, non_blocking=True)
        self.synchronize()
        return host.numpy().copy()


def create_session(context: InferenceContext) -> A100EfficientNetSession:
    return A100EfficientNetSession(context)
