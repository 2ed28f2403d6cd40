"""efficientnet_b0_inference: the EfficientNet-B0 depthwise model served under LoadGen (Offline, SingleStream)."""

from accelbench.benchmark_tests import test_inference_run

WORKLOAD = "efficientnet_b0_inference"
__all__ = ["test_inference_run"]
