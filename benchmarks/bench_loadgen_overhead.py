"""The suite's overhead around MLPerf LoadGen: the same session's predictions through the
harness's SUT under LoadGen vs a bare loop over the same batches, in one run.

    pytest benchmarks/bench_loadgen_overhead.py --benchmark-only [--bench-scale smoke]

Offline: LoadGen issues one query of the size's samples (LoadGen sizes it as expected rate x
minimum duration x 1.1, so the duration is set to 1 s and the rate to samples / 1.1) and the SUT
answers it in batches of the reference's batch_size; LoadGen's samples/s (samples / its longest
latency) is compared with a bare loop that calls the same session's `predict` on the same batches
of the same loaded samples, timed with perf_counter. SingleStream: LoadGen's mean latency over as
many queries (at most 256) vs the bare loop's mean time of one batch-1 prediction. Each scenario
is one benchmark whose pairs run interleaved (bare, LoadGen, ...) so that load on this shared
machine hits both alike; pytest-benchmark times the LoadGen runs, the goal ratio is the median of
the per-pair ratios of LoadGen's own figures, whose spread is the noise floor.
"""

from __future__ import annotations

import itertools
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rounds import run_rounds
from workspace import data_directory

from accelbench.contracts.inference import InferenceContext
from accelbench.data import datasets
from accelbench.data.model_weights import load_weights
from accelbench.judging import loadgen_logs
from accelbench.reference.lstm_inference import inference
from accelbench.reference.torch_serving import TorchServingSession
from accelbench.rules.loader import load_rules
from accelbench.rules.schema import BenchmarkRules, Scale
from accelbench.run.loadgen import SystemUnderTest, loadgen_settings, run_loadgen
from accelbench.run.world import SINGLE

NO_GOAL = "none set"


@dataclass(frozen=True)
class Size:
    scale: Scale  # the rules' scale of the data, weights and hyperparameters
    pairs: int
    samples: int


SIZES = {"smoke": Size("smoke", pairs=2, samples=256), "small": Size("smoke", pairs=5, samples=1024),
         "full": Size("small", pairs=5, samples=1024)}


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


@dataclass
class Served:
    """The reference's session over the scale's val split, and the SUT around it."""

    rules: BenchmarkRules
    size: Size
    hyper: dict
    session: TorchServingSession
    system: SystemUnderTest
    order: list[int]  # the samples the size asks for, cycling through the split

    @property
    def offline_batches(self) -> list[list[int]]:
        batch_size = self.system.batch_size
        return [self.order[i : i + batch_size] for i in range(0, len(self.order), batch_size)]

    @property
    def inputs(self):
        return self.system.eval_inputs


@pytest.fixture
def served(bench_scale, bench_workspace) -> Served:
    size = SIZES[bench_scale]
    rules = load_rules("lstm_inference")
    directory = data_directory(rules, size.scale)
    evaluation = datasets.load(rules, size.scale, directory, ("val",))["val"]
    hyper = rules.hyperparameters.for_scale(size.scale)
    batch_size = int(hyper["batch_size"])
    context = InferenceContext(workload=rules.workload, scale=size.scale, division="closed", hyperparameters=hyper,
                               seed=0, device="cpu", world=SINGLE, batch_size=batch_size,
                               weights=load_weights(rules, size.scale, directory))
    session = inference.create_session(context)
    count = len(evaluation.inputs)
    served = Served(rules, size, hyper, session, SystemUnderTest(session, evaluation.inputs, batch_size),
                    order=[i % count for i in range(size.samples)])
    bare(session, evaluation.inputs, served.offline_batches[:2])  # warm up
    return served


def test_loadgen_offline_overhead(benchmark, goal_ratio, served: Served, tmp_path):
    size, batches = served.size, served.offline_batches
    hyper = {**served.hyper, "offline_expected_qps": size.samples / 1.1}
    folders = (tmp_path / f"offline_{pair}" for pair in itertools.count())
    rates = []

    def loadgen_seconds() -> float:
        """samples / LoadGen's samples/s, its longest latency: a bare/LoadGen ratio of samples/s is this over the
        bare loop's seconds."""
        detail = under_loadgen(served.system, served.rules, size.scale, "Offline", size.samples, hyper, next(folders))
        assert detail["generated_samples_per_query"] == size.samples, detail["generated_samples_per_query"]
        rates.append(float(detail["result_samples_per_second"]))
        return size.samples / rates[-1]

    rounds = run_rounds(benchmark, loadgen_seconds, size.pairs,
                        peer=lambda: bare(served.session, served.inputs, batches))

    ratio, pair_ratios = rounds.median_pair_ratio(), rounds.pair_ratios()
    benchmark.extra_info.update(
        scale=size.scale, samples=size.samples, batch_size=served.system.batch_size, pairs=size.pairs,
        loadgen_samples_per_s=rates, bare_samples_per_s=[size.samples / s for s in rounds.peer],
        pair_ratio_min=min(pair_ratios), pair_ratio_max=max(pair_ratios))
    print(f"Offline per-pair ratios bare/LoadGen samples/s: {', '.join(f'{r:.3f}' for r in sorted(pair_ratios))}")
    goal_ratio("Offline bare / LoadGen samples/s (median of pairs)", ratio, NO_GOAL)


def test_loadgen_single_stream_overhead(benchmark, goal_ratio, served: Served, tmp_path):
    size = served.size
    queries = [[i] for i in served.order[:256]]
    hyper = {**served.hyper, "single_stream_expected_latency_ms": 1.0}
    folders = (tmp_path / f"single_{pair}" for pair in itertools.count())

    def loadgen_mean_latency() -> float:
        detail = under_loadgen(served.system, served.rules, size.scale, "SingleStream", len(queries), hyper,
                               next(folders))
        return float(detail["result_mean_latency_ns"]) / 1e9

    rounds = run_rounds(benchmark, loadgen_mean_latency, size.pairs,
                        peer=lambda: bare(served.session, served.inputs, queries) / len(queries))

    ratio, pair_ratios = rounds.median_pair_ratio(), rounds.pair_ratios()
    benchmark.extra_info.update(
        scale=size.scale, queries=len(queries), pairs=size.pairs,
        loadgen_mean_latency_ms=[s * 1e3 for s in rounds.subject], bare_latency_ms=[s * 1e3 for s in rounds.peer],
        bare_median_ms=statistics.median(rounds.peer) * 1e3,
        pair_ratio_min=min(pair_ratios), pair_ratio_max=max(pair_ratios))
    print(f"SingleStream per-pair ratios LoadGen/bare latency: {', '.join(f'{r:.3f}' for r in sorted(pair_ratios))}")
    goal_ratio("SingleStream LoadGen / bare mean latency (median of pairs)", ratio, NO_GOAL)
