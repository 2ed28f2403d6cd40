"""The inference loop under the real MLPerf LoadGen, with a fast session: every scenario runs,
the SUT batches each query's samples, the accuracy run is scored from LoadGen's own log, the
result's numbers are LoadGen's, and bad input stops the run in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

from accelbench.contracts.context import RunContext
from accelbench.contracts.inference import InferenceSession
from accelbench.energy.meter import DeviceReading, Unavailable
from accelbench.energy.sampler import EnergySampler
from accelbench.errors import UserError
from accelbench.judging import loadgen_logs
from accelbench.results.models import DatasetRecord
from accelbench.rules.loader import load_rules
from accelbench.run import loadgen as loadgen_module
from accelbench.run.inference import InferenceHarness
from accelbench.run.loadgen import loadgen_settings
from accelbench.run.preparation import PreparedData
from accelbench.run.world import SINGLE

SAMPLES = 48
REFERENCE = 0.9


def fast_rules(scenarios=("SingleStream", "MultiStream", "Offline", "Server")):
    """lstm_inference's rules, with durations and query counts a fast session meets in a second."""
    rules = load_rules("lstm_inference")
    inference = rules.inference
    settings = {
        name: value.model_copy(update={"min_duration_ms": {**value.min_duration_ms,
                                                           "smoke": 10 if name == "Offline" else 200},
                                       "min_query_count": {**value.min_query_count,
                                                           "smoke": 1 if name == "Offline" else 700}})
        for name, value in inference.settings.items()
    }
    inference = inference.model_copy(update={
        "scenarios": {**inference.scenarios, "smoke": list(scenarios)}, "settings": settings,
        "reference_quality": {**inference.reference_quality, "smoke": REFERENCE},
        "eval_targets_sha256": {**inference.eval_targets_sha256, "smoke": "unrecorded"},
    })
    quality = rules.quality.model_copy(update={"target": {**rules.quality.target, "smoke": 0.99 * REFERENCE}})
    return rules.model_copy(update={"inference": inference, "quality": quality})


HYPER = {"precision": "fp32", "batch_size": 16, "single_stream_expected_latency_ms": 0.002,
         "multi_stream_expected_latency_ms": 0.002, "offline_expected_qps": 1000000.0, "server_target_qps": 4000.0}


class EchoSession(InferenceSession):
    """Predicts each window's last value of feature 0, scaled: an exact model of the targets
    below, so its r2 is known; records how it was asked."""

    def __init__(self, scale: float = 1.0):
        self.scale = scale
        self.held: dict[int, np.ndarray] = {}
        self.batches: list[int] = []
        self.warmed = False

    def warm_up(self, inputs):
        self.warmed = True

    def load_samples(self, indices, inputs):
        self.held.update(zip(indices, inputs))

    def unload_samples(self, indices):
        for index in indices:  # LoadGen may name an index twice
            self.held.pop(index, None)

    def predict(self, indices):
        self.batches.append(len(indices))
        return np.stack([self.held[i][-1, :1] * self.scale for i in indices]).astype(np.float32)


class Implementation:
    def __init__(self, session):
        self.session = session

    def create_session(self, context):
        assert context.batch_size == HYPER["batch_size"] and set(context.weights) == {"w"}
        return self.session


def data() -> PreparedData:
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((SAMPLES, 4, 16)).astype(np.float32)
    targets = inputs[:, -1, :1].copy()
    empty = np.zeros((0, 4, 16), np.float32)
    return PreparedData(train_inputs=empty, train_targets=np.zeros((0, 1), np.float32), eval_inputs=inputs,
                        eval_targets=targets, record=DatasetRecord(id="x", generator_version="t", seed=0, splits={}),
                        weights={"w": np.zeros(1, np.float32)})


def context() -> RunContext:
    return RunContext(workload="lstm_inference", scale="smoke", division="closed", hyperparameters=HYPER,
                      seed=1, device="cpu", world=SINGLE)


def run(tmp_path, session, rules=None, new_sampler=lambda: Unavailable("no meter in this test")):
    harness = InferenceHarness(rules or fast_rules(), "smoke")
    lines = []
    record = harness.run(Implementation(session), context(), data(), tmp_path / "run_1.loadgen",
                         on_progress=lambda p: lines.append(p.line), new_sampler=new_sampler)
    return record.sections["inference"], record.energy, lines


def test_every_scenario_runs_under_loadgen_and_the_result_is_loadgens(tmp_path):
    session = EchoSession()
    record, _, lines = run(tmp_path, session)
    assert session.warmed and record.valid, record.reason
    assert record.accuracy.achieved == pytest.approx(1.0) and record.accuracy.passed
    assert [run.scenario for run in record.scenarios] == ["SingleStream", "MultiStream", "Offline", "Server"]
    assert max(session.batches) == HYPER["batch_size"]  # the Offline query, split into batches
    assert 8 in session.batches  # a MultiStream query's eight samples in one call
    for measured in record.scenarios:
        directory = tmp_path / "run_1.loadgen" / measured.scenario
        assert sorted(p.name for p in directory.iterdir()) == sorted(loadgen_logs.KEPT["PerformanceOnly"])
        detail = loadgen_logs.parse_detail((directory / "mlperf_log_detail.txt").read_text())
        traced = loadgen_logs.recompute(measured.scenario, measured.latency_percentile,
                                        loadgen_logs.parse_trace((directory / "mlperf_log_trace.json").read_text()))
        assert measured.latencies_ns == loadgen_logs.reported_latencies(detail, measured.scenario) == traced.latencies_ns
        assert measured.queries == detail["result_query_count"] and measured.samples == traced.samples
        assert measured.energy.available is False
    assert record.scenarios[1].settings.samples_per_query == 8
    assert record.scenarios[3].settings.target_qps == HYPER["server_target_qps"]
    assert record.scenarios[2].settings.min_duration_ms == 10
    assert record.scenarios[3].settings.target_latency_ns == 100_000_000
    assert any(line.startswith("accuracy run: r2 1.0000") and "PASSED" in line for line in lines)
    files = {log.file for log in record.files()}
    assert "run_1.loadgen/accuracy/eval_targets.npy" in files and len(files) == 4 + 3 * 4


def test_the_accuracy_run_is_scored_from_loadgens_accuracy_log(tmp_path):
    record, _, _ = run(tmp_path, EchoSession(scale=0.5), rules=fast_rules(("SingleStream",)))
    accuracy = record.accuracy
    log = (tmp_path / "run_1.loadgen" / "accuracy" / "mlperf_log_accuracy.json").read_text()
    assert len(json.loads(log)) == SAMPLES  # every eval sample answered once
    targets = data().eval_targets.astype(np.float64)
    expected = 1 - np.sum((0.5 * targets) ** 2) / np.sum((targets - targets.mean()) ** 2)  # half of each target
    assert accuracy.achieved == pytest.approx(expected, rel=1e-6)
    assert not accuracy.passed and not record.valid and "below the gate" in record.reason


def test_energy_is_sampled_over_each_performance_run(tmp_path):
    class Meter:
        name, devices, description = "fake", ("fake:0",), "a constant 50 W"

        def read(self):
            return {"fake:0": DeviceReading(power_w=50.0)}

    record, overall, _ = run(tmp_path, EchoSession(), rules=fast_rules(("SingleStream", "Offline")),
                             new_sampler=lambda: EnergySampler(Meter(), hz=100.0))
    for measured in record.scenarios:
        assert measured.energy.available and measured.energy.joules == pytest.approx(50.0 * measured.energy.duration_s)
        assert measured.joules_per_query == pytest.approx(measured.energy.joules / measured.queries)
    assert overall.joules >= sum(m.energy.joules for m in record.scenarios) * 0.99


def test_a_failing_session_stops_the_run(tmp_path):
    class Broken(EchoSession):
        def predict(self, indices):
            raise RuntimeError("device lost")

    with pytest.raises(RuntimeError, match="device lost"):
        run(tmp_path, Broken(), rules=fast_rules(("SingleStream",)))


def test_settings_come_from_the_rules_and_the_systems_own_claims():
    rules = load_rules("lstm_inference")
    hyper = rules.hyperparameters.for_scale("small")
    server = loadgen_settings(rules, "small", "Server", "PerformanceOnly", 2048, {**hyper, "server_target_qps": 7.5})
    assert (server.target_qps, server.target_latency_ns, server.min_query_count) == (7.5, 100_000_000, 512)
    single = loadgen_settings(rules, "small", "SingleStream", "PerformanceOnly", 2048, hyper)
    assert single.expected_latency_ns == 1_000_000 and single.latency_percentile == 0.9 and single.target_qps is None


def test_bad_input_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(UserError, match="no fixed_epochs mode"):
        InferenceHarness(load_rules("lstm_inference"), "smoke", "fixed_epochs")
    rules = load_rules("lstm_inference")
    unrecorded = rules.model_copy(update={"inference": rules.inference.model_copy(
        update={"reference_quality": {**rules.inference.reference_quality, "full": "unrecorded"}})})
    with pytest.raises(UserError, match="full reference quality is unrecorded"):
        InferenceHarness(unrecorded, "full")
    rules = fast_rules(("SingleStream",))
    wrong = rules.model_copy(update={"inference": rules.inference.model_copy(
        update={"eval_targets_sha256": {**rules.inference.eval_targets_sha256, "smoke": "0" * 64}})})
    with pytest.raises(UserError, match="eval targets hash"):
        run(tmp_path, EchoSession(), rules=wrong)
    monkeypatch.setattr(loadgen_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UserError, match="pip install mlcommons-loadgen"):
        InferenceHarness(load_rules("lstm_inference"), "smoke")
