"""fp16 as Graphcore's EfficientNet inference ran it ("16.16": `model.half()`, every weight,
activation and norm statistic in fp16), for the reference's network unchanged. Its training ran
"16.32", with float32 master weights, which PopTorch 3.x gives only through explicit casts; the
training here is "16.16" with stochastic rounding instead (`config.TrainingSettings`).

The reference normalises its uint8 input in float32 (x / 127.5 - 1) before the timm backbone; a
forward pre-hook casts that result to fp16 at the backbone's door, as Graphcore's
NormalizeInputModel(output_cast="half") casts on the IPU. Under PopTorch 3.x's dispatcher a float32
input to fp16 weights would not be cast down but the op computed in float32 (graphcore/poptorch
docs/user_guide/supported_ops.rst, "16-bit float migration"), so the cast must be explicit. The
batch-norm running statistics stay fp16 with the rest: that is what CPU torch can run too, so the
fp16 network tested on the CPU is the one compiled for the IPU. Plain torch.
"""

from __future__ import annotations

import torch
from torch import nn

from accelbench.reference.efficientnet.model import EfficientNetB0


def half_network(network: EfficientNetB0) -> EfficientNetB0:
    """Cast `network` to fp16 in place, its normalised images included; returns it."""
    network.half()
    network.backbone.register_forward_pre_hook(_images_in_half)
    return network


def _images_in_half(backbone: nn.Module, inputs: tuple[torch.Tensor]) -> tuple[torch.Tensor]:
    (images,) = inputs
    return (images.half(),)
