"""The part of the harness every kind of workload shares: the clock, the frame of the event
log, the energy sampler over the timed region, the page cache cleared before a run, and the
result assembled, signed and written.

A kind's loop (`accelbench.run.training`, `accelbench.run.inference`, `accelbench.run.sampling`)
drives its session inside `TimedRegion` with a `HarnessClock` and hands back its own parts of
the result (`KindRecord`); `record_run` puts them together with what every result holds. The
harness owns the clock: a session is never given it, and its device is synchronized before
every reading.
"""

from __future__ import annotations

import datetime
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from mlperf_logging.mllog import constants as mlk

from accelbench import __version__
from accelbench.energy.measurement import EnergyMeasurement
from accelbench.energy.meter import PowerMeter, Unavailable
from accelbench.energy.sampler import EnergySampler
from accelbench.results.energy_record import RankEnergy, energy_record
from accelbench.results.files import write_json_atomic
from accelbench.results.layout import run_file_name
from accelbench.results.models import (
    CacheClear,
    DatasetRecord,
    Energy,
    EventLogRef,
    InferenceRunResult,
    Provenance,
    ResultModel,
    RunResultBase,
    SamplingRunResult,
    SystemRecord,
    TrainingRunResult,
)
from accelbench.run import distributed, page_cache
from accelbench.run.events import EventLog, NullLog
from accelbench.run.world import World
from accelbench.trust.signing import sign_document

if TYPE_CHECKING:
    from accelbench.run.plan import BenchmarkPlan

Clock = Callable[[], float]


class HarnessClock:
    """The scored clock: `read` (perf_counter) taken only after `synchronize` returned, so work
    an accelerator still has queued is counted where it belongs."""

    def __init__(self, synchronize: Callable[[], None] = lambda: None, read: Clock = time.perf_counter) -> None:
        self.synchronize = synchronize
        self.read = read

    def __call__(self) -> float:
        self.synchronize()
        return self.read()


class TimedRegion:
    """run_start to run_stop: the log's interval, the harness clock and the energy sampler,
    started and stopped together."""

    def __init__(self, log: EventLog | NullLog, clock: HarnessClock, sampler: EnergySampler | None) -> None:
        self.log, self.clock, self.sampler = log, clock, sampler
        self.begin = 0.0

    def start(self) -> None:
        self.log.start(mlk.RUN_START)
        self.begin = self.clock()
        if self.sampler is not None:
            self.sampler.start()

    def elapsed(self) -> float:
        return self.clock() - self.begin

    def stop(self, success: bool, **metadata: object) -> tuple[float, EnergyMeasurement | None]:
        """The region's duration and this process's energy over it."""
        energy = self.sampler.stop() if self.sampler is not None else None
        run_s = self.clock() - self.begin
        self.log.end(mlk.RUN_STOP, status=mlk.SUCCESS if success else mlk.ABORTED, **metadata)
        return run_s, energy


@dataclass(frozen=True)
class KindRecord:
    """What a kind's loop measured: the result's own sections by field name (training: timing,
    quality, throughput; inference: inference), and this process's energy over the timed region."""

    sections: Mapping[str, ResultModel]
    energy: EnergyMeasurement | None


RESULT_MODELS: dict[str, type[RunResultBase]] = {
    "train_to_target": TrainingRunResult,
    "inference": InferenceRunResult,
    "sampling": SamplingRunResult,
}


def log_submission(log: EventLog | NullLog, plan: BenchmarkPlan) -> None:
    """The submission_* keys MLPerf's logs open with."""
    log.event(mlk.SUBMISSION_BENCHMARK, plan.rules.workload)
    log.event(mlk.SUBMISSION_DIVISION, plan.division)
    log.event(mlk.SUBMISSION_ORG, "accelbench")
    log.event(mlk.SUBMISSION_PLATFORM, f"{plan.world.size}x{plan.device.description}")
    log.event(mlk.SUBMISSION_STATUS, "research")


def clear_page_cache(log: EventLog | NullLog, world: World) -> CacheClear:
    """Drop each host's page cache (local rank 0 of each host), log `cache_clear` with the
    outcome, and return it for the result."""
    mine = page_cache.clear_page_cache() if world.local_rank == 0 else None
    hosts = [outcome for outcome in distributed.gather_objects(mine, world) if outcome is not None]
    outcome = page_cache.combined(hosts)
    log.event(mlk.CACHE_CLEAR, outcome.cleared, detail=outcome.detail)
    return CacheClear(cleared=outcome.cleared, detail=outcome.detail)


def combined_energy(plan: BenchmarkPlan, host: str, measured: EnergyMeasurement | None,
                    meter: PowerMeter | Unavailable) -> Energy:
    """The result's energy: every rank's measurement (or why it has none), summed on rank 0."""
    contributions = distributed.gather_objects(
        RankEnergy(host=host, measured=measured if measured is not None else meter), plan.world)
    return energy_record(contributions)


@dataclass(frozen=True)
class RunIdentity:
    """What a result says about the run besides its measurements."""

    index: int
    seed: int
    environment: Provenance
    dataset: DatasetRecord
    cache_clear: CacheClear


def record_run(plan: BenchmarkPlan, run: RunIdentity, record: KindRecord, energy: Energy,
               log_path: Path | None) -> RunResultBase:
    """The run's result, from the plan, the run and its kind's record (and the MLPerf event log
    of a kind that writes one)."""
    rules = plan.rules
    sections = dict(record.sections)
    if log_path is not None:
        sections["event_log"] = EventLogRef(file=log_path.name, sha256=hashlib.sha256(log_path.read_bytes()).hexdigest())
    return RESULT_MODELS[rules.kind](
        suite_version=__version__,
        rules_version=rules.rules_version,
        workload=rules.workload,
        scale=plan.scale,
        division=plan.division,
        mode=plan.mode,
        run_index=run.index,
        seed=run.seed,
        created_at=now(),
        system=SystemRecord(
            name=plan.system_name,
            platform=plan.device.name,
            device=plan.device.description,
            implementation=plan.implementation.__name__,
            world_size=plan.world.size,
            launcher=plan.world.launcher,
        ),
        environment=run.environment,
        dataset=run.dataset,
        hyperparameters=plan.hyperparameters,
        energy=energy,
        cache_clear=run.cache_clear,
        **sections,
    )


def sign_and_write(result: RunResultBase, key: Ed25519PrivateKey, directory: Path) -> dict:
    """Sign the result and write it as run_<N>.json beside its log; the signed document."""
    signed = sign_document(result.model_dump(mode="json"), key)
    write_json_atomic(directory / run_file_name(result.run_index), signed)
    return signed


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
