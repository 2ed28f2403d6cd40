"""efficientnet_b0_g16: EfficientNet-B0 g16 (grouped convolutions, group norm) trained to a top-1 target on fractal images."""

from accelbench.benchmark_tests import test_run, test_score

WORKLOAD = "efficientnet_b0_g16"
__all__ = ["test_run", "test_score"]
