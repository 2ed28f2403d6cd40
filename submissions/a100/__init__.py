"""The NVIDIA CUDA system: submissions tuned for A100-class GPUs (any recent NVIDIA GPU runs them),
one process per GPU, several GPUs through torch.distributed over NCCL."""
