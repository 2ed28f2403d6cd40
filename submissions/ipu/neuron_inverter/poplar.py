"""The calls into the Graphcore SDK that only the neuron_inverter submission makes (the shared
ones, and where each was checked, are in `accelbench.submissions.ipu.common.poplar`).

None of these calls has run: there is no IPU and no Poplar SDK where this was written.

- poptorch.optim.AdamW(params, lr=, betas=, eps=, weight_decay=): graphcore/poptorch
  python/optim.py (the torch-2.0 signature); attributes passed explicitly are variable, so
  setOptimizer can change them without recompiling.
"""

from __future__ import annotations

from typing import Any

import torch

from accelbench.submissions.ipu.common import poplar as shared


class NeuronInverterPopTorch(shared.PopTorch):
    """The shared PopTorch layer plus AdamW."""

    def adamw(
        self, parameters: Any, *, lr: float, betas: tuple[float, float], eps: float,
        weight_decay: float,
    ) -> torch.optim.Optimizer:
        return self.poptorch.optim.AdamW(
            parameters, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay
        )


def load() -> NeuronInverterPopTorch:
    """The SDK's modules (imported once per process by the shared loader), or its one-line
    UserError."""
    base = shared.load()
    return NeuronInverterPopTorch(base.poptorch, base.popdist)
