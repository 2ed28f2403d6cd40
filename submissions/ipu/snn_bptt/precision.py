"""fp16 as the closed division allows it: "bf16/fp16 synaptic currents, with membrane potentials,
thresholds and the loss in fp32".

The weights become fp16, so the synaptic matrix products and their currents are fp16; the
neuron constants (threshold, beta) go back to float32, and the network keeps its membranes,
spikes, firing rates and logits in float32 (`network.SpikingNetwork.forward`), so the loss is
float32. Plain torch, tested on CPU; PopTorch 3.x takes casts and mixed models as they are
(graphcore/poptorch docs/user_guide/supported_ops.rst, "16-bit float operations").
"""

from __future__ import annotations

import torch
from torch import nn

from accelbench.submissions.ipu.snn_bptt.network import LeakyState

PRECISIONS = ("fp16", "fp32")


def half_synapses(network: nn.Module) -> nn.Module:
    """Cast `network`'s weights to fp16 in place, keeping its neuron constants as they were
    (casting them to fp16 and back would make beta 0.9502 instead of float32's 0.95)."""
    kept = {
        module: {name: buffer.clone() for name, buffer in module.named_buffers(recurse=False)}
        for module in network.modules()
        if isinstance(module, LeakyState)
    }
    network.half()
    for module, buffers in kept.items():
        for name, buffer in buffers.items():
            setattr(module, name, buffer)
    return network


def half_weights(precision: str) -> bool:
    """Whether the precision hyperparameter asks for fp16 weights and currents."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision {precision!r} is not one of {PRECISIONS}")
    return precision == "fp16"


def feed_dtype(half: bool) -> torch.dtype:
    """The dtype the 0/1 spikes are fed in (exact in either)."""
    return torch.half if half else torch.float32
