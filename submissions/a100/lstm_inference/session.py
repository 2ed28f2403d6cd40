"""The lstm_inference serving session for NVIDIA GPUs.

Closed division: the reference's LSTMRegressor and trained weights, made faster only in the ways
the rules allow — the weights cast to the precision's dtype (fp16 by default; bf16; fp32 with or
without TF32) so cuDNN's fused LSTM runs on tensor cores, the QSL's samples held in device memory
in that dtype, a CUDA graph per small batch size (see common/buckets.py), and host transfers through
pinned buffers. The harness splits queries into batches of at most batch_size, so nothing is
batched or cached across queries here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from accelbench.contracts.inference import InferenceContext, InferenceSession
from accelbench.errors import UserError
from accelbench.reference.lstm_inference.model import model_from_weights
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.a100.common.buckets import (
    GRAPH_BATCH_SIZES,
    bucket_for,
    graph_buckets,
    padded_rows,
)
from accelbench.submissions.a100.common.graphs import CapturedForward
from accelbench.submissions.a100.common.precision import Precision, claim_device, precision_for


class A100LSTMSession(InferenceSession):
    """The reference model in `precision` on `device`, answering from samples held there.

    CUDA graphs and pinned host buffers are used only when `device` is a CUDA device; on any
    other (the CPU tests) the same code runs eagerly with ordinary host buffers, so CI checks the
    numerics and the sample bookkeeping of the path the GPU runs. `create_session`, which the
    runner calls, accepts CUDA devices only. `graph_batch_sizes` are the candidate buckets
    (those up to `batch_size` are captured); an empty tuple serves every batch eagerly."""

    def __init__(self, weights: Mapping[str, np.ndarray], precision: Precision, batch_size: int,
                 device: torch.device, graph_batch_sizes: Sequence[int] = GRAPH_BATCH_SIZES) -> None:
        on_gpu = device.type == "cuda"
        self.precision, self.batch_size, self.device = precision, batch_size, device
        self.model = model_from_weights(weights).to(device=device, dtype=precision.dtype)
        self.model.lstm.flatten_parameters()  # one contiguous weight buffer for cuDNN (elsewhere a no-op)
        self.graph_batch_sizes = graph_buckets(batch_size, graph_batch_sizes) if on_gpu else ()
        self.graphs: dict[int, CapturedForward] = {}
        self.samples = torch.empty(0, dtype=precision.dtype, device=device)  # torch.cat skips this (0,) tensor
        self.rows: dict[int, int] = {}  # sample index -> its row in self.samples
        self.host_rows = torch.empty(batch_size, dtype=torch.int64, pin_memory=on_gpu)
        self.host_outputs = torch.empty((batch_size, self.model.head.out_features), dtype=torch.float32,
                                        pin_memory=on_gpu)

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def warm_up(self, inputs: np.ndarray) -> None:
        """One eager pass over the whole warm-up batch (the largest a query can bring), then a
        graph per bucket, smallest first."""
        with torch.no_grad():
            batch = self._upload(inputs)
            self._forward(batch)
            for size in self.graph_batch_sizes:
                static_inputs = torch.zeros((size, *batch.shape[1:]), dtype=batch.dtype, device=self.device)
                self.graphs[size] = CapturedForward(self._forward, static_inputs)

    def load_samples(self, indices: Sequence[int], inputs: np.ndarray) -> None:
        """Append the samples to the held tensor, cast to the model's dtype on the device; a sample
        loaded again replaces its old row."""
        arriving = set(indices)
        staying = [index for index in self.rows if index not in arriving]
        self.samples = torch.cat([self._held(staying), self._upload(inputs)])
        self.rows = _row_map([*staying, *indices])

    def unload_samples(self, indices: Sequence[int]) -> None:
        """Compact the held tensor to the samples still needed, freeing the rest."""
        leaving = set(indices)
        staying = [index for index in self.rows if index not in leaving]
        self.samples = self._held(staying)
        self.rows = _row_map(staying)

    def predict(self, indices: Sequence[int]) -> np.ndarray:
        """Gather the samples on the device by a row tensor sent from the pinned buffer, replay the
        smallest graph that holds them (padded) or run eagerly, and copy the outputs back."""
        count = len(indices)
        bucket = bucket_for(count, tuple(self.graphs))
        rows = self._device_rows(padded_rows([self.rows[index] for index in indices], bucket or count))
        with torch.no_grad():
            if bucket is None:
                outputs = self._forward(self.samples.index_select(0, rows))
            else:
                outputs = self.graphs[bucket](self.samples, rows)
        return self._to_host(outputs[:count])

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        cudnn = f", cuDNN {torch.backends.cudnn.version()}" if self.device.type == "cuda" else ""
        return {
            "precision": self.precision.name,
            "framework": f"torch {torch.__version__}{cudnn}",
            "cuda_graphs": bool(self.graphs),
            "cuda_graph_batch_sizes": ",".join(str(size) for size in self.graphs),
        }

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch).float()

    def _upload(self, inputs: np.ndarray) -> torch.Tensor:
        """float32 rows onto the device, then cast there (the host never converts)."""
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.device).to(self.precision.dtype)

    def _held(self, indices: Sequence[int]) -> torch.Tensor:
        """The held samples of `indices`, in that order, as a new tensor."""
        rows = torch.tensor([self.rows[index] for index in indices], dtype=torch.int64, device=self.device)
        return self.samples.index_select(0, rows)

    def _device_rows(self, rows: Sequence[int]) -> torch.Tensor:
        """`rows` on the device, written into the pinned buffer and copied without blocking (the
        buffer is free again once `predict` has synchronized)."""
        staged = self.host_rows[: len(rows)]
        staged.numpy()[:] = rows
        return staged.to(self.device, non_blocking=True)

    def _to_host(self, outputs: torch.Tensor) -> np.ndarray:
        """The outputs through the pinned buffer, as a float32 array the caller owns."""
        host = self.host_outputs[: len(outputs)]
        host.copy_(outputs, non_blocking=True)
        self.synchronize()
        return host.numpy().copy()


def _row_map(indices: Sequence[int]) -> dict[int, int]:
    return {index: row for row, index in enumerate(indices)}


def create_session(context: InferenceContext) -> A100LSTMSession:
    if torch.device(context.device).type != "cuda":
        raise UserError(f"the a100 lstm_inference submission serves from an NVIDIA GPU, not {context.device!r}: "
                        "run with --device=a100, or --device=cpu for the reference")
    precision = precision_for(str(context.hyperparameters["precision"]))
    return A100LSTMSession(context.weights, precision, context.batch_size, claim_device(context.device, precision))
