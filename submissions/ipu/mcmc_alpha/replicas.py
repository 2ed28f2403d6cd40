"""The chains' state on the host between program calls, one row per replica (= per chain), and the
draws of every replica re-stacked into the contract's (chains, steps, ...) blocks. Plain numpy:
tested on the CPU.

Every replica gets the same inputs, so the host holds each input stacked over the replicas on a
new leading axis and each replica takes its own row (`chain.OneChainProgram`); the replicas hand
their outputs back through one outfeed, whose dequeue stacks them on the same axis. Each replica's
chain keeps the reference's batch shape with one chain in it: a (1, parameters) state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from accelbench.contracts.sampling import DrawBlock


def per_replica(outfed: np.ndarray, replicas: int) -> np.ndarray:
    """One call's outfeed as (replicas, ...): an outfeed that keeps every enqueue dequeues as (enqueues,
    replicas, ...) when the program is replicated and as (enqueues, ...) when it is not; each call
    enqueues once."""
    if len(outfed) != 1:
        raise RuntimeError(f"the outfeed held {len(outfed)} enqueues after one program call; expected one")
    return outfed[0] if replicas > 1 else outfed


def stacked(per_chain: Sequence[Sequence[np.ndarray]]) -> list[np.ndarray]:
    """Each chain's flattened arrays (one list per chain, in the same order) stacked over the chains on
    a new leading axis: what every replica receives and takes its row from."""
    return [np.stack(arrays) for arrays in zip(*per_chain, strict=True)]


def draw_block(states: np.ndarray, target_log_prob: np.ndarray, accepted: np.ndarray, step_size: np.ndarray,
               keep_states: bool) -> DrawBlock:
    """A block in the contract's order from the replicas' stacked outputs: states (chains, steps, 1,
    parameters), log posteriors and acceptance (chains, steps, 1), step sizes (chains, 1, 1)."""
    chains = len(step_size)
    return DrawBlock(states=states[:, :, 0, :].astype(np.float32) if keep_states else None,
                     target_log_prob=target_log_prob[:, :, 0].astype(np.float64),
                     accepted=accepted[:, :, 0].astype(bool),
                     step_size=np.reshape(step_size, chains).astype(np.float64))


def joined(blocks: Sequence[DrawBlock]) -> DrawBlock:
    """Consecutive burn-in blocks as one (no states kept), with the step size after the last."""
    return DrawBlock(states=None, target_log_prob=np.concatenate([b.target_log_prob for b in blocks], axis=1),
                     accepted=np.concatenate([b.accepted for b in blocks], axis=1), step_size=blocks[-1].step_size)
