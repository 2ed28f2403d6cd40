"""How the rules' batch_size maps onto the IPU executors that serve lstm_inference (the plan
itself: `accelbench.submissions.ipu.common.plan`; the serving shape: `common.serving`).

Two inference executors, each compiled for one input shape, hold the IPU in turn:

- throughput: a host call of exactly `batch_size` samples (the most one `predict` is given)
  runs `device_iterations` forward passes of `micro_batch` samples on the device, so an Offline
  or accuracy-run request costs one host call;
- latency: one pass of `latency_micro_batch` samples per host call, for SingleStream's (and the
  Server's) single samples, which the throughput executor would pad to `batch_size`.

When the two would be the same executor (batch_size 1), there is only one. Plain Python: tested
on the CPU.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from accelbench.contracts.inference import InferenceContext
from accelbench.errors import UserError
from accelbench.submissions.ipu.common.plan import available_precision
from accelbench.submissions.ipu.common.serving import ServingPlan, serving_plan

SETTINGS_FILE = "accelbench/submissions/ipu/lstm_inference/config.py"
PRECISIONS = ("fp16", "fp32")
"""What a GC200 computes natively; the rules' tf32 and bf16 are not IPU number formats."""


@dataclass(frozen=True)
class SubmissionSettings:
    """The choices the rules leave to this submission, in code so the source hash records them.
    None has been tuned on an IPU."""

    micro_batch: int = 256
    """Samples per forward pass of the throughput executor (at most batch_size). The lower
    LSTM's whole output sequence (200 steps x micro-batch x 256) sits in tile memory until the
    upper one reads it: 26 MB in fp16 at 256, of the GC200's 900 MB."""
    latency_micro_batch: int = 1
    """Samples per forward pass (and host call) of the latency executor, which serves every
    request it holds whole; larger ones, MultiStream's eight included, go to the throughput one."""
    half_partials: bool = True
    """With precision fp16, keep the partial sums of matrix products in fp16 too
    (Precision.setPartialsType(torch.half)), as Graphcore's LSTM benchmark could
    (--enable-half-partials); False keeps them in float32 if the accuracy gate needs it.
    PopTorch documents the option for matmuls and convolutions: that PopART hands it to the
    LSTMs' own products, not only to the dense head's, was not checked."""


SETTINGS = SubmissionSettings()


def micro_batch_for(batch_size: int, micro_batch: int) -> int:
    """The throughput executor's micro-batch: `micro_batch`, or the whole batch when that is
    smaller; it must divide batch_size, so a host call is whole forward passes."""
    micro = min(micro_batch, batch_size)
    if batch_size % micro:
        nearest = max(micro, round(batch_size / micro) * micro)
        raise UserError(
            f"batch_size {batch_size} is not a multiple of the IPU micro-batch {micro}: use a "
            f"multiple (e.g. --hparam batch_size={nearest}) or change micro_batch in {SETTINGS_FILE}"
        )
    return micro


def plan_for(
    context: InferenceContext,
    settings: SubmissionSettings = SETTINGS,
    environ: Mapping[str, str] = os.environ,
) -> ServingPlan:
    """The plan for this session, or a one-line UserError naming the fix."""
    precision = available_precision(context.hyperparameters, PRECISIONS)
    micro = micro_batch_for(context.batch_size, settings.micro_batch)
    return serving_plan(precision, context.batch_size, micro, settings.latency_micro_batch, settings.half_partials,
                        context.seed, environ)
