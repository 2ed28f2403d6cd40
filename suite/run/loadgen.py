"""MLPerf LoadGen, as the inference loop drives it: the TestSettings a scenario gets from the
rules and the system's own claims, the system under test (SUT) and query sample library (QSL)
LoadGen calls around an `InferenceSession`, and one LoadGen test run into a directory.

LoadGen calls back from its own C++ threads; an exception must never unwind into it, so a
session's failure is kept and raised once LoadGen has returned.
"""

from __future__ import annotations

import array
import importlib.util
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from accelbench.contracts.inference import InferenceSession
from accelbench.errors import UserError
from accelbench.judging.loadgen_logs import KEPT
from accelbench.results.models import LoadGenSettings
from accelbench.rules.schema import SCENARIO_HYPERPARAMETERS, BenchmarkRules, HyperparameterValue, Scale, Scenario


def require_loadgen() -> None:
    """One line if MLPerf LoadGen is missing: every inference run needs it."""
    if importlib.util.find_spec("mlperf_loadgen") is None:
        raise UserError("inference workloads run under MLPerf LoadGen, which is not installed: "
                        "`pip install mlcommons-loadgen` (CPython 3.10-3.12 wheels)")


def loadgen_settings(rules: BenchmarkRules, scale: Scale, scenario: Scenario, mode: str, sample_count: int,
                     hyperparameters: Mapping[str, HyperparameterValue]) -> LoadGenSettings:
    """What LoadGen is told for `scenario` at `scale`: the rules' bounds, and the system's own
    expected latency or rate (its hyperparameter; the accuracy run uses the Offline one)."""
    assert rules.inference is not None
    settings = rules.inference.settings[scenario]
    latency = settings.target_latency_ms.get(scale)
    claimed = float(hyperparameters[SCENARIO_HYPERPARAMETERS[scenario]])  # type: ignore[arg-type]
    expected = claimed if scenario in ("SingleStream", "MultiStream") else None
    return LoadGenSettings(
        scenario=scenario,
        mode=mode,  # type: ignore[arg-type]
        min_query_count=settings.min_query_count[scale],
        min_duration_ms=settings.min_duration_ms[scale],
        latency_percentile=settings.latency_percentile,
        samples_per_query=settings.samples_per_query,
        target_qps=claimed if scenario in ("Offline", "Server") else None,
        target_latency_ns=None if latency is None else int(latency * 1e6),
        expected_latency_ns=None if expected is None else int(expected * 1e6),
        performance_sample_count=sample_count,
    )


def loadgen_test_settings(settings: LoadGenSettings):
    """LoadGen's TestSettings for our record of them."""
    import mlperf_loadgen as lg

    test = lg.TestSettings()
    test.scenario = getattr(lg.TestScenario, settings.scenario)
    test.mode = getattr(lg.TestMode, settings.mode)
    test.min_query_count = settings.min_query_count
    test.min_duration_ms = settings.min_duration_ms
    test.performance_sample_count_override = settings.performance_sample_count
    if settings.scenario == "SingleStream":
        test.single_stream_expected_latency_ns = settings.expected_latency_ns
        test.single_stream_target_latency_percentile = settings.latency_percentile
    elif settings.scenario == "MultiStream":
        test.multi_stream_expected_latency_ns = settings.expected_latency_ns
        test.multi_stream_samples_per_query = settings.samples_per_query
        test.multi_stream_target_latency_percentile = settings.latency_percentile
    elif settings.scenario == "Offline":
        test.offline_expected_qps = settings.target_qps
    else:
        test.server_target_qps = settings.target_qps
        test.server_target_latency_ns = settings.target_latency_ns
        test.server_target_latency_percentile = settings.latency_percentile
    return test


class SystemUnderTest:
    """LoadGen's SUT and QSL around a session: batches each query's samples, completes them with
    the predictions' float32 bytes."""

    def __init__(self, session: InferenceSession, eval_inputs: np.ndarray, batch_size: int) -> None:
        self.session, self.eval_inputs, self.batch_size = session, eval_inputs, batch_size
        self.failure: BaseException | None = None

    def load(self, indices: Sequence[int]) -> None:
        rows = list(indices)
        self._guarded(lambda: self.session.load_samples(rows, self.eval_inputs[rows]))

    def unload(self, indices: Sequence[int]) -> None:
        rows = list(indices)
        self._guarded(lambda: self.session.unload_samples(rows))

    def _guarded(self, call: Callable[..., None]) -> None:
        """Run a session call from LoadGen's C++ side: an exception must not unwind into LoadGen,
        so it is kept (without its traceback, whose frames hold LoadGen's objects) and raised
        once LoadGen has returned."""
        try:
            call()
        except BaseException as error:  # noqa: BLE001 - see above
            self.failure = self.failure or error.with_traceback(None)

    def issue(self, query_samples) -> None:
        import mlperf_loadgen as lg

        samples = [(sample.id, sample.index) for sample in query_samples]
        for start in range(0, len(samples), self.batch_size):
            batch = samples[start : start + self.batch_size]
            if self.failure is None:
                self._guarded(lambda batch=batch: self._answer(batch))
            if self.failure is not None:  # LoadGen waits for every sample: complete them empty
                lg.QuerySamplesComplete([lg.QuerySampleResponse(sample_id, 0, 0) for sample_id, _ in batch])

    def _answer(self, batch: list[tuple[int, int]]) -> None:
        """Predict one batch and complete its samples with the predictions' bytes."""
        import mlperf_loadgen as lg

        predictions = np.ascontiguousarray(self.session.predict([index for _, index in batch]), dtype="<f4")
        if predictions.shape[0] != len(batch):
            raise UserError(f"the session answered {predictions.shape[0]} predictions for {len(batch)} samples")
        buffers = [array.array("B", row.tobytes()) for row in predictions]
        lg.QuerySamplesComplete([lg.QuerySampleResponse(sample_id, *buffer.buffer_info())
                                 for (sample_id, _), buffer in zip(batch, buffers)])

    def flush(self) -> None:
        """Nothing is held back across queries."""


def run_loadgen(system: SystemUnderTest, settings: LoadGenSettings, total_samples: int, directory: Path) -> None:
    """One LoadGen test into `directory`, keeping only the logs a reviewer needs."""
    import mlperf_loadgen as lg

    directory.mkdir(parents=True, exist_ok=True)
    output = lg.LogOutputSettings()
    output.outdir = str(directory)
    output.copy_summary_to_stdout = False
    log_settings = lg.LogSettings()
    log_settings.log_output = output
    log_settings.enable_trace = settings.mode == "PerformanceOnly"
    sut = lg.ConstructSUT(system.issue, system.flush)
    qsl = lg.ConstructQSL(total_samples, settings.performance_sample_count, system.load, system.unload)
    try:
        lg.StartTestWithLogSettings(sut, qsl, loadgen_test_settings(settings), log_settings)
    finally:
        lg.DestroyQSL(qsl)
        lg.DestroySUT(sut)
    for path in directory.iterdir():
        if path.name not in KEPT[settings.mode]:
            path.unlink()
    if system.failure is not None:
        raise system.failure
