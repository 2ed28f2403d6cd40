"""Speed and accuracy of the a100 lstm_inference session on a GPU, against the fp32 reference.

    python benchmarks/check_a100_lstm_inference.py [--scale smoke|small] [--precision fp16] [--calls 200]

Loads the generated val split and served weights of --scale (`accelbench data generate
lstm_inference --scale S` makes them), builds the submission's session on cuda:0 with
batch_size 1024, loads the whole val split into it as LoadGen's QSL would, and prints

  (a) Offline-style throughput: samples/s over --calls predict calls of 1024 loaded samples
      each (the val split cycled), after warm-up; every call ends synchronized;
  (b) SingleStream-style latency: p50 and p90 of --calls predict calls of one sample, with the
      CUDA graphs and with a second session that runs every batch eagerly;
  (c) the accuracy gate: R^2 of the session's predictions over the val split in batches of 1024
      (eager, as the accuracy run asks) and of 8 (CUDA graphs), beside the fp32 reference's
      (computed here on the CPU, as the rules' reference quality was) and the rules' gate
      (accuracy_fraction x the recorded reference quality).

It also prints the LoadGen hyperparameters (a) and (b) suggest, since the rules' reference
values describe 2 CPU cores. Exit code 1 if the gate fails; 2, with one line, without CUDA or
without the generated data.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch

from accelbench.contracts.inference import InferenceContext
from accelbench.data.datasets import data_directory, load
from accelbench.data.model_weights import load_weights
from accelbench.errors import UserError
from accelbench.judging.quality import r2
from accelbench.reference.lstm_inference.inference import create_session as reference_session
from accelbench.reference.torch_serving import TorchServingSession
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE
from accelbench.submissions.a100.common.precision import claim_device, precision_for
from accelbench.submissions.a100.common.buckets import GRAPH_BATCH_SIZES
from accelbench.submissions.a100.lstm_inference.session import A100LSTMSession

OFFLINE_BATCH = 1024
GRAPH_CHECK_BATCH = 8  # MultiStream's query size: the accuracy run's batches are all eager, so check a graph too
WARM_UP_CALLS = 10


def throughput(session: A100LSTMSession, samples: int, calls: int) -> float:
    """Samples per second of full batches drawn cyclically from the `samples` loaded ones."""
    batches = [[(start + offset) % samples for offset in range(OFFLINE_BATCH)]
               for start in range(0, calls * OFFLINE_BATCH, OFFLINE_BATCH)]
    for batch in batches[:WARM_UP_CALLS]:
        session.predict(batch)
    begin = time.perf_counter()
    for batch in batches:
        session.predict(batch)
    return calls * OFFLINE_BATCH / (time.perf_counter() - begin)


def latencies_ms(session: A100LSTMSession, samples: int, calls: int) -> np.ndarray:
    """Milliseconds of one-sample predict calls (each returns after its outputs reached the host)."""
    for index in range(WARM_UP_CALLS):
        session.predict([index % samples])
    times = []
    for index in range(calls):
        begin = time.perf_counter()
        session.predict([index % samples])
        times.append(time.perf_counter() - begin)
    return np.array(times) * 1e3


def predictions(session: TorchServingSession | A100LSTMSession, batch_size: int, samples: int) -> np.ndarray:
    return np.concatenate([session.predict(list(range(start, min(start + batch_size, samples))))
                           for start in range(0, samples, batch_size)])


def served_session(weights: Mapping[str, np.ndarray], inputs: np.ndarray, precision_name: str,
                   device: torch.device, graph_batch_sizes: Sequence[int] = GRAPH_BATCH_SIZES) -> A100LSTMSession:
    """The submission's session, warmed up as the harness does and holding the whole split."""
    session = A100LSTMSession(weights, precision_for(precision_name), OFFLINE_BATCH, device, graph_batch_sizes)
    session.warm_up(inputs[:OFFLINE_BATCH])
    session.load_samples(range(len(inputs)), inputs)
    session.synchronize()
    return session


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", choices=("smoke", "small"), default="smoke")
    parser.add_argument("--precision", choices=("fp32", "tf32", "bf16", "fp16"), default="fp16")
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print(f"this check needs a CUDA GPU, and torch {torch.__version__} sees none: run it on a GPU node",
              file=sys.stderr)
        return 2
    rules = load_rules("lstm_inference")
    directory = data_directory(rules, args.scale)
    try:
        weights = load_weights(rules, args.scale, directory)
        val = load(rules, args.scale, directory, ("val",))["val"]
    except UserError as error:
        print(error, file=sys.stderr)
        return 2
    samples = len(val.inputs)
    device = claim_device("cuda:0", precision_for(args.precision))
    print(f"a100 lstm_inference on {torch.cuda.get_device_name(device)}; torch {torch.__version__}, "
          f"cuDNN {torch.backends.cudnn.version()}; {args.precision}; {args.scale} val, {samples} samples")

    graphed = served_session(weights, val.inputs, args.precision, device)
    eager = served_session(weights, val.inputs, args.precision, device, graph_batch_sizes=())
    rate = throughput(graphed, samples, args.calls)
    print(f"(a) Offline-style, batch {OFFLINE_BATCH}: {rate:,.0f} samples/s over {args.calls} calls")
    with_graphs, without = latencies_ms(graphed, samples, args.calls), latencies_ms(eager, samples, args.calls)
    for label, times in (("CUDA graphs", with_graphs), ("eager", without)):
        print(f"(b) batch 1, {label:<11}: p50 {np.percentile(times, 50):.3f} ms, p90 {np.percentile(times, 90):.3f} ms")

    reference = reference_session(InferenceContext(
        workload="lstm_inference", scale=args.scale, division="closed", hyperparameters={"precision": "fp32"},
        seed=0, device="cpu", world=SINGLE, weights=weights, batch_size=OFFLINE_BATCH))
    reference.load_samples(range(samples), val.inputs)
    reference_r2 = r2(predictions(reference, OFFLINE_BATCH, samples), val.targets)
    gate = rules.quality.target[args.scale]
    print(f"(c) fp32 reference R^2 {reference_r2:.6f}; rules' gate {gate:.6f}")
    passed = True
    for batch_size, path in ((OFFLINE_BATCH, "eager"), (GRAPH_CHECK_BATCH, "CUDA graphs")):
        achieved = r2(predictions(graphed, batch_size, samples), val.targets)
        passed = passed and achieved >= gate
        print(f"    batches of {batch_size} ({path}): R^2 {achieved:.6f}, {achieved / reference_r2:.4f} x reference: "
              f"{'ok' if achieved >= gate else 'FAIL'}")
    print(f"LoadGen hints: --hparam single_stream_expected_latency_ms={np.percentile(with_graphs, 90):.3f} "
          f"--hparam offline_expected_qps={rate:.0f}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
