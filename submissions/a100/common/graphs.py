"""A forward pass captured as a CUDA graph at one batch size, which the a100 serving submissions
replay per request (`buckets` says which sizes are captured and how a request is padded)."""

from __future__ import annotations

from collections.abc import Callable

import torch

WARM_UP_PASSES = 3
"""Eager passes on a side stream before a capture, as PyTorch's CUDA graph notes ask: cuDNN and
cuBLAS create their handles and workspaces outside the graph."""

Forward = Callable[[torch.Tensor], torch.Tensor]


class CapturedForward:
    """The forward pass at one batch size as a CUDA graph on a static input and output.

    The gather of the requested samples runs just before each replay, into the static input,
    rather than inside the graph: `load_samples` replaces the tensor that holds the samples, and
    a captured gather would keep reading the address it was captured with."""

    def __init__(self, forward: Forward, inputs: torch.Tensor) -> None:
        self.inputs = inputs
        device = inputs.device
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            for _ in range(WARM_UP_PASSES):
                forward(inputs)
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.outputs = forward(inputs)

    def __call__(self, samples: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """The outputs of `samples[rows]` (len(rows) = the graph's batch size), in the static
        output buffer that the next replay overwrites."""
        torch.index_select(samples, 0, rows, out=self.inputs)
        self.graph.replay()
        return self.outputs
