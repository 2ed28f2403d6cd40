"""The runner: a planned set of runs (`accelbench.run.plan`) run one by one through its kind's
harness loop, each result signed and written, then the set scored. The pytest plugin and
`accelbench run` both drive this.

The set claims what a run needs when its first run starts, not when it is planned: the process
group, the first seed, the signing key (created on first use), the results directory, the power
meter and the provenance. Under a launcher (torchrun, srun, poprun) every process runs the same
set in lockstep on its own shard; rank 0 holds the key and writes the files, and hands what it
wrote to the others.
"""

from __future__ import annotations

import atexit
import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accelbench import __version__
from accelbench.contracts.context import RunContext
from accelbench.energy.meter import PowerMeter, Unavailable
from accelbench.energy.sampler import EnergySampler
from accelbench.energy.selection import choose_meter
from accelbench.errors import UserError
from accelbench.judging.scoring import olympic_score
from accelbench.results import provenance
from accelbench.results.files import write_json_atomic
from accelbench.results.layout import SCORE_FILE, prepare_results_directory, run_file_name
from accelbench.results.models import (
    AnySignedRun,
    BenchmarkScore,
    CacheClear,
    Provenance,
    ScoredRun,
    SignedBenchmarkScore,
    SignedInferenceRunResult,
    SignedSamplingRunResult,
    parse_signed_run,
)
from accelbench.results.draws import draws_file_name
from accelbench.run import distributed
from accelbench.run.devices import Device
from accelbench.run.events import EventLog, NullLog
from accelbench.run.harness import (
    KindRecord,
    RunIdentity,
    clear_page_cache,
    combined_energy,
    log_submission,
    now,
    record_run,
    sign_and_write,
)
from accelbench.run.implementations import implementation_directory
from accelbench.run.inference import InferenceHarness
from accelbench.run.kinds import harness_for
from accelbench.run.plan import BenchmarkPlan
from accelbench.run.preparation import PreparedData, prepare_data
from accelbench.run.sampling import SamplingHarness
from accelbench.run.training import TrainingHarness
from accelbench.run.world import World
from accelbench.trust.keys import load_or_create_key
from accelbench.trust.signing import sign_document

Report = Callable[[str], None]


def _process_device(device: Device, world: World) -> str:
    """One GPU per process: the local rank's, or the only one srun --gpus-per-task left visible."""
    if device.torch_device == "cuda":
        index = world.local_rank % torch.cuda.device_count()
        torch.cuda.set_device(index)
        return f"cuda:{index}"
    return device.torch_device


@dataclass(frozen=True)
class _Started:
    """What the set claimed when its first run started."""

    torch_device: str
    seeds: tuple[int, ...]
    key: Ed25519PrivateKey | None  # rank 0 only
    provenance: Provenance
    meter: PowerMeter | Unavailable


def new_sampler(meter: PowerMeter | Unavailable) -> EnergySampler | Unavailable:
    """A fresh sampler of the set's meter for one timed region, or why there is none."""
    return meter if isinstance(meter, Unavailable) else EnergySampler(meter)


def verdict(result: AnySignedRun) -> str:
    """A run's outcome in a few words."""
    if isinstance(result, SignedInferenceRunResult):
        record = result.inference
        return f"{'valid' if record.valid else 'NOT valid'} ({record.reason})"
    quality = result.quality
    verdict = f"{'converged' if quality.converged else 'NOT converged'} ({quality.stop_reason})"
    if isinstance(result, SignedSamplingRunResult) and result.efficiency.ess_per_s is not None:
        verdict += f"; {result.efficiency.ess_per_s:.2f} effective samples/s"
    return verdict


def _silent(line: str) -> None:
    """Ranks other than 0 print nothing: rank 0 speaks for the run."""


class BenchmarkSet:
    """The runs of one plan: run them one by one, then score them."""

    def __init__(self, plan: BenchmarkPlan, report: Report = print) -> None:
        self.plan = plan
        self.report = report if plan.world.primary else _silent
        self.results: dict[int, AnySignedRun] = {}
        self.last_score: SignedBenchmarkScore | None = None
        self._data: PreparedData | None = None
        self._started: _Started | None = None

    @property
    def started(self) -> _Started:
        if self._started is None:
            self._started = self._start()
        return self._started

    def _start(self) -> _Started:
        plan, world = self.plan, self.plan.world
        torch_device = _process_device(plan.device, world)
        distributed.join(world, distributed.backend_for(torch_device))
        base = distributed.share(plan.first_seed if plan.first_seed is not None else secrets.randbelow(2**31), world)
        key: Ed25519PrivateKey | None = None

        def claim_key_and_results_directory() -> None:
            """Rank 0 alone signs and writes."""
            nonlocal key
            key, key_file, created = load_or_create_key(plan.key_path)
            if created:
                self.report(f"created a signing key at {key_file} (back it up; results are signed with it)")
            prepare_results_directory(plan.results_dir)

        distributed.on_primary(world, claim_key_and_results_directory)
        meter = choose_meter(plan.device.name, world.local_rank)
        if not isinstance(meter, Unavailable):
            atexit.register(meter.close)
        return _Started(
            torch_device=torch_device,
            seeds=tuple(base + i for i in range(plan.runs)),
            key=key,
            provenance=provenance.collect(implementation_directory(plan.implementation)),
            meter=meter,
        )

    @property
    def data(self) -> PreparedData:
        if self._data is None:
            self._data = prepare_data(self.plan, self.report)
        return self._data

    def run(self, index: int) -> AnySignedRun:
        """Run `index` (from 1) and write its files; every rank gets what rank 0 wrote."""
        plan, rules, started = self.plan, self.plan.rules, self.started
        seed = started.seeds[index - 1]
        data = self.data
        context = RunContext(
            workload=rules.workload, scale=plan.scale, division=plan.division,
            hyperparameters=plan.hyperparameters, seed=seed, device=started.torch_device,
            world=plan.world, dataset_parameters=rules.dataset.parameters_for(plan.scale),
        )
        label = f"run {index}/{plan.runs}"
        where = plan.device.name + (f" x{plan.world.size} processes" if plan.world.size > 1 else "")
        self.report(f"{rules.workload} {plan.scale} {label} on {where} (seed {seed})")

        def on_progress(progress) -> None:
            self.report(progress.describe(label, rules.quality.metric))

        harness = harness_for(rules, plan.scale, plan.mode)
        if isinstance(harness, InferenceHarness):
            record, cache_clear, log_path = self._serve(harness, context, data, index, on_progress)
        elif isinstance(harness, SamplingHarness):
            record, cache_clear, log_path = self._sample(harness, context, data, index, on_progress)
        else:
            record, cache_clear, log_path = self._train(harness, context, data, index, on_progress)
        energy = combined_energy(plan, started.provenance.hostname_sha256[:16], record.energy, started.meter)
        identity = RunIdentity(index=index, seed=seed, environment=started.provenance,
                               dataset=data.record, cache_clear=cache_clear)

        def write() -> dict:
            return sign_and_write(record_run(plan, identity, record, energy, log_path), started.key, plan.results_dir)

        self.results[index] = parse_signed_run(distributed.on_primary(plan.world, write))
        self.report(f"{label}: {verdict(self.results[index])}; wrote {plan.results_dir}/{run_file_name(index)}")
        return self.results[index]

    def _train(self, harness: TrainingHarness, context: RunContext, data: PreparedData, index: int,
               on_progress: Callable) -> tuple[KindRecord, CacheClear, Path]:
        """A training run inside its MLPerf event log (rank 0 writes it)."""
        plan, meter = self.plan, self.started.meter
        log_path = plan.results_dir / f"run_{index}.mllog"
        with (EventLog(log_path) if plan.world.primary else NullLog()) as log:
            log_submission(log, plan)
            cache_clear = clear_page_cache(log, plan.world)
            sampler = new_sampler(meter)
            record = harness.run(plan.implementation, context, data, log, on_progress=on_progress,
                                 sampler=sampler if isinstance(sampler, EnergySampler) else None)
        return record, cache_clear, log_path

    def _serve(self, harness: InferenceHarness, context: RunContext, data: PreparedData, index: int,
               on_progress: Callable) -> tuple[KindRecord, CacheClear, None]:
        """An inference run: LoadGen's logs beside the run file are its record, so no MLLOG file."""
        plan, meter = self.plan, self.started.meter
        cache_clear = clear_page_cache(NullLog(), plan.world)
        record = harness.run(plan.implementation, context, data, plan.results_dir / f"run_{index}.loadgen",
                             on_progress=on_progress, new_sampler=lambda: new_sampler(meter))
        return record, cache_clear, None

    def _sample(self, harness: SamplingHarness, context: RunContext, data: PreparedData, index: int,
                on_progress: Callable) -> tuple[KindRecord, CacheClear, None]:
        """A sampling run: its draws beside the run file are its record, so no MLLOG file."""
        plan = self.plan
        cache_clear = clear_page_cache(NullLog(), plan.world)
        sampler = new_sampler(self.started.meter)
        record = harness.run(plan.implementation, context, data, plan.results_dir / draws_file_name(index),
                             on_progress=on_progress, sampler=sampler if isinstance(sampler, EnergySampler) else None)
        return record, cache_clear, None

    def ordered_results(self) -> list[AnySignedRun]:
        return [self.results[i] for i in sorted(self.results)]

    def score(self) -> SignedBenchmarkScore:
        """Olympic score over the runs done so far; written, signed, beside them."""
        if self.plan.rules.kind == "inference":
            raise UserError("an inference set is not scored over runs: each run's LoadGen results are its "
                            "record (see `accelbench summarize`)")
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
        files = [run_file_name(r.run_index) for r in ordered]
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
            created_at=now(),
        )
        signed = sign_document(score.model_dump(mode="json"), self.started.key)
        write_json_atomic(plan.results_dir / SCORE_FILE, signed)
        return signed
