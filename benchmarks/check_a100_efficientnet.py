"""Correctness and speed of the a100 efficientnet sessions on a GPU, both variants, against the fp32 reference.

    python benchmarks/check_a100_efficientnet.py [--resolution 32] [--precision fp16] [--batch 1024]
        [--train-precision bf16] [--train-batch 256] [--train-steps 20] [--calls 50]

Needs no generated data: the images come from the dataset's renderer (the smoke classes drawn at
--resolution), and the served weights are seeded initial ones with batch norm's statistics measured
on those images, each variance floored at 0.1 (as tests/test_a100_efficientnet.py has them). For
each variant, efficientnet_b0 (depthwise, batch norm) and efficientnet_b0_g16 (groups of 16, group
norm), it prints

  serving in --precision with batch_size --batch:
  (a) what the session set up: channels-last convolution weights in the precision's dtype, the
      forward compiled (and its graph breaks), a CUDA graph per power of two up to --batch;
  (b) the relative error ||a - b|| / ||b|| of its logits against the fp32 reference's on the CPU,
      and the share of equal top-1, for requests of 1, 3, 8 and --batch images (CUDA graphs) and of
      --batch images from a session without graphs;
  (c) Offline-style images/s over --calls calls of --batch images, and the p50 and p90 latency of
      --calls one-image calls, with the graphs and without;
  training in --train-precision with batch --train-batch, dropout and drop-path off so that both
  sides compute the same function:
  (d) channels-last weights and a compiled network, and the first batch's loss (batch statistics)
      against the reference's fp32 loss on the CPU from the same initial weights. Batch norm at
      initialisation is ill-conditioned on small batches (channels of near-zero batch variance
      amplify rounding: on the CPU the depthwise network's bf16 loss is 25 u off at batch 8, 2.8 u
      at 128, and channels-last alone moves the fp32 loss by 8e-5), so keep --train-batch >= 128;
  (e) images/s over an epoch of --train-steps steps, after the warm-up and a first epoch.

A check fails above CLOSE x u (the unit roundoff of the precision's significand; fp32 above
FP32_FLOOR, for cuDNN's other order of summation). Exit code 1 if
one fails; 2, with one line, without CUDA. `--device cpu` runs the same checks eagerly (no layout,
compilation or graphs: what the CPU path has), to check this script itself: `--device cpu --batch 8
--train-batch 128 --train-steps 2 --calls 2` takes about a minute on 2 busy cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch._dynamo.utils import counters

from accelbench.contracts.inference import InferenceContext
from accelbench.contracts.training import TrainingContext
from accelbench.reference.efficientnet import data
from accelbench.reference.efficientnet.model import from_hyperparameters, load_weights, weights_of
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE
from accelbench.submissions.a100.common.buckets import graph_buckets
from accelbench.submissions.a100.common.precision import precision_for
from accelbench.submissions.a100.efficientnet.inference import GRAPH_BATCH_SIZES, A100EfficientNetSession
from accelbench.submissions.a100.efficientnet.training import A100EfficientNetSession as A100TrainingSession

VARIANTS = (("efficientnet_b0", "efficientnet_b0_inference"), ("efficientnet_b0_g16", "efficientnet_b0_g16_inference"))
UNIT_ROUNDOFF = {"fp32": 2.0**-24, "tf32": 2.0**-11, "fp16": 2.0**-11, "bf16": 2.0**-8}
CLOSE = 16  # see tests/test_a100_efficientnet.py: measured 1.5 to 8.2 u on the CPU
FP32_FLOOR = 2e-4  # cuDNN sums K terms in another order than the CPU: sqrt(K) 2^-24 (K up to 1920) in each of 82 layers
REQUESTS = (1, 3, 8)
REFERENCE_CHUNK = 256
WARM_UP_CALLS = 5
SEED = 3


def images(resolution: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` uint8 images of the smoke classes at `resolution`, and their labels."""
    rules = load_rules("efficientnet_b0")
    fractals = data.fractal_classes(rules.dataset.seed, **{**rules.dataset.parameters_for("smoke"),
                                                           "resolution": resolution})
    labels = np.arange(count) % fractals.classes
    return fractals.render(labels, np.random.default_rng(0)), labels


def stand_in_weights(workload: str, inputs: np.ndarray, classes: int) -> dict[str, np.ndarray]:
    torch.manual_seed(0)
    network = from_hyperparameters(load_rules(workload).hyperparameters.for_scale("smoke"), classes)
    norms = [module for module in network.modules() if isinstance(module, nn.BatchNorm2d)]
    for norm in norms:
        norm.momentum = None
    with torch.no_grad():
        network.train()(torch.from_numpy(inputs[:REFERENCE_CHUNK]))
        for norm in norms:
            norm.running_var.clamp_(min=0.1)
    return weights_of(network)


def bound(precision: str) -> float:
    return max(CLOSE * UNIT_ROUNDOFF[precision], FP32_FLOOR)


def relative_error(actual: np.ndarray, expected: np.ndarray) -> float:
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


def channels_last(network: nn.Module) -> bool:
    return all(p.is_contiguous(memory_format=torch.channels_last) for p in network.parameters() if p.dim() == 4)


def verdict(ok: bool) -> str:
    return "ok" if ok else "FAIL"


def serving_session(workload: str, weights: dict[str, np.ndarray], inputs: np.ndarray, precision: str, batch: int,
                    device: str, graph_batch_sizes: Sequence[int] = GRAPH_BATCH_SIZES) -> A100EfficientNetSession:
    """The submission's session, warmed up as the harness does and holding every image."""
    context = InferenceContext(
        workload=workload, scale="smoke", division="closed",
        hyperparameters={**load_rules(workload).hyperparameters.for_scale("smoke"), "precision": precision},
        seed=0, device=device, world=SINGLE, dataset_parameters={"classes": 10}, weights=weights, batch_size=batch)
    session = A100EfficientNetSession(context, graph_batch_sizes)
    session.warm_up(inputs[:batch])
    session.load_samples(range(len(inputs)), inputs)
    session.synchronize()
    return session


def check_serving(workload: str, inputs: np.ndarray, args: argparse.Namespace) -> bool:
    on_gpu = torch.device(args.device).type == "cuda"
    weights = stand_in_weights(workload, inputs, 10)
    reference = load_weights(from_hyperparameters(load_rules(workload).hyperparameters.for_scale("smoke"), 10),
                             weights).eval()
    with torch.no_grad():
        expected = torch.cat([reference(torch.from_numpy(chunk))
                              for chunk in np.split(inputs, list(range(REFERENCE_CHUNK, len(inputs), REFERENCE_CHUNK)))])
    expected = expected.numpy()
    graphs_before = counters["stats"]["unique_graphs"]
    graphed = serving_session(workload, weights, inputs, args.precision, args.batch, args.device)
    eager = serving_session(workload, weights, inputs, args.precision, args.batch, args.device, graph_batch_sizes=())
    compiled = counters["stats"]["unique_graphs"] > graphs_before
    dtype = precision_for(args.precision).dtype
    layout_ok = channels_last(graphed.model) == on_gpu and graphed.model.backbone.conv_stem.weight.dtype == dtype
    graphs_ok = tuple(graphed.graphs) == (graph_buckets(args.batch) if on_gpu else ())
    passed = layout_ok and compiled == on_gpu and graphs_ok
    print(f"  (a) serving {args.precision}: channels-last {channels_last(graphed.model)}, weights "
          f"{graphed.model.backbone.conv_stem.weight.dtype} {verdict(layout_ok)}; compiled {compiled} "
          f"({sum(counters['graph_break'].values())} graph breaks so far) {verdict(compiled == on_gpu)}; "
          f"CUDA graphs {','.join(map(str, graphed.graphs)) or 'none'} {verdict(graphs_ok)}")
    order = np.random.default_rng(1).permutation(len(inputs))
    for label, session, count in [*((f"request of {n}", graphed, n) for n in sorted({*REQUESTS, args.batch})
                                    if n <= args.batch), (f"request of {args.batch}, no graphs", eager, args.batch)]:
        indices = [int(index) for index in order[:count]]
        answered = session.predict(indices)
        error = relative_error(answered, expected[indices])
        same = float(np.mean(answered.argmax(1) == expected[indices].argmax(1)))
        passed = passed and error <= bound(args.precision)
        print(f"  (b) {label:<24}: error {error:.2e} = {error / UNIT_ROUNDOFF[args.precision]:.1f} u, "
              f"top-1 the same on {same:.1%}: {verdict(error <= bound(args.precision))}")
    rate = throughput(graphed, len(inputs), args.batch, args.calls)
    print(f"  (c) Offline-style, batch {args.batch}: {rate:,.0f} images/s over {args.calls} calls")
    for label, session in (("CUDA graphs", graphed), ("no graphs", eager)):
        times = latencies_ms(session, len(inputs), args.calls)
        print(f"      batch 1, {label:<11}: p50 {np.percentile(times, 50):.3f} ms, p90 {np.percentile(times, 90):.3f} ms")
    return passed


def throughput(session: A100EfficientNetSession, samples: int, batch: int, calls: int) -> float:
    """Images per second of full batches drawn cyclically from the `samples` loaded ones."""
    batches = [[(start + offset) % samples for offset in range(batch)] for start in range(0, calls * batch, batch)]
    for indices in batches[:WARM_UP_CALLS]:
        session.predict(indices)
    begin = time.perf_counter()
    for indices in batches:
        session.predict(indices)
    return calls * batch / (time.perf_counter() - begin)


def latencies_ms(session: A100EfficientNetSession, samples: int, calls: int) -> np.ndarray:
    """Milliseconds of one-image predict calls (each returns after its logits reached the host)."""
    for index in range(WARM_UP_CALLS):
        session.predict([index % samples])
    times = []
    for index in range(calls):
        begin = time.perf_counter()
        session.predict([index % samples])
        times.append(time.perf_counter() - begin)
    return np.array(times) * 1e3


def check_training(workload: str, inputs: np.ndarray, labels: np.ndarray, args: argparse.Namespace) -> bool:
    on_gpu = torch.device(args.device).type == "cuda"
    hp = {**load_rules(workload).hyperparameters.for_scale("smoke"), "precision": args.train_precision,
          "batch_size": args.train_batch, "eval_batch_size": args.batch, "dropout": 0.0, "drop_path": 0.0}
    shard = np.resize(np.arange(len(inputs)), args.train_batch * args.train_steps)  # the images, cycled
    train_inputs, train_targets = torch.from_numpy(inputs[shard]), torch.from_numpy(labels[shard])
    session = A100TrainingSession(TrainingContext(
        workload=workload, scale="smoke", division="closed", hyperparameters=hp, seed=SEED, device=args.device,
        world=SINGLE, dataset_parameters={"classes": 10}, train_inputs=train_inputs, train_targets=train_targets,
        eval_inputs=torch.from_numpy(inputs)))
    torch.manual_seed(SEED)  # the session's initial weights, on the CPU in fp32
    reference = from_hyperparameters(hp, 10).train()
    with torch.no_grad():
        expected = float(session.loss_fn(reference(train_inputs[:args.train_batch]), train_targets[:args.train_batch]))
    session.model.train()
    loss = float(session._loss(*session.batches.first()).detach())  # the shard's first rows, graph as in training
    error = abs(loss - expected) / expected
    compiled = isinstance(session.compiled, torch._dynamo.eval_frame.OptimizedModule)
    structure_ok = channels_last(session.network) == on_gpu and compiled == on_gpu
    passed = structure_ok and error <= bound(args.train_precision)
    print(f"  (d) training {args.train_precision}: channels-last weights and compiled network {verdict(structure_ok)}; "
          f"first loss {loss:.6f} against {expected:.6f}, error {error / UNIT_ROUNDOFF[args.train_precision]:.1f} u: "
          f"{verdict(error <= bound(args.train_precision))}")
    session.warm_up()
    session.train_epoch(1)
    session.synchronize()
    begin = time.perf_counter()
    report = session.train_epoch(2)
    session.synchronize()
    print(f"  (e) {report.samples / (time.perf_counter() - begin):,.0f} images/s over {args.train_steps} steps "
          f"of {args.train_batch} (loss {report.train_loss:.4f})")
    return passed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda:0")
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--precision", choices=tuple(UNIT_ROUNDOFF), default="fp16")
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--train-precision", choices=tuple(UNIT_ROUNDOFF), default="bf16")
    parser.add_argument("--train-batch", type=int, default=256)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        print(f"this check needs a CUDA GPU, and torch {torch.__version__} sees none: run it on a GPU node",
              file=sys.stderr)
        return 2
    inputs, labels = images(args.resolution, max(args.batch, args.train_batch, max(REQUESTS)))
    where = torch.cuda.get_device_name(args.device) if torch.device(args.device).type == "cuda" else "the CPU"
    cudnn = f", cuDNN {torch.backends.cudnn.version()}" if torch.device(args.device).type == "cuda" else ""
    print(f"a100 efficientnet on {where}; torch {torch.__version__}{cudnn}; {args.resolution} px, {len(inputs)} images")
    passed = True
    for training_workload, serving_workload in VARIANTS:
        torch._dynamo.reset()  # each variant's compilations within the recompile limit, as in a run
        print(f"{training_workload}:")
        passed = check_serving(serving_workload, inputs, args) and passed
        passed = check_training(training_workload, inputs, labels, args) and passed
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
