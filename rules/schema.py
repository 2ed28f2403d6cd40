"""The rules of a benchmark, as pydantic models: the rule files, the runner and the validator
all read these same models, so a rule is written once.

One schema fits every kind of workload: `train_to_target` (train until the quality target is
met), `inference` (measure throughput/latency at a quality bound) and `sampling` (draw samples
until the convergence diagnostics meet their bounds). The harness reads `quality` the same way
for all three: a primary metric with a target, optional extra bounds, a budget of epochs.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

Scale = Literal["smoke", "small", "full"]
SCALES: tuple[Scale, ...] = ("smoke", "small", "full")
Division = Literal["closed", "open"]
Kind = Literal["train_to_target", "inference", "sampling"]
Direction = Literal["at_most", "at_least"]
HyperparameterValue = Union[bool, int, float, str]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Scenario = Literal["SingleStream", "MultiStream", "Offline", "Server"]
SCENARIOS: tuple[Scenario, ...] = ("SingleStream", "MultiStream", "Offline", "Server")


class RuleModel(BaseModel):
    """Strict, closed models: a typo in a rule file is an error, never a silent default."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DatasetRules(RuleModel):
    """How the dataset is generated, how big each split is per scale, and its expected bytes."""

    generator: str = Field(description="what generates the data, in words")
    seed: int
    parameters: dict[str, HyperparameterValue] = Field(
        default_factory=dict, description="keyword arguments of the generator"
    )
    scale_parameters: dict[Scale, dict[str, HyperparameterValue]] = Field(
        default_factory=dict, description="generator arguments that differ per scale (e.g. input width)"
    )
    splits: dict[Scale, dict[str, Annotated[int, Field(gt=0)]]]
    sha256: dict[Scale, dict[str, Sha256 | Literal["unrecorded"]]] = Field(
        description="expected content hash per split; 'unrecorded' until a reference run records it"
    )

    @model_validator(mode="after")
    def _checksums_name_the_splits(self) -> DatasetRules:
        for scale, sizes in self.splits.items():
            recorded = set(self.sha256.get(scale, {}))
            if recorded != set(sizes):
                raise ValueError(
                    f"sha256.{scale}: must name exactly the splits {sorted(sizes)}, "
                    f"got {sorted(recorded)}"
                )
        return self

    def parameters_for(self, scale: Scale) -> dict[str, HyperparameterValue]:
        """The generator's keyword arguments at this scale."""
        return {**self.parameters, **self.scale_parameters.get(scale, {})}


class Bound(RuleModel):
    """A further quality condition, e.g. an ESS floor for a sampler."""

    metric: str
    direction: Direction
    value: dict[Scale, float]


class QualityRules(RuleModel):
    """What counts as done: the metric, its direction, the target per scale, when to evaluate."""

    metric: str
    split: str = Field(description="the split the metric is measured on")
    direction: Direction
    target: dict[Scale, float]
    eval_every_epochs: Annotated[int, Field(ge=1)] = 1
    max_epochs: dict[Scale, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict, description="the epoch budget of a train-to-target workload"
    )
    bounds: list[Bound] = Field(default_factory=list)
    reported: list[str] = Field(
        default_factory=list, description="metrics recorded beside the target but not judged"
    )
    pseudo_validation: dict[Division, bool] = Field(
        default_factory=lambda: {"closed": False, "open": False},
        description=(
            "whether evals during the run may pass the eval inputs through the training graph at "
            "learning rate 0 (no graph switch); the reported quality is then a true eval after "
            "the clock stops, and a run converges only if that true eval meets the target too"
        ),
    )


class TimingRules(RuleModel):
    """Which work is on the clock and how much untimed initialisation is allowed."""

    timed: list[str]
    untimed: list[str]
    init_budget_s: dict[Division, Annotated[float, Field(gt=0)]]


class RunRules(RuleModel):
    """How many runs make a score and how they are aggregated."""

    minimum: dict[Scale, Annotated[int, Field(ge=1)]]
    aggregation: Literal["olympic"] = "olympic"
    max_non_converged: Annotated[int, Field(ge=0)] = 1


class Fixed(RuleModel):
    kind: Literal["fixed"]
    value: HyperparameterValue

    def allows(self, value: HyperparameterValue) -> bool:
        return type(value) is type(self.value) and value == self.value

    def describe(self) -> str:
        return f"fixed {self.value!r}"


class Choice(RuleModel):
    kind: Literal["enum"]
    values: list[HyperparameterValue]

    def allows(self, value: HyperparameterValue) -> bool:
        return any(type(value) is type(v) and value == v for v in self.values)

    def describe(self) -> str:
        return f"one of {self.values!r}"


class Range(RuleModel):
    kind: Literal["range"]
    min: float
    max: float
    integer: bool = False

    @model_validator(mode="after")
    def _ordered(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min: {self.min} is above max {self.max}")
        return self

    def allows(self, value: HyperparameterValue) -> bool:
        kinds = (int,) if self.integer else (int, float)
        numeric = isinstance(value, kinds) and not isinstance(value, bool)
        return numeric and self.min <= value <= self.max

    def describe(self) -> str:
        return f"{'integer ' if self.integer else ''}range [{self.min:g}, {self.max:g}]"


class Free(RuleModel):
    kind: Literal["free"]

    def allows(self, value: HyperparameterValue) -> bool:
        return True

    def describe(self) -> str:
        return "free"


class AsReference(RuleModel):
    """The reference's value at the run's scale (e.g. a layer width that grows with the scale)."""

    kind: Literal["reference"]

    def allows(self, value: HyperparameterValue, reference: HyperparameterValue | None = None) -> bool:
        return type(value) is type(reference) and value == reference

    def describe(self) -> str:
        return "the reference value at the scale"


Constraint = Annotated[Union[Fixed, Choice, Range, Free, AsReference], Field(discriminator="kind")]


class HyperparameterRules(RuleModel):
    """The reference values, and per division what a submission may change."""

    reference: dict[str, HyperparameterValue]
    scale_overrides: dict[Scale, dict[str, HyperparameterValue]] = Field(default_factory=dict)
    closed: dict[str, Constraint]
    open: dict[str, Constraint]

    @model_validator(mode="after")
    def _every_reference_value_is_constrained(self) -> HyperparameterRules:
        for division in ("closed", "open"):
            missing = set(self.reference) - set(getattr(self, division))
            if missing:
                raise ValueError(f"{division}: no constraint for {sorted(missing)}")
        return self

    def for_scale(self, scale: Scale) -> dict[str, HyperparameterValue]:
        """The reference hyperparameters in force at this scale."""
        return {**self.reference, **self.scale_overrides.get(scale, {})}

    def violations(
        self, division: Division, values: dict[str, HyperparameterValue], scale: Scale
    ) -> list[str]:
        """Every way `values` breaks the division's constraints at `scale` (empty when allowed)."""
        constraints = getattr(self, division)
        reference = self.for_scale(scale)
        problems = [f"'{name}' is not an allowed hyperparameter" for name in values if name not in constraints]
        for name, constraint in constraints.items():
            if name not in values:
                problems.append(f"'{name}' is missing")
                continue
            if isinstance(constraint, AsReference):
                allowed = constraint.allows(values[name], reference.get(name))
                described = f"the reference value {reference.get(name)!r} at scale {scale}"
            else:
                allowed, described = constraint.allows(values[name]), constraint.describe()
            if not allowed:
                problems.append(f"'{name}' = {values[name]!r} breaks {described}")
        return problems


class ImplementationRules(RuleModel):
    """What a closed-division submission may change in how it computes, and what it may not
    (the hyperparameters' allowed values are in `hyperparameters`)."""

    closed_allows: list[str]
    closed_forbids: list[str]


class ScalingRules(RuleModel):
    """The weak-scaling study: a fixed number of epochs at every accelerator count, the local
    batch held constant (the global batch grows with the count), judged on end quality, time
    per epoch and energy per epoch rather than on time to the target."""

    epochs: dict[Scale, Annotated[int, Field(ge=1)]]
    notes: str = ""


class CalibrationRecord(RuleModel):
    """Where a target came from: the reference runs that set it, on which hardware."""

    status: Literal["calibrated", "uncalibrated"]
    device: str
    date: datetime.date | None = None
    runs: Annotated[int, Field(ge=0)] = 0
    seeds: list[int] = Field(default_factory=list)
    epochs_to_target: list[int] = Field(default_factory=list)
    mean_epochs_to_target: float | None = None
    time_to_target_s: list[float] = Field(default_factory=list)
    final_metric: list[float] = Field(default_factory=list)
    global_batch_size: Annotated[int, Field(ge=1)] | None = Field(
        None, description="samples per optimizer step over all processes in the calibration runs: "
        "the reference convergence check compares only sets trained at this global batch"
    )
    draws_to_target: list[int] = Field(
        default_factory=list, description="a sampling workload's draws per chain to its bounds, per run"
    )
    command: str = ""
    notes: str = ""

    @model_validator(mode="after")
    def _runs_match_lists(self) -> CalibrationRecord:
        if self.status == "calibrated" and self.draws_to_target:  # a sampler's: draws, not epochs
            for name in ("seeds", "draws_to_target", "time_to_target_s", "final_metric"):
                if len(getattr(self, name)) != self.runs:
                    raise ValueError(f"{name}: a calibrated record with runs={self.runs} needs {self.runs} "
                                     f"{name}, got {len(getattr(self, name))}")
            if self.runs == 0 or self.date is None:
                raise ValueError("status: 'calibrated' needs runs > 0 and a date")
        elif self.status == "calibrated":
            for name in ("seeds", "epochs_to_target", "time_to_target_s", "final_metric"):
                if len(getattr(self, name)) != self.runs:
                    raise ValueError(
                        f"{name}: a calibrated record with runs={self.runs} needs {self.runs} "
                        f"{name}, got {len(getattr(self, name))}"
                    )
            if self.runs == 0 or self.date is None or self.mean_epochs_to_target is None \
                    or self.global_batch_size is None:
                raise ValueError("status: 'calibrated' needs runs > 0, a date, mean_epochs_to_target and "
                                 "global_batch_size")
        return self


class ScenarioRules(RuleModel):
    """What MLPerf LoadGen is told for one scenario, per scale (its TestSettings)."""

    min_query_count: dict[Scale, Annotated[int, Field(ge=1)]]
    min_duration_ms: dict[Scale, Annotated[int, Field(ge=0)]]
    latency_percentile: Annotated[float, Field(gt=0, lt=1)] = Field(
        description="the latency percentile the scenario is judged on (MLPerf: 0.9 SingleStream, 0.99 else)"
    )
    samples_per_query: Annotated[int, Field(ge=1)] = Field(1, description="MultiStream's samples per query")
    target_latency_ms: dict[Scale, Annotated[float, Field(gt=0)]] = Field(
        default_factory=dict, description="Server: the latency bound at the percentile"
    )


SCENARIO_HYPERPARAMETERS: dict[Scenario, str] = {
    "SingleStream": "single_stream_expected_latency_ms",
    "MultiStream": "multi_stream_expected_latency_ms",
    "Offline": "offline_expected_qps",
    "Server": "server_target_qps",
}
"""What a system tells LoadGen about itself, per scenario, as a hyperparameter (MLPerf leaves
these to the submitter): the expected latency or rate that sizes the run, and for Server the
arrival rate it claims to sustain within the latency bound."""


class WeightsRules(RuleModel):
    """How the served weights are trained (once, by `accelbench data generate`) and their hashes."""

    recipe: str = Field(description="the training recipe, in words")
    seed: int
    parameters: dict[str, HyperparameterValue] = Field(default_factory=dict)
    scale_parameters: dict[Scale, dict[str, HyperparameterValue]] = Field(default_factory=dict)
    sha256: dict[Scale, Sha256 | Literal["unrecorded"]] = Field(
        description="content hash of the trained arrays per scale; 'unrecorded' until a run records it"
    )

    def parameters_for(self, scale: Scale) -> dict[str, HyperparameterValue]:
        return {**self.parameters, **self.scale_parameters.get(scale, {})}


class InferenceRules(RuleModel):
    """An inference workload: the LoadGen scenarios measured at each scale, and the accuracy gate
    (the quality of the outputs over the whole eval split must be at least `accuracy_fraction`
    of the fp32 reference's, `reference_quality`; quality.target holds that product)."""

    scenarios: dict[Scale, list[Scenario]]
    settings: dict[Scenario, ScenarioRules]
    accuracy_fraction: Annotated[float, Field(gt=0, le=1)] = 0.99
    reference_quality: dict[Scale, float | Literal["unrecorded"]] = Field(
        description="the fp32 reference's quality on the eval split; 'unrecorded' until a reference run records it"
    )
    eval_targets_sha256: dict[Scale, Sha256 | Literal["unrecorded"]] = Field(
        description="content hash of the eval split's targets, which the validator scores the accuracy log with"
    )
    weights: WeightsRules

    @model_validator(mode="after")
    def _scenarios_have_settings(self) -> InferenceRules:
        for scale, scenarios in self.scenarios.items():
            for scenario in scenarios:
                settings = self.settings.get(scenario)
                if settings is None:
                    raise ValueError(f"settings: {scenario} runs at {scale} but has no settings")
                needed = ("target_latency_ms",) if scenario == "Server" else ()
                for name in ("min_query_count", "min_duration_ms", *needed):
                    if scale not in getattr(settings, name):
                        raise ValueError(f"settings.{scenario}.{name}: no value for scale {scale}")
        return self


class PosteriorModelRules(RuleModel):
    """The Bayesian model the sampler targets: a dense network x -> tanh(x W1 + b1) -> (. W2 + b2)
    -> . w3 + b3 over the dataset's features (the seed's layout, 22 x 40 + 40 + 40 + 3 = 963
    parameters), Normal(0, prior_scale) priors on every parameter and a Student-t likelihood."""

    hidden_units: Annotated[int, Field(ge=1)]
    prior_scale: Annotated[float, Field(gt=0)]
    likelihood_df: Annotated[float, Field(gt=0)]
    likelihood_scale: Annotated[float, Field(gt=0)]


class SamplingRules(RuleModel):
    """A sampling workload: the sampler's budget per scale and what the diagnostics are taken
    over. Each chain runs `burn_in` steps (adapting its step size over the first
    `adaptation_fraction` of them) and then at most `results_per_chain` kept draws, handed to the
    harness in blocks of `block_draws`; after each block the harness computes the diagnostics
    over every draw so far, and the run converges at the first block where they meet the
    quality bounds and the held-out predictive quality meets its target."""

    model: PosteriorModelRules
    leapfrog_steps: dict[Scale, Annotated[int, Field(ge=1)]]
    burn_in: dict[Scale, Annotated[int, Field(ge=1)]]
    results_per_chain: dict[Scale, Annotated[int, Field(ge=4)]]
    block_draws: dict[Scale, Annotated[int, Field(ge=1)]]
    initial_scale: Annotated[float, Field(gt=0)] = Field(
        description="every chain starts at its own Normal(0, initial_scale) draw of every parameter, from the run's seed"
    )
    initial_step_size: Annotated[float, Field(gt=0)]
    target_accept_prob: Annotated[float, Field(gt=0, lt=1)]
    adaptation_fraction: Annotated[float, Field(gt=0, le=1)]
    probe_rows: Annotated[int, Field(ge=1)] = Field(
        description="the first rows of the held-out split whose posterior predictive means are the diagnosed summaries"
    )
    tail_ess_probability: Annotated[float, Field(gt=0, lt=0.5)] = Field(
        0.05, description="tail ESS is the smaller quantile ESS at this probability and 1 minus it"
    )
    summaries: str = Field(description="what R-hat and ESS are computed over, and why, in words")

    def adaptation_steps(self, scale: Scale) -> int:
        return max(1, int(self.burn_in[scale] * self.adaptation_fraction))


class BenchmarkRules(RuleModel):
    """Everything that fixes one workload in one rule-set version."""

    workload: str
    family: str = Field(
        description=(
            "the code and data the workload shares with its variants: reference/<family>, "
            "submissions/<device>/<family> and the dataset cache <family>/<scale>; variants differ "
            "in targets, bounds or hyperparameters, never in their dataset (defaults to the workload)"
        ),
    )
    rules_version: str
    kind: Kind
    title: str
    dataset: DatasetRules
    quality: QualityRules
    timing: TimingRules
    runs: RunRules
    hyperparameters: HyperparameterRules
    calibration: dict[Scale, CalibrationRecord]
    implementation: ImplementationRules | None = None
    scaling: ScalingRules | None = None
    inference: InferenceRules | None = Field(None, description="the LoadGen settings of an inference workload")
    sampling: SamplingRules | None = Field(None, description="the sampler's budget of a sampling workload")
    compare_with: str | None = Field(
        None, description="the workload of the same family and kind this variant is measured against: "
                          "`accelbench summarize` prints their ratios per system"
    )
    throughput_units: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "units reported per second besides samples, each named after the integer dataset "
            "parameter that counts it per sample, e.g. timesteps = \"steps\" (timesteps/s is the "
            "cross-library unit of SNN training)"
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _family_defaults_to_the_workload(cls, data: object) -> object:
        if isinstance(data, dict) and "family" not in data and "workload" in data:
            return {**data, "family": data["workload"]}
        return data

    @model_validator(mode="after")
    def _every_scale_is_complete(self) -> BenchmarkRules:
        if (self.kind == "inference") != (self.inference is not None):
            raise ValueError("inference: an inference workload needs an [inference] table, and only it")
        if (self.kind == "sampling") != (self.sampling is not None):
            raise ValueError("sampling: a sampling workload needs a [sampling] table, and only it")
        tables = {
            "dataset.splits": self.dataset.splits,
            "quality.target": self.quality.target,
            "runs.minimum": self.runs.minimum,
            "calibration": self.calibration,
        }
        if self.kind == "train_to_target":
            tables["quality.max_epochs"] = self.quality.max_epochs
        if self.scaling is not None:
            tables["scaling.epochs"] = self.scaling.epochs
        if self.inference is not None:
            tables.update({
                "inference.scenarios": self.inference.scenarios,
                "inference.reference_quality": self.inference.reference_quality,
                "inference.eval_targets_sha256": self.inference.eval_targets_sha256,
                "inference.weights.sha256": self.inference.weights.sha256,
            })
        if self.sampling is not None:
            tables.update({f"sampling.{name}": getattr(self.sampling, name)
                           for name in ("leapfrog_steps", "burn_in", "results_per_chain", "block_draws")})
            if "chains" not in self.hyperparameters.reference:
                raise ValueError("hyperparameters.reference: a sampling workload needs chains")
        for name, table in tables.items():
            missing = [scale for scale in SCALES if scale not in table]
            if missing:
                raise ValueError(f"{name}: no entry for scale(s) {missing}")
        for bound in self.quality.bounds:
            missing = [scale for scale in SCALES if scale not in bound.value]
            if missing:
                raise ValueError(f"quality.bounds: {bound.metric} has no value for {missing}")
        if self.inference is not None:
            scenarios = {scenario for listed in self.inference.scenarios.values() for scenario in listed}
            for scenario in sorted(scenarios):
                if SCENARIO_HYPERPARAMETERS[scenario] not in self.hyperparameters.reference:
                    raise ValueError(f"hyperparameters.reference: {scenario} runs, so it needs "
                                     f"{SCENARIO_HYPERPARAMETERS[scenario]}")
            for scale in SCALES:
                reference = self.inference.reference_quality[scale]
                if reference == "unrecorded":
                    continue
                gate = self.inference.accuracy_fraction * reference
                if abs(self.quality.target[scale] - gate) > 1e-6 * max(1.0, abs(gate)):
                    raise ValueError(
                        f"quality.target: {self.quality.target[scale]} at {scale} must be accuracy_fraction x "
                        f"reference_quality = {gate:.6g}"
                    )
        for unit, parameter in self.throughput_units.items():
            for scale in SCALES:
                count = self.dataset.parameters_for(scale).get(parameter)
                if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                    raise ValueError(
                        f"throughput_units: {unit} counts dataset parameter '{parameter}', which is "
                        f"{count!r} at scale {scale}; name an integer parameter of the dataset"
                    )
        return self

    def units_per_sample(self, scale: Scale) -> dict[str, int]:
        """How many of each throughput unit one sample holds at this scale."""
        parameters = self.dataset.parameters_for(scale)
        return {unit: int(parameters[parameter]) for unit, parameter in self.throughput_units.items()}  # type: ignore[arg-type]
