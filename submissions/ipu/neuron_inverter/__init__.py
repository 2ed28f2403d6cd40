"""neuron_inverter on Graphcore IPUs: the seed's PopTorch port (Balewski et al., PMBS22) on the
suite's session contract.

Importing this package never imports poptorch, so the suite can resolve the implementation on
any machine; `create_session` says in one line when the Poplar SDK is missing.
"""

from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.ipu.neuron_inverter.session import create_session

HYPERPARAMETERS: dict[str, HyperparameterValue] = {"precision": "fp16"}
"""Merged over the rules' reference values: fp16 as the seed's port ran; the rest stays the
reference's, inside the closed division."""

__all__ = ["HYPERPARAMETERS", "create_session"]
