"""What every IPU submission shares: the plan PopTorch's options follow (one replica per process,
its batch arithmetic, the executable cache, the poprun check), the PopTorch calls every workload
makes, and feeding eval inputs through fixed-batch executors while the IPU switches between
them. Plain Python where it can be, so it is tested on CPU; the SDK calls sit in `poplar`."""
