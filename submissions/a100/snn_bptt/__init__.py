"""snn_bptt (both variants) on NVIDIA GPUs: a fused LIF time loop (custom autograd function,
compiled on CUDA), the readout in closed form, event-driven spike propagation where measured
to pay, bf16 autocast with fp32 membranes and loss, TF32, fused Adam, the split on the GPU,
DDP over NCCL (see session.py)."""

from accelbench.submissions.a100.snn_bptt.session import create_session

HYPERPARAMETERS = {"precision": "bf16"}
"""Merged by the runner over the rules' reference hyperparameters."""

__all__ = ["HYPERPARAMETERS", "create_session"]
