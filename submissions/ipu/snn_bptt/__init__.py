"""snn_bptt on Graphcore IPUs: the reference's spiking network and training in plain PopTorch.

The time loop lives inside forward() as a Python loop that PopTorch unrolls when it traces, the
loss is computed inside forward() (`with_loss`), and the spike's arctan surrogate gradient is a
straight-through construction of ordinary tensor ops (`spike`), so no custom autograd function
and no PopART custom op is needed (the `snntorch-ipu` package's surrogates are custom ops built
for a 2022 SDK, and it installs a module named `snntorch` that shadows the reference's). Nothing
here has run on an IPU.

Importing this package never imports poptorch, so the suite can resolve the implementation on
any machine; `create_session` says in one line when the Poplar SDK is missing.
"""

from accelbench.rules.schema import HyperparameterValue
from accelbench.submissions.ipu.snn_bptt.session import create_session

HYPERPARAMETERS: dict[str, HyperparameterValue] = {"precision": "fp16"}
"""Merged over the rules' reference values: fp16 weights and synaptic currents, with membrane
potentials, thresholds and the loss in fp32 (`precision`), which the closed division of both
variants allows; the rest stays the reference's."""

__all__ = ["HYPERPARAMETERS", "create_session"]
