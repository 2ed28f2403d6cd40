"""Which batch sizes get a CUDA graph, and how a request is padded onto one.

A graph replays one fixed shape, so each captured batch size is a bucket: a request of n samples
runs in the smallest bucket that holds it, its sample rows padded by repeating the last one, and
only its first n outputs are returned. The padded rows cost GPU work but no launches, and launches
are what small batches wait for: the two-layer LSTM over 200 steps is hundreds of small kernels.
"""

from __future__ import annotations

from collections.abc import Sequence

GRAPH_BATCH_SIZES = (1, 2, 4, 8, 16, 32, 64)
"""The buckets captured when the run's batch_size allows them: SingleStream asks for 1 sample,
MultiStream for 8, Server for a few; above 64 a step's GEMMs keep the GPU busy for longer than
the host takes to launch them, so eager launches no longer leave it idle."""


def graph_buckets(batch_size: int, candidates: Sequence[int] = GRAPH_BATCH_SIZES) -> tuple[int, ...]:
    """The candidate sizes a `predict` call of at most `batch_size` samples can use, ascending."""
    return tuple(sorted(size for size in candidates if size <= batch_size))


def bucket_for(count: int, buckets: Sequence[int]) -> int | None:
    """The smallest bucket that holds `count` samples; None when none does (the batch runs eagerly)."""
    return min((size for size in buckets if size >= count), default=None)


def padded_rows(rows: Sequence[int], size: int) -> list[int]:
    """`rows` (at least one) followed by copies of its last row up to `size`: the padding reads a
    sample that is surely loaded, and its outputs are dropped."""
    return [*rows, *[rows[-1]] * (size - len(rows))]
