"""The lstm_inference serving session for NVIDIA GPUs.

Closed division: the reference's LSTMRegressor and trained weights, made faster only in the ways
the rules allow — the weights cast to the precision's dtype (fp16 by default; bf16; fp32 with or
without TF32) so cuDNN's fused LSTM runs on tensor cores, the QSL's samples held in device memory
in that dtype, a CUDA graph per small batch size (see common/buckets.py), and host transfers through
pinned buffers (the bookkeeping shared with efficientnet is `common.serving`). The harness splits queries into batches of at most batch_size, so nothing is
batched or cached across queries here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch

from accelbench.contracts.inference import InferenceContext
from accelbench.errors import UserError
from accelbench.reference.lstm_inference.model import model_from_weights
from accelbench.submissions.a100.common.buckets import GRAPH_BATCH_SIZES
from accelbench.submissions.a100.common.precision import Precision, claim_device, precision_for
from accelbench.submissions.a100.common.serving import HeldSamplesSession


class A100LSTMSession(HeldSamplesSession):
    """The reference model in `precision` on `device`, answering from samples held there.

    CUDA graphs and pinned host buffers are used only when `device` is a CUDA device; on any
    other (the CPU tests) the same code runs eagerly with ordinary host buffers, so CI checks the
    numerics and the sample bookkeeping of the path the GPU runs. `create_session`, which the
    runner calls, accepts CUDA devices only. `graph_batch_sizes` are the candidate buckets
    (those up to `batch_size` are captured); an empty tuple serves every batch eagerly."""

    def __init__(self, weights: Mapping[str, np.ndarray], precision: Precision, batch_size: int,
                 device: torch.device, graph_batch_sizes: Sequence[int] = GRAPH_BATCH_SIZES) -> None:
        self.precision, self.batch_size, self.device = precision, batch_size, device
        self.model = model_from_weights(weights).to(device=device, dtype=precision.dtype)
        self.model.lstm.flatten_parameters()  # one contiguous weight buffer for cuDNN (elsewhere a no-op)
        super().__init__(self._forward, batch_size, self.model.head.out_features, precision.dtype, graph_batch_sizes)

    def _forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.model(batch).float()

    def _upload(self, inputs: np.ndarray) -> torch.Tensor:
        """float32 rows onto the device, then cast there (the host never converts)."""
        return torch.from_numpy(np.ascontiguousarray(inputs, dtype=np.float32)).to(self.device).to(self.precision.dtype)


def create_session(context: InferenceContext) -> A100LSTMSession:
    if torch.device(context.device).type != "cuda":
        raise UserError(f"the a100 lstm_inference submission serves from an NVIDIA GPU, not {context.device!r}: "
                        "run with --device=a100, or --device=cpu for the reference")
    precision = precision_for(str(context.hyperparameters["precision"]))
    return A100LSTMSession(context.weights, precision, context.batch_size, claim_device(context.device, precision))
