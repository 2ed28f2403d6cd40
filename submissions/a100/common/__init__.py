"""What every A100 submission shares: the precision settings and the device claim, where a
shard lives and how batches are drawn from it, the optimizer step without host waits, and the
session parts that do not depend on the workload (the clock's synchronize, the epoch loop, DDP), and for
serving the session that answers from samples held on the GPU (`serving`), the CUDA graph per batch
size (`graphs`) and the padding of a request onto one (`buckets`)."""
