"""efficientnet_b0_g16_inference: the EfficientNet-B0 g16 model served under LoadGen (Offline, SingleStream)."""

from accelbench.benchmark_tests import test_inference_run

WORKLOAD = "efficientnet_b0_g16_inference"
__all__ = ["test_inference_run"]
