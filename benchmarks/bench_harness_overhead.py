"""Harness overhead: the reference trained through the harness vs a bare loop, in one run (goal < +2 %).

    pytest benchmarks/bench_harness_overhead.py --benchmark-only [--bench-scale smoke]

Both sides train the same model with the same optimizer, batch, data (the scale's train split,
in memory) and seed for the same number of epochs, and evaluate on the val split after every
epoch. The bare side is a plain PyTorch loop with nothing around it, timed from its first
epoch; the harness side is `TrainingHarness.run` with the reference session, event log and progress
callback, held to exactly the size's epochs by an unreachable target, and its figure is the scored
time-to-train (the timed region, which excludes the budgeted init; pytest-benchmark's rounds time the
whole call). After one uncounted warm-up epoch, pairs run interleaved (bare, harness, bare, ...) so
that load on this shared machine hits both sides alike; the goal ratio is the median of the per-pair
ratios, whose spread is the noise floor.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rounds import run_rounds
from workspace import load_splits

from accelbench.contracts.context import RunContext
from accelbench.reference.neuron_inverter import training
from accelbench.reference.neuron_inverter.model import NeuronInverter
from accelbench.results.models import DatasetRecord
from accelbench.rules.loader import load_rules
from accelbench.rules.schema import Scale
from accelbench.run.events import EventLog
from accelbench.run.preparation import PreparedData
from accelbench.run.training import TrainingHarness
from accelbench.run.world import SINGLE

GOAL = 1.02


@dataclass(frozen=True)
class Size:
    scale: Scale  # the rules' scale whose data and hyperparameters both sides train on
    epochs: int
    pairs: int


SIZES = {"smoke": Size("smoke", epochs=1, pairs=2), "small": Size("smoke", epochs=4, pairs=9),
         "full": Size("small", epochs=4, pairs=9)}


def bare_loop(data: PreparedData, hyper, epochs: int, seed: int) -> float:
    """Seconds for `epochs` of training + eval with no harness, no session object, no logging."""
    train_inputs, train_targets = torch.from_numpy(data.train_inputs), torch.from_numpy(data.train_targets)
    val_inputs, val_targets = torch.from_numpy(data.eval_inputs), torch.from_numpy(data.eval_targets)
    torch.manual_seed(seed)
    shuffle = torch.Generator().manual_seed(seed)
    model = NeuronInverter()
    optimizer = torch.optim.AdamW(model.parameters(), lr=hyper["learning_rate"], weight_decay=0.0)
    batch = hyper["batch_size"]
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for group in optimizer.param_groups:
            group["lr"] = hyper["learning_rate"] * min(1.0, epoch / hyper["warmup_epochs"])
        model.train()
        order = torch.randperm(train_inputs.shape[0], generator=shuffle)
        for step in range(train_inputs.shape[0] // batch):
            index = order[step * batch : (step + 1) * batch]
            optimizer.zero_grad(set_to_none=True)
            loss = torch.nn.functional.mse_loss(model(train_inputs[index]), train_targets[index])
            loss.backward()
            optimizer.step()
        model.eval()
        with torch.no_grad():
            predictions = torch.cat([model(x) for x in torch.split(val_inputs, hyper["eval_batch_size"])])
        float(torch.nn.functional.mse_loss(predictions, val_targets))
    return time.perf_counter() - start


def harness_run(rules, scale, data: PreparedData, hyper, seed: int, log_dir: Path) -> float:
    """The scored time (the harness's timed region) for the same work through the harness."""
    context = RunContext(workload=rules.workload, scale=scale, division="closed", hyperparameters=hyper,
                         seed=seed, device="cpu", world=SINGLE)
    with EventLog(log_dir / f"run_{seed}_{time.monotonic_ns()}.mllog") as log:
        record = TrainingHarness(rules, scale).run(training, context, data, log, on_progress=lambda p: None)
    return record.sections["timing"].run_s


def fixed_epoch_rules(scale: Scale, epochs: int):
    """neuron_inverter's rules with a target no run reaches and `epochs` as the scale's budget."""
    rules = load_rules("neuron_inverter")
    never = {s: 0.0 for s in rules.quality.target}
    budget = {**rules.quality.max_epochs, scale: epochs}
    return rules.model_copy(update={
        "quality": rules.quality.model_copy(update={"target": never, "max_epochs": budget}),
    })


def test_harness_overhead(benchmark, goal_ratio, bench_scale, bench_workspace, tmp_path):
    size = SIZES[bench_scale]
    rules = fixed_epoch_rules(size.scale, size.epochs)
    splits = load_splits(rules, size.scale, ("train", "val"))
    hyper = rules.hyperparameters.for_scale(size.scale)
    train, val = splits["train"], splits["val"]
    data = PreparedData(train.inputs, train.targets, val.inputs, val.targets,
                        DatasetRecord(id=f"neuron_inverter/{size.scale}", generator_version="", seed=0, splits={}))
    bare_loop(data, hyper, 1, seed=0)  # warm up allocator and kernels; not counted
    bare_seeds, harness_seeds = itertools.count(), itertools.count()  # pair i: seed i on both sides
    rounds = run_rounds(
        benchmark, lambda: harness_run(rules, size.scale, data, hyper, next(harness_seeds), tmp_path), size.pairs,
        peer=lambda: bare_loop(data, hyper, size.epochs, next(bare_seeds)))

    ratio, pair_ratios = rounds.median_pair_ratio(), rounds.pair_ratios()
    benchmark.extra_info.update(
        scale=size.scale, epochs=size.epochs, pairs=size.pairs, train_samples=int(train.inputs.shape[0]),
        batch_size=hyper["batch_size"], threads=torch.get_num_threads(), bare_median_s=statistics.median(rounds.peer),
        harness_median_s=statistics.median(rounds.subject), pair_ratio_min=min(pair_ratios),
        pair_ratio_max=max(pair_ratios))
    print(f"median bare {statistics.median(rounds.peer):.2f} s, harness {statistics.median(rounds.subject):.2f} s; "
          f"per-pair ratios {', '.join(f'{r:.3f}' for r in sorted(pair_ratios))}")
    goal_ratio("harness / bare loop (median of pairs)", ratio, f"< {GOAL}", met=ratio < GOAL)
