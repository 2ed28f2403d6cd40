"""The serving session the a100 inference submissions share.

Both efficientnet and lstm_inference serve LoadGen from the QSL's samples held on the GPU: one
tensor of them, compacted as samples are unloaded, gathered per request by a row tensor sent
through a pinned buffer, run through a CUDA graph per bucket (`graphs`, `buckets`) or the plain
forward, and copied back through another pinned buffer. What differs, the model, its precision and
how the samples are uploaded, is the subclass's; on a CPU device the same code runs eagerly with
ordinary host buffers, so CI checks the numerics and the bookkeeping of the path the GPU runs.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from accelbench.contracts.inference import InferenceSession
from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.a100.common.buckets import bucket_for, graph_buckets, padded_rows
from accelbench.submissions.a100.common.graphs import CapturedForward, Forward
from accelbench.submissions.a100.common.precision import Precision


class HeldSamplesSession(InferenceSession):
    """Answers requests from samples held on `device`, by `forward` or a graph of it per bucket.

    A subclass sets `precision`, `device` and `model`, then calls this `__init__` with the forward
    to serve and graph, and supplies `_forward` and `_upload`. `graph_batch_sizes` are the
    candidate buckets (those up to `batch_size` are captured, on a CUDA device only); an empty
    tuple serves every batch through `forward` without graphs."""

    precision: Precision
    device: torch.device
    model: torch.nn.Module

    def __init__(self, forward: Forward, batch_size: int, outputs: int, sample_dtype: torch.dtype,
                 graph_batch_sizes: Sequence[int]) -> None:
        on_gpu = self.device.type == "cuda"
        self.forward = forward
        self.graph_batch_sizes = graph_buckets(batch_size, graph_batch_sizes) if on_gpu else ()
        self.graphs: dict[int, CapturedForward] = {}
        self.samples = torch.empty(0, dtype=sample_dtype, device=self.device)  # torch.cat skips this (0,) tensor
        self.rows: dict[int, int] = {}  # sample index -> its row in self.samples
        self.host_rows = torch.empty(batch_size, dtype=torch.int64, pin_memory=on_gpu)
        self.host_outputs = torch.empty((batch_size, outputs), dtype=torch.float32, pin_memory=on_gpu)

    @abc.abstractmethod
    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        """float32 outputs of a batch of held samples."""

    @abc.abstractmethod
    def _upload(self, inputs: np.ndarray) -> torch.Tensor:
        """The QSL's samples on the device, as they are held there."""

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def warm_up(self, inputs: np.ndarray) -> None:
        """One pass over the whole warm-up batch (the largest a query can bring; a compiled forward
        compiles for it), then a graph per bucket, smallest first (their warm-up passes compile a
        compiled forward for the dynamic batch dimension)."""
        with torch.no_grad():
            batch = self._upload(inputs)
            self.forward(batch)
            for size in self.graph_batch_sizes:
                static_inputs = torch.zeros((size, *batch.shape[1:]), dtype=batch.dtype, device=self.device)
                self.graphs[size] = CapturedForward(self.forward, static_inputs)

    def load_samples(self, indices: Sequence[int], inputs: np.ndarray) -> None:
        """Append the uploaded samples to the held tensor on the device; a sample loaded again
        replaces its old row."""
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
        smallest graph that holds them (padded) or run the forward, and copy the outputs back."""
        count = len(indices)
        bucket = bucket_for(count, tuple(self.graphs))
        rows = self._device_rows(padded_rows([self.rows[index] for index in indices], bucket or count))
        with torch.no_grad():
            if bucket is None:
                outputs = self.forward(self.samples.index_select(0, rows))
            else:
                outputs = self.graphs[bucket](self.samples, rows)
        return self._to_host(outputs[:count])

    def logged_hyperparameters(self) -> Mapping[str, HyperparameterValue]:
        cudnn = f", cuDNN {torch.backends.cudnn.version()}" if self.device.type == "cuda" else ""
        return {
            "precision": self.precision.name,
            "framework": f"torch {torch.__version__}{cudnn}",
            **self._logged_options(),
            "cuda_graphs": bool(self.graphs),
            "cuda_graph_batch_sizes": ",".join(str(size) for size in self.graphs),
        }

    def _logged_options(self) -> Mapping[str, HyperparameterValue]:
        """What a subclass logs besides the precision, framework and graphs."""
        return {}

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
