"""The calls into the Graphcore SDK (PopTorch 3.4, PopDist) that every IPU submission makes;
each workload's `poplar.py` extends `PopTorch` with its own (its optimizer, its losses).

None of these calls has run: there is no IPU and no Poplar SDK where this was written. Each was
checked against public sources (the stored versions of graphcore/poptorch are SDK 3.x-era
files but not pinned to the sdk/poptorch/3.4.0 tag):

- poptorch.Options(), .replicationFactor, .deviceIterations, .Training.gradientAccumulation,
  .randomSeed, .enableExecutableCaching, .outputMode, poptorch.OutputMode.All,
  .Precision.setPartialsType: graphcore/poptorch python/options.py;
  docs/user_guide/batching.rst (a host call runs deviceIterations x gradientAccumulation
  micro-batches; outputMode All returns the result of every batch; Final is the training
  default); the seed's poptorch/toolbox/Trainer.py (balewski/neuron_inverter_benchmark).
- popdist.isPopdistEnvSet, popdist.init, popdist.poptorch.Options(ipus_per_replica=1):
  graphcore/examples tutorials/feature_examples/pytorch/popdist/popdist_training.py and
  vision/cnns/pytorch/train/train.py; graphcore/poptorch's popdist options test (which shows
  that replicationFactor is refused on popdist options: poprun sets it).
- poptorch.trainingModel(model, options=, optimizer=), poptorch.inferenceModel(model,
  options=): graphcore/examples tutorials/tutorials/pytorch/mixed_precision/walkthrough.py
  (commit 3cc8f81, 2024).
- poptorch.DataLoader(options, dataset, batch_size=, shuffle=, drop_last=,
  auto_distributed_partitioning=, mode=) and poptorch.DataLoaderMode.Sync/Async:
  graphcore/poptorch python/_dataloader.py (the combined batch is batch_size x
  deviceIterations x replicationFactor x gradientAccumulation; with
  auto_distributed_partitioning=False the shuffling is plain torch's).
- The executor methods the session calls (compile, __call__, setOptimizer,
  copyWeightsToDevice, isAttachedToDevice, attachToDevice, detachFromDevice):
  graphcore/poptorch python/_poplar_executor.py.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
from torch import nn

from accelbench.errors import UserError
from accelbench.submissions.ipu.common.plan import IpuPlan


class PopTorch:
    """The PopTorch calls every IPU submission makes, bound to the imported SDK modules.

    `popdist` is the popdist module when poprun launched this process, else None."""

    def __init__(self, poptorch: Any, popdist: Any = None) -> None:
        self.poptorch = poptorch
        self.popdist = popdist

    def options(self, plan: IpuPlan, *, training: bool) -> Any:
        """poptorch.Options for the training executor and its DataLoader, or for inference."""
        if self.popdist is not None:
            options = self.popdist.poptorch.Options(ipus_per_replica=1)
        else:
            options = self.poptorch.Options()
            options.replicationFactor(plan.replicas_per_process)
        options.deviceIterations(plan.device_iterations)
        if training:
            options.Training.gradientAccumulation(plan.gradient_accumulation)
        options.randomSeed(plan.seed)
        Path(plan.executable_cache_dir).mkdir(parents=True, exist_ok=True)
        options.enableExecutableCaching(plan.executable_cache_dir)
        # Every micro-batch's predictions and loss, not only the last (training's default).
        options.outputMode(self.poptorch.OutputMode.All)
        if plan.fp16:
            options.Precision.setPartialsType(torch.half)
        return options

    def training_executor(
        self, model: nn.Module, options: Any, optimizer: torch.optim.Optimizer
    ) -> Any:
        return self.poptorch.trainingModel(model, options=options, optimizer=optimizer)

    def inference_executor(self, model: nn.Module, options: Any) -> Any:
        return self.poptorch.inferenceModel(model, options=options)

    def loader(
        self, options: Any, dataset: torch.utils.data.Dataset, plan: IpuPlan, asynchronous: bool
    ) -> Any:
        """This rank's shard in whole host batches, reshuffled every epoch from torch's global
        generator. The suite shards the data itself, so PopTorch must not partition it again
        across instances."""
        modes = self.poptorch.DataLoaderMode
        return self.poptorch.DataLoader(
            options,
            dataset,
            batch_size=plan.micro_batch,
            shuffle=True,
            drop_last=True,
            auto_distributed_partitioning=False,
            mode=modes.Async if asynchronous else modes.Sync,
        )


@functools.lru_cache(maxsize=1)
def load() -> PopTorch:
    """The SDK's modules, imported once per process (popdist.init must run only once); each
    workload binds its own calls to them.

    GCDA_MONITOR=1 makes the application publish its IPUs' power sensors, which the suite's
    board meter reads (Graphcore's monitoring docs); it must be set before the device opens."""
    os.environ.setdefault("GCDA_MONITOR", "1")
    try:
        import poptorch
    except ImportError:
        raise UserError(
            "the IPU submissions need poptorch from the Poplar SDK 3.4 (PopTorch 3.4, torch "
            "2.0.1), which is not installed: run inside the Dockerfile.ipu image or use "
            "--device=cpu"
        ) from None
    return PopTorch(poptorch, _popdist_if_launched())


def _popdist_if_launched() -> ModuleType | None:
    """popdist, initialised, when poprun started this process; None otherwise."""
    try:
        import popdist
        import popdist.poptorch
    except ImportError:
        return None
    if not popdist.isPopdistEnvSet():
        return None
    popdist.init()
    return popdist
