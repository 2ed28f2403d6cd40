"""mcmc_alpha on NVIDIA GPUs: the reference's TensorFlow Probability sampler, every chain batched as
one (chains, parameters) state in one XLA program on the GPU, with TF32 off (see session.py).

Tested on the CPU build path only (`session_on`): the GPU path has not run on a GPU yet
(benchmarks/check_a100_mcmc_alpha.py runs it there through the harness).
"""

from __future__ import annotations

from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.a100.mcmc_alpha.session import create_session

HYPERPARAMETERS: dict[str, HyperparameterValue] = {"precision": "fp32"}
"""Merged over the rules' reference values. The closed rules fix precision at fp32 and chains at the
reference's value per scale (2 at smoke, 4 above), so chains is left to the rules, never set here."""

__all__ = ["HYPERPARAMETERS", "create_session"]
