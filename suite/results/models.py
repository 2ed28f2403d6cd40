"""The result of one run and the score of a set of runs, as pydantic models.

These models are the file format: the runner writes them, `accelbench verify` and the
validator read them back. Numbers that could not be measured are null with a reason, never 0.
"""

from __future__ import annotations

from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field

from accelbench.rules.schema import Direction, Division, HyperparameterValue, Scale, Scenario
from accelbench.trust.signing import SignatureBlock

RUN_SCHEMA_VERSION = "2"  # 2: the cache_clear record
SCORE_SCHEMA_VERSION = "1"


class ResultModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemRecord(ResultModel):
    name: str = Field(description="platform, plus _n<world size> when several processes ran")
    platform: str = Field(description="the --device: cpu, a100 or ipu")
    device: str
    implementation: str = Field(description="the module that trained the model")
    world_size: int = Field(ge=1, description="processes, one per accelerator")
    launcher: str


class Provenance(ResultModel):
    """Where and with what the run ran; collected automatically."""

    hostname_sha256: str
    os: str
    kernel: str
    python: str
    cpu_model: str
    cpu_count: int
    memory_bytes: int | None
    accelerators: list[str]
    accelerator_software: dict[str, str] = Field(description="CUDA runtime, cuDNN, driver")
    packages: dict[str, str]
    container: dict[str, str] = Field(description="inside a container?, image, digest, revision")
    suite_git_commit: str | None
    suite_git_dirty: bool | None
    implementation_sha256: str
    numerics_env: dict[str, str]


class SplitRecord(ResultModel):
    samples: int
    sha256: str


class DatasetRecord(ResultModel):
    id: str
    generator_version: str
    seed: int
    splits: dict[str, SplitRecord]


class Timing(ResultModel):
    clock: Literal["time.perf_counter"] = "time.perf_counter"
    init_s: float
    init_budget_s: float
    run_s: float
    time_to_train_s: float = Field(description="run_s plus any init time beyond the budget")
    epoch_s: list[float]
    final_eval_s: float | None = Field(
        description="untimed true evaluation after the run, when evals during it were pseudo"
    )


class CurvePoint(ResultModel):
    epoch: int
    value: float | None
    elapsed_s: float
    measurements: dict[str, float | None] = Field(
        default_factory=dict, description="the rules' bound and reported metrics at this eval"
    )


class Quality(ResultModel):
    metric: str
    split: str
    direction: Direction
    target: float
    achieved: float | None = Field(description="the true metric: the last eval, or the final one")
    converged: bool
    stop_reason: str
    eval_kind: Literal["true", "pseudo"]
    epochs: int
    max_epochs: int
    curve: list[CurvePoint]
    train_loss: list[float | None]
    measurements: dict[str, float | None] = Field(
        default_factory=dict,
        description="the rules' bound and reported metrics with `achieved` (the last or the final eval)",
    )


class Throughput(ResultModel):
    train_samples: int
    samples_per_s: float
    units_per_s: dict[str, float] = Field(
        default_factory=dict, description="the rules' throughput units per second, e.g. timesteps"
    )


class Energy(ResultModel):
    """Energy over the timed region, summed once per device over every process of the run.

    Unavailable energy is null with the reason, never 0 and never an estimate."""

    available: bool
    joules: float | None = None
    meter: str | None = Field(None, description="nvml, rapl or gcipuinfo")
    reason: str | None = Field(None, description="why energy is unavailable or incomplete")
    method: Literal["counter", "integrated", "mixed"] | None = Field(
        None, description="device energy counters, or power samples integrated over time"
    )
    per_device_j: dict[str, float] = Field(default_factory=dict)
    average_w: float | None = None
    peak_w: float | None = None
    duration_s: float | None = None
    sampling_hz: float | None = Field(None, description="the rate achieved, not the one asked for")
    samples: int | None = None
    trace: list[tuple[float, float]] = Field(
        default_factory=list, description="(seconds since the clock started, total watts), compacted"
    )


class EventLogRef(ResultModel):
    file: str
    sha256: str


class CacheClear(ResultModel):
    """Whether the OS page cache was dropped before the run (MLPerf's cache_clear), or why not."""

    cleared: bool
    detail: str


class RunResultBase(ResultModel):
    """What every run's result holds, whatever its kind."""

    schema_version: Literal["2"] = RUN_SCHEMA_VERSION
    suite_version: str
    rules_version: str
    workload: str
    scale: Scale
    division: Division
    mode: Literal["to_target", "fixed_epochs"] = Field(
        description="the scored run (train to the target; an inference run's accuracy and LoadGen runs), "
        "or a fixed number of epochs (weak scaling)"
    )
    run_index: int
    seed: int
    created_at: str
    system: SystemRecord
    environment: Provenance
    dataset: DatasetRecord
    hyperparameters: dict[str, HyperparameterValue]
    energy: Energy
    cache_clear: CacheClear


class TrainingRunResult(RunResultBase):
    """A train-to-target run: its epochs, its quality and its MLPerf event log."""

    kind: Literal["train_to_target"] = "train_to_target"
    timing: Timing
    quality: Quality
    throughput: Throughput
    event_log: EventLogRef

    @property
    def global_batch_size(self) -> int:
        """Samples per optimizer step over every process: the local batch times the processes
        (weak scaling keeps the local batch, so this grows with them)."""
        return int(self.hyperparameters["batch_size"]) * self.system.world_size


class SignedTrainingRunResult(TrainingRunResult):
    signature: SignatureBlock


class LoadGenLog(ResultModel):
    """A file LoadGen (or the harness beside it) wrote for the run, pinned by its hash."""

    file: str = Field(description="path relative to the run file's directory, e.g. run_1.loadgen/Offline/...")
    sha256: str


class LoadGenSettings(ResultModel):
    """What LoadGen was told (its TestSettings), from the rules at the run's scale."""

    scenario: Scenario
    mode: Literal["PerformanceOnly", "AccuracyOnly"]
    min_query_count: int
    min_duration_ms: int
    latency_percentile: float
    samples_per_query: int
    target_qps: float | None
    target_latency_ns: int | None
    expected_latency_ns: int | None
    performance_sample_count: int


class ScenarioRun(ResultModel):
    """One LoadGen performance run: its numbers as LoadGen reported them, and its energy."""

    scenario: Scenario
    settings: LoadGenSettings
    valid: bool = Field(description="LoadGen's verdict (its result_validity)")
    invalid_reasons: list[str] = Field(description="why LoadGen or the harness found the run invalid")
    queries: int
    samples: int
    duration_s: float = Field(description="LoadGen's run: first query issued to last sample completed")
    samples_per_s: float
    latency_percentile: float
    latency_ns: int = Field(description="the latency at the scenario's percentile (per query for MultiStream)")
    latencies_ns: dict[str, int] = Field(description="min, mean, max and LoadGen's percentiles, e.g. p90")
    energy: Energy
    joules_per_query: float | None = Field(description="energy over the run / queries, where a meter exists")
    logs: list[LoadGenLog]


class AccuracyRun(ResultModel):
    """LoadGen's accuracy run over the whole eval split, scored against its targets."""

    metric: str
    split: str
    samples: int
    achieved: float | None
    reference: float = Field(description="the fp32 reference's quality, from the rules")
    fraction: float = Field(description="of the reference's quality that must be reached (MLPerf: 0.99)")
    target: float
    passed: bool
    eval_targets: LoadGenLog = Field(description="the eval targets the accuracy log is scored with (.npy)")
    logs: list[LoadGenLog]


class InferenceTiming(ResultModel):
    clock: Literal["time.perf_counter"] = "time.perf_counter"
    init_s: float
    init_budget_s: float
    accuracy_s: float = Field(description="the accuracy run, untimed for the score")
    scenario_s: dict[str, float] = Field(description="wall time of each LoadGen performance run")


class InferenceRecord(ResultModel):
    """An inference run: the accuracy gate, then one LoadGen performance run per scenario."""

    loadgen_version: str
    batch_size: int
    timing: InferenceTiming
    accuracy: AccuracyRun
    scenarios: list[ScenarioRun]
    valid: bool = Field(description="the accuracy gate passed and every scenario is VALID")
    reason: str
    session: dict[str, HyperparameterValue] = Field(
        default_factory=dict, description="what the implementation chose (precision, graph capture)"
    )

    def files(self) -> list[LoadGenLog]:
        """Every file the run wrote beside its result, in a fixed order."""
        return [self.accuracy.eval_targets, *self.accuracy.logs, *(log for run in self.scenarios for log in run.logs)]


class InferenceRunResult(RunResultBase):
    """An inference run under MLPerf LoadGen; its logs are the record (there is no MLLOG file)."""

    kind: Literal["inference"] = "inference"
    inference: InferenceRecord


class SignedInferenceRunResult(InferenceRunResult):
    signature: SignatureBlock


class HeldOutFile(ResultModel):
    """The held-out split the predictive score is computed on, saved beside the run (.npz, its arrays
    named as in the dataset), so the validator can score the draws from the files alone; its content
    hash is the dataset's hash of that split."""

    file: str
    sha256: str = Field(description="of the file's bytes")
    content_sha256: str = Field(description="of its arrays, as the dataset manifest hashes the split")


class DrawsFile(ResultModel):
    """The run's draws beside its result (NetCDF through ArviZ), pinned by its hash."""

    file: str = Field(description="relative to the run file's directory, e.g. run_1.draws.nc")
    sha256: str
    chains: int
    draws_per_chain: int
    parameters: int


class DiagnosticsPoint(ResultModel):
    """The diagnostics after one block of draws, when the harness checked them."""

    draws_per_chain: int
    elapsed_s: float = Field(description="since the timed region started (burn-in included)")
    rhat: float | None
    ess_bulk: float | None
    ess_tail: float | None
    predictive: float | None = Field(description="the predictive score, computed only once the bounds held")


class SamplingTiming(ResultModel):
    clock: Literal["time.perf_counter"] = "time.perf_counter"
    init_s: float
    init_budget_s: float
    burn_in_s: float
    run_s: float = Field(description="burn-in and every block of draws, with the diagnostics between")
    time_to_train_s: float = Field(
        description="time to the target (the diagnostics' bounds and the predictive score met): run_s plus any "
        "init time beyond the budget; named as training results name it, so one olympic score ranks both"
    )


class SamplingQuality(ResultModel):
    """The held-out predictive score and the diagnostics the run ended with."""

    metric: str
    split: str
    direction: Direction
    target: float
    achieved: float | None = Field(description="the predictive score over every kept draw, at the end")
    converged: bool
    stop_reason: str
    measurements: dict[str, float | None] = Field(description="rhat, ess_bulk and ess_tail over every kept draw")
    summaries: str = Field(description="what the diagnostics are computed over")
    curve: list[DiagnosticsPoint]
    max_draws_per_chain: int


class SamplerRecord(ResultModel):
    """What the chains did: the rules' settings, and per chain the adapted step size and acceptance."""

    chains: int
    leapfrog_steps: int
    burn_in: int
    adaptation_steps: int
    initial_state_sha256: str = Field(description="of the (chains, parameters) float32 start the harness drew")
    step_size: list[float]
    burn_in_acceptance: list[float]
    acceptance: list[float] = Field(description="fraction of kept draws whose proposal was accepted, per chain")
    session: dict[str, HyperparameterValue] = Field(default_factory=dict)


class SamplingEfficiency(ResultModel):
    """Effective samples (the bulk ESS over the run's draws) per second and per joule."""

    ess_per_s: float | None
    s_per_effective_sample: float | None
    j_per_effective_sample: float | None = Field(description="where a meter exists")


class SamplingRunResult(RunResultBase):
    """A sampling run: its draws (the record, beside it), the diagnostics and the predictive score."""

    kind: Literal["sampling"] = "sampling"
    timing: SamplingTiming
    quality: SamplingQuality
    sampler: SamplerRecord
    efficiency: SamplingEfficiency
    draws: DrawsFile
    heldout: HeldOutFile

    def files(self) -> list[tuple[str, str]]:
        """(file, sha256) of everything the run wrote beside its result."""
        return [(self.draws.file, self.draws.sha256), (self.heldout.file, self.heldout.sha256)]


class SignedSamplingRunResult(SamplingRunResult):
    signature: SignatureBlock


AnySignedRun = Union[SignedTrainingRunResult, SignedInferenceRunResult, SignedSamplingRunResult]
SIGNED_RUN_MODELS: dict[str, type[BaseModel]] = {
    "train_to_target": SignedTrainingRunResult,
    "inference": SignedInferenceRunResult,
    "sampling": SignedSamplingRunResult,
}


def parse_signed_run(document: object) -> AnySignedRun:
    """A signed run result of the kind its `kind` names (a pydantic ValidationError, located
    as in that kind's model, if it does not hold; a document of no known kind is read as a
    training result)."""
    kind = document.get("kind") if isinstance(document, dict) else None
    model = SIGNED_RUN_MODELS.get(kind, SignedTrainingRunResult)  # type: ignore[arg-type]
    return model.model_validate(document)  # type: ignore[return-value]


class ScoredRun(ResultModel):
    file: str
    sha256: str = Field(description="of the run file's bytes, so the score pins its runs")
    seed: int
    converged: bool
    time_to_train_s: float | None
    achieved: float | None


class BenchmarkScore(ResultModel):
    schema_version: Literal["1"] = SCORE_SCHEMA_VERSION
    suite_version: str
    rules_version: str
    workload: str
    scale: Scale
    division: Division
    system: str
    aggregation: Literal["olympic"] = "olympic"
    minimum_runs: int
    max_non_converged: int
    runs: list[ScoredRun]
    dropped: list[str]
    non_converged: int
    score_s: float | None
    valid: bool
    reason: str
    created_at: str


class SignedBenchmarkScore(BenchmarkScore):
    signature: SignatureBlock
