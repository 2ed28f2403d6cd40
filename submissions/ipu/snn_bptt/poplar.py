"""Every call into the Graphcore SDK (PopTorch 3.4, PopDist) that this submission makes.

None of these calls has ever run: there is no IPU and no Poplar SDK where this was written, and
the submission has never been compiled by PopTorch, let alone trained on an IPU. Each call was
checked against public sources (stored versions of graphcore/poptorch and graphcore/examples,
SDK 3.x-era but not pinned to the sdk/poptorch/3.4.0 tag).

Shared with every IPU submission (`accelbench.submissions.ipu.common.poplar`, whose
`PopTorch` this module extends; its docstring says where each was checked):

- poptorch.Options() with .replicationFactor, .deviceIterations, .Training.gradientAccumulation,
  .randomSeed, .enableExecutableCaching, .outputMode(poptorch.OutputMode.All), and
  .Precision.setPartialsType(torch.half) only when `config.SubmissionSettings.half_partials`;
  under poprun popdist.poptorch.Options(ipus_per_replica=1) instead, after popdist.init().
- poptorch.trainingModel(model, options=, optimizer=), poptorch.inferenceModel(model, options=).
- poptorch.DataLoader(options, dataset, batch_size=, shuffle=True, drop_last=True,
  auto_distributed_partitioning=False, mode=poptorch.DataLoaderMode.Sync or .Async).
- The executor methods the session calls: compile, __call__, isAttachedToDevice,
  attachToDevice, detachFromDevice.
- The guarded `import poptorch` (common.poplar.load, cached per process), which raises
  the one-line UserError when the SDK is missing.

New here:

- poptorch.optim.Adam(params, lr=, betas=, eps=, weight_decay=0.0, accum_type=torch.float32,
  first_order_momentum_accum_type=torch.float32, second_order_momentum_accum_type=torch.float32):
  the class and accum_type in graphcore/poptorch tests/optimizers_test.py (test_IR_accum_type
  builds poptorch.optim.Adam(params, lr=, accum_type=)); the two momentum keywords as
  graphcore/examples pass them to poptorch.optim.Adam and AdamW. The two stored python/optim.py
  versions read have no Adam class, so its constructor itself was not read. The accumulation
  and moment types are float32 by request rather than by default: with fp16 weights, fp16
  second moments of small gradients would flush to zero and blow the update up.
- poptorch.identity_loss(loss, reduction="none"): graphcore/poptorch python/ops.py (marks the
  custom loss as the start of PopTorch's backward pass; "none" leaves the scalar as it is).

Not SDK calls, but what the traced graph relies on: Tensor.detach as a gradient stop (see
`spike`), and aten ops that docs/user_guide/supported_ops.rst lists (linear, atan, gt, mean,
stack, amax, casts, cross_entropy via log-softmax/NLL; constant-index slicing).
"""

from __future__ import annotations

from typing import Any

import torch

from accelbench.submissions.ipu.common import poplar as shared


class SpikingPopTorch(shared.PopTorch):
    """The shared PopTorch layer plus the calls this workload adds.

    The training module holds `identity_loss` as a bound method of this object; copying the
    module (deepcopy) must not try to copy the SDK modules, so a copy is this same object."""

    def __copy__(self) -> SpikingPopTorch:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> SpikingPopTorch:
        return self

    def adam(
        self, parameters: Any, *, lr: float, betas: tuple[float, float], eps: float
    ) -> torch.optim.Optimizer:
        return self.poptorch.optim.Adam(
            parameters,
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=0.0,
            accum_type=torch.float32,
            first_order_momentum_accum_type=torch.float32,
            second_order_momentum_accum_type=torch.float32,
        )

    def identity_loss(self, loss: torch.Tensor) -> torch.Tensor:
        return self.poptorch.identity_loss(loss, reduction="none")


def load() -> SpikingPopTorch:
    """The SDK's modules (imported once per process by the shared loader), or its
    one-line UserError."""
    base = shared.load()
    return SpikingPopTorch(base.poptorch, base.popdist)
