"""The MLPerf hyperparameter keys every neuron-inverter implementation logs, written once so the
reference and the submissions report the same keys from their live optimizer and schedule."""

from __future__ import annotations

import torch
from mlperf_logging.mllog import constants as mlk

from accelbench.reference.neuron_inverter.schedule import WarmupThenPlateau
from accelbench.rules.schema import HyperparameterValue


def adamw_keys(
    optimizer: torch.optim.Optimizer, schedule: WarmupThenPlateau, global_batch_size: int,
    gradient_accumulation_steps: int = 1,
) -> dict[str, HyperparameterValue]:
    group = optimizer.param_groups[0]
    return {
        mlk.OPT_NAME: mlk.ADAMW,
        mlk.GLOBAL_BATCH_SIZE: global_batch_size,
        mlk.GRADIENT_ACCUMULATION_STEPS: gradient_accumulation_steps,
        mlk.OPT_BASE_LR: schedule.base_lr,
        mlk.OPT_LR_WARMUP_EPOCHS: schedule.warmup_epochs,
        mlk.OPT_ADAMW_BETA_1: group["betas"][0],
        mlk.OPT_ADAMW_BETA_2: group["betas"][1],
        mlk.OPT_ADAMW_EPSILON: group["eps"],
        mlk.OPT_ADAMW_WEIGHT_DECAY: group["weight_decay"],
    }
