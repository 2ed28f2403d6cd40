"""Reference implementations, one folder per workload: data generator, model, training loop."""
