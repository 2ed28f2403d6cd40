"""fp16 as the seed's port ran it: weights and inputs in half precision, the batch-norm running
statistics in float32 ("use fp32 for batchnorm to improve convergence", the seed's commit).

The seed (PopTorch 2.x, tracing frontend) called model.half() and set
opts.Precision.runningStatisticsAlwaysFloat(True). PopTorch 3.x builds graphs through the
dispatcher, where that option is not supported; its user guide (graphcore/poptorch
docs/user_guide/supported_ops.rst, "16-bit float migration") says to cast the running-statistic
tensors back to float32 before running the model instead, which is what this module does. The
batch norm's affine weight and bias stay fp16, as they did in the seed.
"""

from __future__ import annotations

import torch
from torch import nn

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def half_with_float_statistics(network: nn.Module) -> nn.Module:
    """Cast `network` to fp16 in place, then its batch-norm running mean and variance back to
    float32; returns it."""
    network.half()
    for module in network.modules():
        if isinstance(module, BATCH_NORMS) and module.running_mean is not None:
            module.running_mean = module.running_mean.float()
            module.running_var = module.running_var.float()
    return network


def io_dtype(fp16: bool) -> torch.dtype:
    """The dtype of the inputs and targets fed to the executors (the seed fed fp16 inputs)."""
    return torch.half if fp16 else torch.float32
