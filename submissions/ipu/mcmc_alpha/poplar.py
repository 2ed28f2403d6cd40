"""Every call into Graphcore's TensorFlow 2 (Poplar SDK 3.4, TensorFlow 2.6) that this submission makes.

None of these calls has run: there is no IPU and no Poplar SDK where this was written. Each was
checked against the stored sources and documentation of graphcore/tensorflow (TF2-era versions,
not pinned to the SDK 3.4 release):

- `from tensorflow.python import ipu`, whose package imports `config`, `ipu_strategy`,
  `ipu_outfeed_queue` and `ops.replication_ops` (tensorflow/python/ipu/__init__.py).
- ipu.config.IPUConfig(), .auto_select_ipus = N, .configure_ipu_system(): docs/device_selection.rst
  ("auto_select_ipus allows you to specify a quantity of IPUs"; the one device /device:IPU:0).
- ipu.ipu_strategy.IPUStrategy(), strategy.scope(), strategy.run(fn, args=) with fn a
  tf.function(jit_compile=True): docs/targeting_tf2.rst and targeting_tf2_example1.py; ipu_strategy.py
  refuses an eager fn, refuses float64 inputs and outputs, and syncs the device after the call.
- ipu.ipu_outfeed_queue.IPUOutfeedQueue() (no arguments in TF2; the replication factor is the
  program's), .enqueue(tuple) inside the program, .dequeue() on the host: its docstring gives the
  dequeued shape (enqueues, replication factor, ...) for a replicated program and (enqueues, ...) for
  one replica, and, run eagerly on the enqueuing thread, waits for the device to finish.
- ipu.replication_ops.replication_index(): the replica's index inside a replicated program
  (tensorflow/python/ipu/ops/replication_ops.py).
- docs/perf_training.rst, "Replicated graphs": auto_select_ipus a multiple of the program's shards
  replicates it; "Replicated graphs are not supported when running on an IPU Model".
- The stateless random ops TFP's HMC draws with: the plugin registers StatelessRandomNormal(V2) and
  StatelessRandomUniform(V2) for the IPU with float32 and int32 seeds (kernels/poprand/random.cc), from
  Poplar's own generator, so the IPU's draws cannot equal the CPU's for one seed. Not found among the
  plugin's kernels: StatelessRandomUniformFullInt(V2), which TFP's samplers.split_seed uses to split a
  seed (tf.random.stateless_uniform with minval=maxval=None): whether XLA's generic lowering covers it on
  the IPU is the first thing to check on the IPU Model.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any

import numpy as np

from accelbench.errors import UserError
from accelbench.submissions.ipu.mcmc_alpha.config import IpuSystemPlan
from accelbench.submissions.ipu.mcmc_alpha.replicas import per_replica

SDK_MISSING = ("the IPU submission needs Graphcore's TensorFlow 2 wheel from Poplar SDK 3.4 (TensorFlow 2.6 with "
               "tensorflow.python.ipu, and tensorflow-probability 0.14), which is not installed: run in the IPU "
               "TensorFlow image (docs/ipu-tensorflow.md) or use --device=cpu")


def require_ipu() -> ModuleType:
    """Graphcore's `tensorflow.python.ipu`, or the one-line UserError saying what is missing."""
    try:
        from tensorflow.python import ipu
    except ImportError:
        raise UserError(SDK_MISSING) from None
    return ipu


class IpuReplicas:
    """The IPU system configured for the plan: one TensorFlow device of `plan.ipus` IPUs on which every
    program is replicated once per IPU, each replica running `body(replica index, *inputs)`."""

    def __init__(self, tf: ModuleType, ipu: ModuleType, plan: IpuSystemPlan) -> None:
        self.tf, self.ipu, self.replicas = tf, ipu, plan.replicas
        config = ipu.config.IPUConfig()
        config.auto_select_ipus = plan.ipus
        config.configure_ipu_system()
        self.strategy = ipu.ipu_strategy.IPUStrategy()
        self._programs: dict[int, tuple[Any, Any]] = {}

    def run(self, steps: int, body: Callable, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Run the program of `steps` steps (compiled by Poplar on its first call) on every replica, and
        return each of its outputs stacked over the replicas on axis 0."""
        if steps not in self._programs:
            self._programs[steps] = self._replicated(body)
        program, outfeed = self._programs[steps]
        arguments = tuple(self.tf.constant(array) for array in inputs)
        with self.strategy.scope():
            self.strategy.run(program, args=arguments)
        return [per_replica(np.asarray(tensor), self.replicas) for tensor in outfeed.dequeue()]

    def _replicated(self, body: Callable) -> tuple[Any, Any]:
        """The program and its outfeed: each replica enqueues its chain's outputs once per call."""
        outfeed = self.ipu.ipu_outfeed_queue.IPUOutfeedQueue()
        replication_index = self.ipu.replication_ops.replication_index

        @self.tf.function(jit_compile=True)
        def program(*arguments):
            outfeed.enqueue(tuple(body(replication_index(), *arguments)))

        return program, outfeed
