"""The suite's overhead around MLPerf LoadGen: the same session's predictions through the
harness's SUT under LoadGen vs a bare loop over the same batches, in one run.

    python benchmarks/bench_loadgen_overhead.py [--scale smoke] [--pairs 5] [--samples 1024]

Offline: LoadGen issues one query of `--samples` samples (LoadGen sizes it as expected rate x
minimum duration x 1.1, so the duration is set to 1 s and the rate to samples / 1.1) and the SUT
answers it in batches of the reference's batch_size; LoadGen's samples/s (samples / its longest latency) is compared with a
bare loop that calls the same session's `predict` on the same batches of the same loaded
samples, timed with perf_counter. SingleStream: LoadGen's mean latency over `--samples` queries
vs the bare loop's mean time of one batch-1 prediction. Pairs run interleaved (bare, LoadGen,
...) so that load on this shared machine hits both alike; the ratio of medians is printed with
the per-pair ratios, whose spread is the noise floor.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from accelbench.contracts.inference import InferenceContext
from accelbench.data import datasets
from accelbench.data.model_weights import load_weights
from accelbench.judging import loadgen_logs
from accelbench.reference.lstm_inference import inference
from accelbench.rules.loader import load_rules
from accelbench.run.loadgen import SystemUnderTest, loadgen_settings, run_loadgen
from accelbench.run.world import SINGLE


def bare(session, inputs, batches: list[list[int]]) -> float:
    """Seconds for predicting every batch in turn, nothing around it (the samples loaded first,
    untimed, as LoadGen's QSL loads them; LoadGen unloads them after each of its runs)."""
    session.load_samples(list(range(len(inputs))), inputs)
    begin = time.perf_counter()
    for batch in batches:
        session.predict(batch)
    return time.perf_counter() - begin


def under_loadgen(system: SystemUnderTest, rules, scale, scenario: str, samples: int, hyper, out: Path) -> dict:
    settings = loadgen_settings(rules, scale, scenario, "PerformanceOnly", len(system.eval_inputs), hyper)
    offline = scenario == "Offline"
    settings = settings.model_copy(update={"min_duration_ms": 1000 if offline else 0,
                                           "min_query_count": 1 if offline else samples})
    run_loadgen(system, settings, len(system.eval_inputs), out)
    return loadgen_logs.parse_detail((out / "mlperf_log_detail.txt").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--samples", type=int, default=1024)
    args = parser.parse_args()

    rules = load_rules("lstm_inference")
    directory = datasets.data_directory(rules, args.scale)
    evaluation = datasets.load(rules, args.scale, directory, ("val",))["val"]
    hyper = rules.hyperparameters.for_scale(args.scale)
    batch_size = int(hyper["batch_size"])
    context = InferenceContext(workload=rules.workload, scale=args.scale, division="closed", hyperparameters=hyper,
                               seed=0, device="cpu", world=SINGLE, weights=load_weights(rules, args.scale, directory),
                               batch_size=batch_size)
    session = inference.create_session(context)
    count = len(evaluation.inputs)
    system = SystemUnderTest(session, evaluation.inputs, batch_size)
    order = [i % count for i in range(args.samples)]
    offline_batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    single_batches = [[i] for i in order[: min(args.samples, 256)]]
    offline_hyper = {**hyper, "offline_expected_qps": args.samples / 1.1}
    single_hyper = {**hyper, "single_stream_expected_latency_ms": 1.0}
    bare(session, evaluation.inputs, offline_batches[:2])  # warm up
    print(f"{args.scale}: {args.samples} samples, batch {batch_size}, {args.pairs} interleaved pairs")
    offline, single = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for pair in range(args.pairs):
            bare_rate = args.samples / bare(session, evaluation.inputs, offline_batches)
            detail = under_loadgen(system, rules, args.scale, "Offline", args.samples, offline_hyper,
                                   Path(tmp) / f"offline_{pair}")
            loadgen_rate = float(detail["result_samples_per_second"])
            if detail["generated_samples_per_query"] != args.samples:
                raise SystemExit(f"LoadGen issued {detail['generated_samples_per_query']} samples, not {args.samples}")
            offline.append((bare_rate, loadgen_rate))
            bare_latency = bare(session, evaluation.inputs, single_batches) / len(single_batches)
            detail = under_loadgen(system, rules, args.scale, "SingleStream", len(single_batches), single_hyper,
                                   Path(tmp) / f"single_{pair}")
            loadgen_latency = float(detail["result_mean_latency_ns"]) / 1e9
            single.append((bare_latency, loadgen_latency))
            print(f"  pair {pair + 1}: Offline bare {bare_rate:,.1f} vs LoadGen {loadgen_rate:,.1f} samples/s; "
                  f"SingleStream bare {bare_latency * 1e3:.3f} vs LoadGen {loadgen_latency * 1e3:.3f} ms mean")
    offline_ratios = sorted(b / g for b, g in offline)
    single_ratios = sorted(g / b for b, g in single)
    print("Offline per-pair ratios bare/LoadGen samples/s: " + ", ".join(f"{r:.3f}" for r in offline_ratios))
    print("SingleStream per-pair ratios LoadGen/bare latency: " + ", ".join(f"{r:.3f}" for r in single_ratios))
    print(f"Offline: median overhead {100 * (statistics.median(offline_ratios) - 1):+.2f}%; "
          f"SingleStream: median overhead {100 * (statistics.median(single_ratios) - 1):+.2f}% "
          f"(median bare {statistics.median(b for b, _ in single) * 1e3:.3f} ms per query)")


if __name__ == "__main__":
    main()
