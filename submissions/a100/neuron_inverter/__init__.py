"""neuron_inverter on NVIDIA GPUs: bf16 autocast, TF32, fused AdamW, torch.compile, the shard
on the GPU, DDP over NCCL (see session.py)."""

from accelbench.submissions.a100.neuron_inverter.session import create_session

HYPERPARAMETERS = {"precision": "bf16"}
"""Merged by the runner over the rules' reference hyperparameters."""

__all__ = ["HYPERPARAMETERS", "create_session"]
