"""The prepare step of a run: the dataset generated on first use, verified by checksum, and
this process's splits in memory as numpy arrays, before any clock starts.

numpy, whatever framework trains: each kind's harness turns the arrays into what its contract
gives sessions (torch tensors for training, without a copy).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from accelbench.data import datasets
from accelbench.data.manifest import read_manifest
from accelbench.data.model_weights import load_weights, weights_sha256
from accelbench.results.models import DatasetRecord, SplitRecord
from accelbench.run import distributed

if TYPE_CHECKING:
    from accelbench.run.plan import BenchmarkPlan

Report = Callable[[str], None]


@dataclass(frozen=True)
class PreparedData:
    """The run's data, verified and in memory: this rank's shards, and every eval target."""

    train_inputs: np.ndarray
    train_targets: np.ndarray
    eval_inputs: np.ndarray
    eval_targets: np.ndarray  # the whole eval split's: the harness computes the metric
    record: DatasetRecord
    weights: Mapping[str, np.ndarray] | None = None  # an inference workload's trained model


def prepare_data(plan: BenchmarkPlan, report: Report = print) -> PreparedData:
    """Generate the dataset on first use, then load it, verifying every split's checksum.

    One process reads whole splits and hashes what it reads. Several processes: rank 0
    generates or verifies the file, then each rank reads only its own shards."""
    rules, scale, world = plan.rules, plan.scale, plan.world
    eval_split = rules.quality.split

    def generate_if_needed() -> None:
        weights_progress = generation_progress(report, "trained the served weights:", "optimizer steps")
        if not datasets.is_generated(plan.data_dir):
            report(f"generating the {rules.family} {scale} dataset in {plan.data_dir} (first use)")
            datasets.generate(rules, scale, plan.data_dir, progress=generation_progress(report),
                              weights_progress=weights_progress)
        elif datasets.train_missing_weights(rules, scale, plan.data_dir, weights_progress):
            report(f"trained {rules.workload}'s served weights beside the {rules.family} {scale} dataset (first use)")
        if world.size > 1:
            datasets.verify(rules, scale, plan.data_dir)

    distributed.on_primary(world, generate_if_needed)
    manifest = read_manifest(plan.data_dir)
    weights = None
    if rules.inference is not None:  # served, not trained: the eval split and the weights
        weights = load_weights(rules, scale, plan.data_dir)
        evaluation = datasets.load(rules, scale, plan.data_dir, (eval_split,))[eval_split]
        train, eval_targets = evaluation, evaluation.targets
    elif world.size == 1:
        splits = datasets.load(rules, scale, plan.data_dir, ("train", eval_split))
        train, evaluation, eval_targets = splits["train"], splits[eval_split], splits[eval_split].targets
    else:
        train_rows = distributed.training_shard(
            manifest.splits["train"].samples, world, int(plan.hyperparameters["batch_size"])
        )
        eval_rows = distributed.eval_shard(manifest.splits[eval_split].samples, world)
        train = datasets.load_rows(rules, plan.data_dir, "train", train_rows)
        evaluation = datasets.load_rows(rules, plan.data_dir, eval_split, eval_rows)
        eval_targets = datasets.load_rows(rules, plan.data_dir, eval_split, slice(None), inputs=False).targets
    record = DatasetRecord(
        id=datasets.dataset_id(rules, scale),
        generator_version=manifest.generator_version,
        seed=manifest.seed,
        splits={
            name: SplitRecord(samples=entry.samples, sha256=entry.sha256)
            for name, entry in manifest.splits.items()
        },
    )
    shards = f" (rank 0 of {world.size} holds train rows {len(train.inputs)})" if world.size > 1 else ""
    if weights is not None:
        shards += f", served weights {weights_sha256(weights)[:16]}... verified"
    report(
        f"dataset {record.id} verified: "
        + ", ".join(f"{name} {split.samples}" for name, split in record.splits.items())
        + shards
    )
    if weights is not None:
        return PreparedData(train_inputs=evaluation.inputs[:0], train_targets=evaluation.targets[:0],
                            eval_inputs=evaluation.inputs, eval_targets=eval_targets, record=record, weights=weights)
    return PreparedData(
        train_inputs=train.inputs,
        train_targets=train.targets,
        eval_inputs=evaluation.inputs,
        eval_targets=eval_targets,
        record=record,
    )


def generation_progress(report: Report, done_what: str = "generated", unit: str = "samples") -> Callable[[int, int], None]:
    """A progress callback for a data generator (or a weight recipe) that reports every tenth of the way."""
    state = {"last": -1}

    def show(done: int, total: int) -> None:
        percent = 100 * done // total
        if percent // 10 != state["last"] // 10 or done == total:
            state["last"] = percent
            report(f"  {done_what} {done}/{total} {unit} ({percent}%)")

    return show
