"""The calls into the Graphcore SDK that only the efficientnet submission makes (the shared ones,
and where each was checked, are in `accelbench.submissions.ipu.common.poplar`).

None of these calls has run: there is no IPU and no Poplar SDK where this was written. Each was
checked against stored versions of graphcore/poptorch (SDK 3.x-era, not pinned to the
sdk/poptorch/3.4.0 tag) and graphcore/examples:

- poptorch.optim.AdamW(params, lr=, betas=, eps=, weight_decay=, loss_scaling=, accum_type=,
  first_order_momentum_accum_type=, second_order_momentum_accum_type=): python/optim.py (the
  torch-2.0 signature, a torch.optim.AdamW subclass, bias correction on by default as in torch);
  the float32 gradient-accumulator and moment types are asked for rather than left to the
  default (also float32 there), since with fp16 weights fp16 second moments of small gradients
  would flush to zero; graphcore/examples' fp16 models pass second_order_momentum_accum_type=
  torch.float32 for that reason.
- poptorch.Options().Precision.enableStochasticRounding(True): python/options.py
  (_PrecisionOptions; "recommended for training", not for inference); Graphcore's CNN training
  sets it through the same call (vision/cnns/pytorch/utils/ipu_settings.py).
- poptorch.identity_loss(loss, reduction="none"): python/ops.py; Graphcore's
  TrainingModelWithLoss marks its label-smoothed loss the same way (vision/cnns/pytorch/models/loss.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import torch

from accelbench.submissions.ipu.common import poplar as shared
from accelbench.submissions.ipu.common.plan import IpuPlan


class EfficientNetPopTorch(shared.PopTorch):
    """The shared PopTorch layer plus AdamW with loss scaling, stochastic rounding and the loss marker."""

    def training_options(self, plan: IpuPlan, *, stochastic_rounding: bool) -> Any:
        options = self.options(plan, training=True)
        if stochastic_rounding:
            options.Precision.enableStochasticRounding(True)
        return options

    def adamw(self, reference: torch.optim.Optimizer, *, loss_scaling: float) -> torch.optim.Optimizer:
        """PopTorch's AdamW over `reference`'s parameters with its settings (the reference's `adamw`)."""
        settings = reference.defaults
        return self.poptorch.optim.AdamW(
            reference.param_groups[0]["params"],
            lr=settings["lr"],
            betas=settings["betas"],
            eps=settings["eps"],
            weight_decay=settings["weight_decay"],
            loss_scaling=loss_scaling,
            accum_type=torch.float32,
            first_order_momentum_accum_type=torch.float32,
            second_order_momentum_accum_type=torch.float32,
        )

    def loss_marker(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """poptorch.identity_loss with reduction "none"; a partial of the SDK's function, so copying
        the module that holds it (deepcopy) copies no SDK module."""
        return functools.partial(self.poptorch.identity_loss, reduction="none")


def load() -> EfficientNetPopTorch:
    """The SDK's modules (imported once per process by the shared loader), or its one-line UserError."""
    base = shared.load()
    return EfficientNetPopTorch(base.poptorch, base.popdist)
