"""What the IPU system is configured with for a run, and each chain's seeds, as plain data: tested on
the CPU (`poplar.py` hands the plan to the SDK).

One chain per IPU, as Graphcore's mcmc_tfp example ran: `auto_select_ipus` = chains makes one
TensorFlow device (/device:IPU:0) of that many IPUs, and a program that fits one IPU is replicated
once per IPU (the SDK's "Replicated graphs": the IPU count must be a multiple of the program's
shards, here 1), so each replica runs one chain.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from accelbench.contracts.sampling import SamplingContext
from accelbench.errors import UserError

PRECISIONS = ("fp32",)
"""The closed rules fix fp32; fp16 on the IPU would change every sum in the log density."""


@dataclass(frozen=True)
class IpuSystemPlan:
    """The IPUConfig of the run and the TF_POPLAR_FLAGS it runs under."""

    ipus: int
    """IPUConfig.auto_select_ipus: one IPU per chain."""
    ipu_model: bool
    """TF_POPLAR_FLAGS has --use_ipu_model: the SDK's IPU simulator, whose documentation says it does
    not support replicated graphs, so only a one-chain run can use it."""
    executable_cache: str | None
    """TF_POPLAR_FLAGS --executable_cache_path, where Poplar keeps compiled programs between runs."""

    @property
    def replicas(self) -> int:
        """One replica of the one-IPU program on every IPU: one per chain."""
        return self.ipus


def poplar_flags(environ: Mapping[str, str]) -> tuple[bool, str | None]:
    """(--use_ipu_model given, the --executable_cache_path value or None) from $TF_POPLAR_FLAGS."""
    flags = environ.get("TF_POPLAR_FLAGS", "").split()
    cache = next((flag.partition("=")[2] for flag in flags if flag.startswith("--executable_cache_path=")), None)
    return "--use_ipu_model" in flags, cache or None


def ipu_count(chains: int) -> int:
    """The IPUs for `chains` chains, or a one-line UserError: IPUs come in groups of 1, 2, 4, 8, 16, ...
    (a 16-IPU system's devices are 16 single IPUs and 8 + 4 + 2 + 1 multi-IPU groups, IDs 0 to 30)."""
    if chains < 1 or chains & (chains - 1):
        below = 1 << (chains.bit_length() - 1) if chains > 1 else 1
        raise UserError(f"chains = {chains}: the IPU submission runs one chain per IPU, and IPUs are selected in "
                        f"powers of two: use --hparam chains={below} or --hparam chains={below * 2}")
    return chains


def plan_for(context: SamplingContext, environ: Mapping[str, str] = os.environ) -> IpuSystemPlan:
    """The run's plan, or a one-line UserError naming the fix."""
    precision = str(context.hyperparameters["precision"])
    if precision not in PRECISIONS:
        raise UserError(f"precision '{precision}' is not implemented by the IPU mcmc_alpha submission: use "
                        + " or ".join(f"--hparam precision={name}" for name in PRECISIONS))
    ipu_model, cache = poplar_flags(environ)
    return IpuSystemPlan(ipus=ipu_count(context.chains), ipu_model=ipu_model, executable_cache=cache)


def chain_seeds(run_seed: int, call: int, chains: int) -> np.ndarray:
    """(chains, 2) int32: the stateless seed of each chain for one program call, (run seed, call x chains +
    chain), so no two chains or calls share one. With one chain it is the reference's (run seed, call)."""
    seeds = np.empty((chains, 2), dtype=np.int32)
    seeds[:, 0] = run_seed % 2**31
    seeds[:, 1] = call * chains + np.arange(chains)
    return seeds
