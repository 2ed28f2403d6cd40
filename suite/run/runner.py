"""The runner: plan a set of runs, prepare the data, run each through the harness, write the
signed result files and the score. The pytest plugin and `accelbench run` both drive this.

Under a launcher (torchrun, srun, poprun) every process runs the same plan in lockstep on its
own shard; rank 0 holds the key and writes the files, and hands what it wrote to the others.
"""

from __future__ import annotations

import atexit
import datetime
import hashlib
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mlperf_logging.mllog import constants as mlk

from accelbench import __version__
from accelbench.data import datasets
from accelbench.run import distributed
from accelbench.run import hyperparameters
from accelbench.results import provenance
from accelbench.run.devices import Device, resolve_device
from accelbench.energy.meter import Unavailable
from accelbench.energy.sampler import EnergySampler
from accelbench.energy.selection import choose_meter
from accelbench.results.energy_record import RankEnergy, energy_record
from accelbench.run.distributed import World
from accelbench.errors import UserError
from accelbench.run.events import EventLog, NullLog
from accelbench.run.training import Harness, Mode, Progress, RunOutcome
from accelbench.run.implementations import implementation_directory, resolve_implementation
from accelbench.trust.keys import load_or_create_key
from accelbench.data.manifest import read_manifest
from accelbench.results.models import (
    BenchmarkScore,
    CurvePoint,
    DatasetRecord,
    Energy,
    EventLogRef,
    Quality,
    RunResult,
    ScoredRun,
    SignedBenchmarkScore,
    SignedRunResult,
    SplitRecord,
    SystemRecord,
    Throughput,
    Timing,
)
from accelbench.rules.loader import load_rules
from accelbench.rules.schema import SCALES, BenchmarkRules, Division, HyperparameterValue, Scale
from accelbench.judging.scoring import olympic_score
from accelbench.trust.signing import sign_document
from accelbench.results.files import prepare_results_directory, results_directory, write_json_atomic
from accelbench.contracts.training import RunContext

Report = Callable[[str], None]


MODES: tuple[Mode, ...] = ("to_target", "fixed_epochs")


@dataclass(frozen=True)
class BenchmarkPlan:
    """A set of runs of one workload, checked before any work starts."""

    rules: BenchmarkRules
    scale: Scale
    division: Division
    mode: Mode
    device: Device
    world: World
    torch_device: str  # this process's device, e.g. "cuda:3"
    implementation: ModuleType
    seeds: tuple[int, ...]
    hyperparameters: dict[str, HyperparameterValue]
    results_dir: Path
    data_dir: Path
    key: Ed25519PrivateKey | None = field(repr=False)  # rank 0 only
    key_path: Path | None

    @property
    def system_name(self) -> str:
        return system_name(self.device.name, self.world.size)


def system_name(platform: str, world_size: int) -> str:
    """'a100' for one process, 'a100_n8' for eight (MLPerf names systems by count too)."""
    return platform if world_size == 1 else f"{platform}_n{world_size}"


def _process_device(device: Device, world: World) -> str:
    """One GPU per process: the local rank's, or the only one srun --gpus-per-task left visible."""
    if device.torch_device == "cuda":
        index = world.local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return f"cuda:{index}"
    return device.torch_device


def plan_benchmark(
    workload: str,
    *,
    device: str,
    scale: str,
    runs: int | None = None,
    seed: int | None = None,
    results_root: Path = Path("results"),
    key_path: Path | None = None,
    data_dir: Path | None = None,
    division: Division = "closed",
    mode: str = "to_target",
    hparams: Sequence[str] = (),
    report: Report = print,
) -> BenchmarkPlan:
    """Check every input (device, workload, scale, key, results dir) and fail fast, in one line."""
    if scale not in SCALES:
        raise UserError(f"unknown scale '{scale}': use one of {', '.join(SCALES)}")
    if mode not in MODES:
        raise UserError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
    if runs is not None and runs < 1:
        raise UserError(f"--runs must be at least 1, got {runs}")
    resolved = resolve_device(device)
    world = distributed.world_from_environment()
    torch_device = _process_device(resolved, world)
    distributed.join(world, distributed.backend_for(torch_device))
    rules = load_rules(workload)
    if mode == "fixed_epochs" and rules.scaling is None:
        raise UserError(f"{workload} has no [scaling] rules, so no fixed-epoch mode: use --mode=to_target")
    implementation = resolve_implementation(rules, resolved)
    chosen = hyperparameters.resolve(
        rules, scale, division, getattr(implementation, "HYPERPARAMETERS", {}), hparams  # type: ignore[arg-type]
    )
    count = runs if runs is not None else rules.runs.minimum[scale]  # type: ignore[index]
    base = distributed.share(seed if seed is not None else secrets.randbelow(2**31), world)
    scale_dir = scale if mode == "to_target" else f"{scale}_fixed_epochs"
    target_dir = results_directory(results_root, system_name(resolved.name, world.size), workload, scale_dir)

    key: Ed25519PrivateKey | None = None
    key_file: Path | None = None

    def claim_key_and_results_directory() -> Path:
        """Rank 0 alone signs and writes; the others learn the directory from it."""
        nonlocal key, key_file
        key, key_file, created = load_or_create_key(key_path)
        if created:
            report(f"created a signing key at {key_file} (back it up; results are signed with it)")
        return prepare_results_directory(target_dir)

    results_dir = distributed.on_primary(world, claim_key_and_results_directory)
    return BenchmarkPlan(
        rules=rules,
        scale=scale,  # type: ignore[arg-type]
        division=division,
        mode=mode,  # type: ignore[arg-type]
        device=resolved,
        world=world,
        torch_device=torch_device,
        implementation=implementation,
        seeds=tuple(base + i for i in range(count)),
        hyperparameters=chosen,
        results_dir=results_dir,
        data_dir=datasets.data_directory(rules, scale, data_dir),  # type: ignore[arg-type]
        key=key,
        key_path=key_file,
    )


@dataclass(frozen=True)
class PreparedData:
    """The run's data, verified and in memory before any clock starts."""

    train_inputs: torch.Tensor
    train_targets: torch.Tensor
    eval_inputs: torch.Tensor
    eval_targets: torch.Tensor
    record: DatasetRecord


def prepare_data(plan: BenchmarkPlan, report: Report = print) -> PreparedData:
    """Generate the dataset on first use, then load it, verifying every split's checksum.

    One process reads whole splits and hashes what it reads. Several processes: rank 0
    generates or verifies the file, then each rank reads only its own shards."""
    rules, scale, world = plan.rules, plan.scale, plan.world
    eval_split = rules.quality.split

    def generate_if_needed() -> None:
        if not datasets.is_generated(plan.data_dir):
            report(f"generating the {rules.family} {scale} dataset in {plan.data_dir} (first use)")
            datasets.generate(rules, scale, plan.data_dir, progress=generation_progress(report))
        if world.size > 1:
            datasets.verify(rules, scale, plan.data_dir)

    distributed.on_primary(world, generate_if_needed)
    manifest = read_manifest(plan.data_dir)
    if world.size == 1:
        splits = datasets.load(rules, scale, plan.data_dir, ("train", eval_split))
        train, evaluation, eval_targets = splits["train"], splits[eval_split], splits[eval_split].targets
    else:
        train_rows = distributed.training_shard(
            manifest.splits["train"].samples, world, int(plan.hyperparameters["batch_size"])
        )
        eval_rows = distributed.eval_shard(manifest.splits[eval_split].samples, world)
        train = datasets.load_rows(rules, plan.data_dir, "train", train_rows)
        evaluation = datasets.load_rows(rules, plan.data_dir, eval_split, eval_rows)
        eval_targets = datasets.load_rows(rules, plan.data_dir, eval_split, slice(None), inputs=False).targets
    record = DatasetRecord(
        id=datasets.dataset_id(rules, scale),
        generator_version=manifest.generator_version,
        seed=manifest.seed,
        splits={
            name: SplitRecord(samples=entry.samples, sha256=entry.sha256)
            for name, entry in manifest.splits.items()
        },
    )
    shards = f" (rank 0 of {world.size} holds train rows {len(train.inputs)})" if world.size > 1 else ""
    report(
        f"dataset {record.id} verified: "
        + ", ".join(f"{name} {split.samples}" for name, split in record.splits.items())
        + shards
    )
    return PreparedData(
        train_inputs=train.inputs,
        train_targets=train.targets,
        eval_inputs=evaluation.inputs,
        eval_targets=eval_targets,
        record=record,
    )


def generation_progress(report: Report) -> Callable[[int, int], None]:
    state = {"last": -1}

    def show(done: int, total: int) -> None:
        percent = 100 * done // total
        if percent // 10 != state["last"] // 10 or done == total:
            state["last"] = percent
            report(f"  generated {done}/{total} samples ({percent}%)")

    return show


def _silent(line: str) -> None:
    """Ranks other than 0 print nothing: rank 0 speaks for the run."""


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


class BenchmarkSet:
    """The runs of one plan: run them one by one, then score them."""

    def __init__(self, plan: BenchmarkPlan, report: Report = print) -> None:
        self.plan = plan
        self.report = report if plan.world.primary else _silent
        self.results: dict[int, SignedRunResult] = {}
        self.last_score: SignedBenchmarkScore | None = None
        self._data: PreparedData | None = None
        self._provenance = provenance.collect(implementation_directory(plan.implementation))
        self._meter = choose_meter(plan.device.name, plan.world.local_rank)
        if not isinstance(self._meter, Unavailable):
            atexit.register(self._meter.close)

    @property
    def data(self) -> PreparedData:
        if self._data is None:
            self._data = prepare_data(self.plan, self.report)
        return self._data

    def run(self, index: int) -> SignedRunResult:
        """Train run `index` (from 1) and write its files; every rank gets what rank 0 wrote."""
        plan, rules = self.plan, self.plan.rules
        seed = plan.seeds[index - 1]
        context = RunContext(
            workload=rules.workload,
            scale=plan.scale,
            division=plan.division,
            hyperparameters=plan.hyperparameters,
            seed=seed,
            device=plan.torch_device,
            world=plan.world,
            train_inputs=self.data.train_inputs,
            train_targets=self.data.train_targets,
            eval_inputs=self.data.eval_inputs,
            dataset_parameters=rules.dataset.parameters_for(plan.scale),
        )
        log_path = plan.results_dir / f"run_{index}.mllog"
        label = f"run {index}/{len(plan.seeds)}"
        where = plan.device.name + (f" x{plan.world.size} processes" if plan.world.size > 1 else "")
        self.report(f"{rules.workload} {plan.scale} {label} on {where} (seed {seed})")
        with (EventLog(log_path) if plan.world.primary else NullLog()) as log:
            log.event(mlk.SUBMISSION_BENCHMARK, rules.workload)
            log.event(mlk.SUBMISSION_DIVISION, plan.division)
            log.event(mlk.SUBMISSION_ORG, "accelbench")
            log.event(mlk.SUBMISSION_PLATFORM, f"{plan.world.size}x{plan.device.description}")
            log.event(mlk.SUBMISSION_STATUS, "research")
            sampler = None if isinstance(self._meter, Unavailable) else EnergySampler(self._meter)
            outcome = Harness(rules, plan.scale, plan.mode).run(
                plan.implementation, context, self.data.eval_targets, log,
                on_progress=lambda p: self.report(format_progress(label, p, rules.quality.metric)),
                sampler=sampler,
            )
        contributions = distributed.gather_objects(RankEnergy(
            host=self._provenance.hostname_sha256[:16],
            measured=outcome.energy if outcome.energy is not None else self._meter,
        ), plan.world)

        def sign_and_write() -> dict:
            result = self._result(index, seed, outcome, log_path, energy_record(contributions))
            signed = sign_document(result.model_dump(mode="json"), plan.key)
            write_json_atomic(plan.results_dir / f"run_{index}.json", signed)
            return signed

        signed = distributed.on_primary(plan.world, sign_and_write)
        self.results[index] = SignedRunResult.model_validate(signed)
        verdict = "converged" if outcome.converged else "NOT converged"
        self.report(f"{label}: {verdict} ({outcome.stop_reason}); wrote {plan.results_dir}/run_{index}.json")
        return self.results[index]

    def _result(self, index: int, seed: int, outcome: RunOutcome, log_path: Path, energy: Energy) -> RunResult:
        plan, rules = self.plan, self.plan.rules
        budget = rules.timing.init_budget_s[plan.division]
        return RunResult(
            suite_version=__version__,
            rules_version=rules.rules_version,
            workload=rules.workload,
            kind=rules.kind,
            scale=plan.scale,
            division=plan.division,
            mode=plan.mode,
            run_index=index,
            seed=seed,
            created_at=_now(),
            system=SystemRecord(
                name=plan.system_name,
                platform=plan.device.name,
                device=plan.device.description,
                implementation=plan.implementation.__name__,
                world_size=plan.world.size,
                launcher=plan.world.launcher,
            ),
            environment=self._provenance,
            dataset=self.data.record,
            hyperparameters=plan.hyperparameters,
            timing=Timing(
                init_s=outcome.init_s,
                init_budget_s=budget,
                run_s=outcome.run_s,
                time_to_train_s=outcome.run_s + max(0.0, outcome.init_s - budget),
                epoch_s=outcome.epoch_s,
                final_eval_s=outcome.final_eval_s,
            ),
            quality=Quality(
                metric=rules.quality.metric,
                split=rules.quality.split,
                direction=rules.quality.direction,
                target=rules.quality.target[plan.scale],
                achieved=outcome.achieved,
                converged=outcome.converged,
                stop_reason=outcome.stop_reason,
                eval_kind=outcome.eval_kind,
                epochs=outcome.epochs,
                max_epochs=outcome.max_epochs,
                curve=[
                    CurvePoint(epoch=p.epoch, value=p.value, elapsed_s=p.elapsed_s, measurements=p.measurements)
                    for p in outcome.curve
                ],
                train_loss=outcome.train_loss,
                measurements=outcome.measurements,
            ),
            throughput=throughput(outcome, rules.units_per_sample(plan.scale)),
            energy=energy,
            event_log=EventLogRef(
                file=log_path.name, sha256=hashlib.sha256(log_path.read_bytes()).hexdigest()
            ),
        )

    def ordered_results(self) -> list[SignedRunResult]:
        return [self.results[i] for i in sorted(self.results)]

    def score(self) -> SignedBenchmarkScore:
        """Olympic score over the runs done so far; written, signed, beside them."""
        if self.plan.mode != "to_target":
            raise UserError(
                "fixed-epoch runs are not scored on time to train: compare them with "
                f"`accelbench scaling {self.plan.results_dir.parent}`"
            )
        self.last_score = SignedBenchmarkScore.model_validate(
            distributed.on_primary(self.plan.world, self._sign_and_write_score)
        )
        return self.last_score

    def _sign_and_write_score(self) -> dict:
        plan, rules = self.plan, self.plan.rules
        ordered = self.ordered_results()
        times = [r.timing.time_to_train_s if r.quality.converged else None for r in ordered]
        minimum = rules.runs.minimum[plan.scale]
        outcome = olympic_score(times, minimum, rules.runs.max_non_converged)
        files = [f"run_{r.run_index}.json" for r in ordered]
        score = BenchmarkScore(
            suite_version=__version__,
            rules_version=rules.rules_version,
            workload=rules.workload,
            scale=plan.scale,
            division=plan.division,
            system=plan.system_name,
            minimum_runs=minimum,
            max_non_converged=rules.runs.max_non_converged,
            runs=[
                ScoredRun(
                    file=name,
                    sha256=hashlib.sha256((plan.results_dir / name).read_bytes()).hexdigest(),
                    seed=r.seed,
                    converged=r.quality.converged,
                    time_to_train_s=r.timing.time_to_train_s if r.quality.converged else None,
                    achieved=r.quality.achieved,
                )
                for name, r in zip(files, ordered)
            ],
            dropped=[files[i] for i in outcome.dropped],
            non_converged=outcome.non_converged,
            score_s=outcome.value_s,
            valid=outcome.valid,
            reason=outcome.reason,
            created_at=_now(),
        )
        signed = sign_document(score.model_dump(mode="json"), plan.key)
        write_json_atomic(plan.results_dir / "score.json", signed)
        return signed


def throughput(outcome: RunOutcome, units_per_sample: dict[str, int]) -> Throughput:
    """Training samples per second of the timed region, and the rules' units per second."""
    samples_per_s = outcome.train_samples / outcome.run_s if outcome.run_s > 0 else 0.0
    return Throughput(
        train_samples=outcome.train_samples,
        samples_per_s=samples_per_s,
        units_per_s={unit: samples_per_s * count for unit, count in units_per_sample.items()},
    )


def format_progress(label: str, progress: Progress, metric: str) -> str:
    evaluated = (
        f" | val {metric} {progress.metric:.4f} (target {progress.target:g})"
        if progress.metric is not None else ""
    )
    evaluated += "".join(
        f" | {name} {value:.4f}" for name, value in progress.measurements.items() if value is not None
    )
    return (
        f"  {label} epoch {progress.epoch}/{progress.max_epochs} | train loss "
        f"{progress.train_loss:.4f}{evaluated} | {progress.samples_per_s:,.0f} samples/s | "
        f"{progress.elapsed_s:.0f}s elapsed, <= {progress.budget_left_s:.0f}s left to the epoch budget"
    )
