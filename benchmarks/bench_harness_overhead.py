"""Harness overhead: the reference trained through the harness vs a bare loop, in one run.

    python benchmarks/bench_harness_overhead.py [--scale smoke] [--epochs 4] [--pairs 9]

Both sides train the same model with the same optimizer, batch, data (the scale's train split,
in memory) and seed for the same number of epochs, and evaluate on the val split after every
epoch. The bare side is a plain PyTorch loop with nothing around it, timed from its first
epoch; the harness side is `TrainingHarness.run` with the reference session, event log and progress
callback, held to exactly `--epochs` by an unreachable target, and its time is the scored
time-to-train (the timed region, which excludes the budgeted init). After one uncounted warm-up epoch, pairs run interleaved
(bare, harness, bare, ...) so that load on this shared machine hits both sides alike; the
ratio of medians is printed with the per-pair ratios, whose spread is the noise floor.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from accelbench.contracts.context import RunContext
from accelbench.data import datasets
from accelbench.reference.neuron_inverter import training
from accelbench.reference.neuron_inverter.model import NeuronInverter
from accelbench.results.models import DatasetRecord
from accelbench.rules.loader import load_rules
from accelbench.run.events import EventLog
from accelbench.run.preparation import PreparedData
from accelbench.run.training import TrainingHarness
from accelbench.run.world import SINGLE


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=9)
    args = parser.parse_args()

    rules = load_rules("neuron_inverter")
    never = {s: 0.0 for s in rules.quality.target}
    budget = {**rules.quality.max_epochs, args.scale: args.epochs}
    rules = rules.model_copy(update={
        "quality": rules.quality.model_copy(update={"target": never, "max_epochs": budget}),
    })
    splits = datasets.load(rules, args.scale, datasets.data_directory(rules, args.scale),
                           ("train", "val"))
    hyper = rules.hyperparameters.for_scale(args.scale)
    train, val = splits["train"], splits["val"]
    data = PreparedData(train.inputs, train.targets, val.inputs, val.targets,
                        DatasetRecord(id=f"neuron_inverter/{args.scale}", generator_version="", seed=0, splits={}))
    print(f"{args.scale}: {train.inputs.shape[0]} train samples, batch {hyper['batch_size']}, "
          f"{args.epochs} epochs, {args.pairs} interleaved pairs, {torch.get_num_threads()} threads")
    bare, harnessed = [], []
    with tempfile.TemporaryDirectory() as tmp:
        bare_loop(data, hyper, 1, seed=0)  # warm up allocator and kernels; not counted
        for pair in range(args.pairs):
            bare.append(bare_loop(data, hyper, args.epochs, seed=pair))
            harnessed.append(harness_run(rules, args.scale, data, hyper, pair, Path(tmp)))
            print(f"  pair {pair + 1}: bare {bare[-1]:.2f} s, harness {harnessed[-1]:.2f} s")
    pair_ratios = sorted(h / b for h, b in zip(harnessed, bare))
    ratio = statistics.median(pair_ratios)
    print("per-pair ratios harness/bare: " + ", ".join(f"{r:.3f}" for r in pair_ratios))
    print(f"median bare {statistics.median(bare):.2f} s, harness {statistics.median(harnessed):.2f} s; "
          f"median ratio {ratio:.4f} (overhead {100 * (ratio - 1):+.2f}%; goal < +2%)")


if __name__ == "__main__":
    main()
