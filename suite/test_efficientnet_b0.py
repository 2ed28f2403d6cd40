"""efficientnet_b0: timm's EfficientNet-B0 (depthwise) trained to a top-1 target on fractal images."""

from accelbench.benchmark_tests import test_run, test_score

WORKLOAD = "efficientnet_b0"
__all__ = ["test_run", "test_score"]
