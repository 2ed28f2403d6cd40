"""What the IPU submissions share: the plan PopTorch's options follow (`plan`: one replica per
process, its batch arithmetic and device iterations, the precision check, the executable cache,
the poprun check), the PopTorch calls every workload makes (`poplar`), feeding eval inputs through
fixed-batch executors while the IPU switches between them (`executors`), and the inference
submissions' latency and throughput executors (`serving`). Plain Python where it can be, so it is
tested on CPU; the SDK calls sit in `poplar`."""
