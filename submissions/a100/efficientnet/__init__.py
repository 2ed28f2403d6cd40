"""efficientnet (EfficientNet-B0, depthwise and g16) on NVIDIA GPUs, one module per kind: `training`
(bf16 autocast, channels-last, torch.compile, the uint8 shard on the GPU, DDP over NCCL) and
`inference` (fp16 autocast, channels-last, torch.compile, a CUDA graph per batch size, the QSL's
uint8 samples on the GPU). Both run the reference's network unchanged, and training its optimizer,
schedule and loss.

On a CPU device the same code runs eagerly, without the layout, compilation or graphs, so CI checks
its numerics against the reference. None of it has run on a GPU yet: benchmarks/check_a100_efficientnet.py
checks the CUDA path there and measures its images/s."""
