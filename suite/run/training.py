"""The harness: it owns the clock, the evaluation cadence and the stop rule.

A run is init (untimed up to the rules' budget) then the timed region: train an epoch, evaluate
at the rules' cadence, compare with the target using the shared comparison, stop at the target
or when the epoch budget is spent. The implementation only trains and predicts.

Two modes: `to_target` (the scored benchmark) and `fixed_epochs` (the weak-scaling study: the
rules' number of epochs, judged on end quality and time per epoch). With several processes
every rank runs the same harness in lockstep: predictions are gathered from all ranks, so each
computes the same metric and takes the same decision; rank 0's clock and log are the record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

import torch
from mlperf_logging.mllog import constants as mlk

from accelbench.run import distributed
from accelbench.energy.measurement import EnergyMeasurement
from accelbench.energy.sampler import EnergySampler
from accelbench.errors import UserError
from accelbench.run.events import FINAL_EVAL_ACCURACY, EventLog
from accelbench.judging.quality import (
    Predictions,
    compute_metric,
    measured_names,
    meets_bounds,
    meets_target,
    unmet_bounds,
)
from accelbench.rules.schema import BenchmarkRules, HyperparameterValue, Scale
from accelbench.contracts.training import EvalKind, RunContext, TrainingSession

Mode = Literal["to_target", "fixed_epochs"]


class Implementation(Protocol):
    def create_session(self, context: RunContext) -> TrainingSession: ...


@dataclass(frozen=True)
class Evaluation:
    """One eval: the target metric and the rules' bound and reported metrics."""

    value: float | None
    measurements: dict[str, float | None]


@dataclass(frozen=True)
class EvalPoint:
    epoch: int
    value: float | None
    elapsed_s: float
    measurements: dict[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class Progress:
    """A snapshot after each epoch, for live display."""

    epoch: int
    max_epochs: int
    train_loss: float
    samples_per_s: float
    elapsed_s: float
    budget_left_s: float
    metric: float | None
    target: float
    measurements: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class RunOutcome:
    init_s: float
    run_s: float
    epoch_s: list[float]
    train_loss: list[float | None]
    curve: list[EvalPoint]
    converged: bool
    achieved: float | None
    measurements: dict[str, float | None]
    epochs: int
    max_epochs: int
    train_samples: int
    stop_reason: str
    eval_kind: EvalKind = "true"
    final_eval_s: float | None = None
    energy: EnergyMeasurement | None = None  # this process's devices, over the timed region
    logged_hyperparameters: Mapping[str, HyperparameterValue] = field(default_factory=dict)


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _gather(predictions: Predictions, world: distributed.World, total: int) -> Predictions:
    """Every rank's rows of each prediction output, in rank order."""
    if isinstance(predictions, Mapping):
        return {name: distributed.gather_rows(rows, world, total) for name, rows in predictions.items()}
    return distributed.gather_rows(predictions, world, total)


class Harness:
    """Runs one run of a workload at a scale: to the target, or for the rules' fixed epochs."""

    def __init__(
        self,
        rules: BenchmarkRules,
        scale: Scale,
        mode: Mode = "to_target",
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.rules = rules
        self.scale = scale
        self.mode = mode
        self.clock = clock
        self.target = rules.quality.target[scale]
        if mode == "fixed_epochs":
            if rules.scaling is None:
                raise UserError(f"{rules.workload} has no [scaling] rules: use --mode=to_target")
            self.max_epochs = rules.scaling.epochs[scale]
        else:
            self.max_epochs = rules.quality.max_epochs[scale]

    def run(
        self,
        implementation: Implementation,
        context: RunContext,
        eval_targets: torch.Tensor,
        log: EventLog,
        on_progress: Callable[[Progress], None] = lambda progress: None,
        sampler: EnergySampler | None = None,
    ) -> RunOutcome:
        """`eval_targets` covers the whole eval split; `context` holds this rank's shards.
        `sampler` reads this process's power meter over the timed region, and only there."""
        quality, world = self.rules.quality, context.world
        log.start(mlk.INIT_START)
        init_begin = self.clock()
        log.event(mlk.SEED, context.seed)
        session = implementation.create_session(context)
        if session.eval_kind == "pseudo" and not quality.pseudo_validation[context.division]:
            raise UserError(
                f"{context.workload}: the implementation evaluates by pseudo-validation, which the "
                f"{context.division} division's rules do not allow"
            )
        session.warm_up()
        logged = dict(session.logged_hyperparameters())
        for key, value in logged.items():
            log.event(key, value)
        log.event(mlk.TRAIN_SAMPLES, int(distributed.sum_across(len(context.train_inputs), world)))
        log.event(mlk.EVAL_SAMPLES, len(eval_targets))
        init_s = self.clock() - init_begin
        log.end(mlk.INIT_STOP)

        def evaluate(predictions: Predictions) -> Evaluation:
            gathered = _gather(predictions, world, len(eval_targets))
            return Evaluation(
                value=_finite_or_none(compute_metric(quality.metric, gathered, eval_targets)),
                measurements={
                    name: _finite_or_none(compute_metric(name, gathered, eval_targets))
                    for name in measured_names(quality)
                },
            )

        def judged(evaluation: Evaluation) -> bool:
            return meets_target(evaluation.value, self.target, quality.direction) and meets_bounds(
                quality, self.scale, evaluation.measurements
            )

        log.start(mlk.RUN_START)
        run_begin = self.clock()
        if sampler is not None:
            sampler.start()
        epoch_s: list[float] = []
        losses: list[float | None] = []
        curve: list[EvalPoint] = []
        samples = 0
        achieved: float | None = None
        measurements: dict[str, float | None] = {}
        converged = False
        stop_reason = (
            f"ran the {self.max_epochs} epochs of the scaling rules"
            if self.mode == "fixed_epochs"
            else f"epoch budget of {self.max_epochs} spent without reaching the target"
        )
        for epoch in range(1, self.max_epochs + 1):
            epoch_begin = self.clock()
            log.start(mlk.EPOCH_START, epoch_num=epoch)
            report = session.train_epoch(epoch)
            epoch_samples = int(distributed.sum_across(report.samples, world))
            samples += epoch_samples
            loss = _finite_or_none(distributed.mean_across(float(report.train_loss), world))
            losses.append(loss)
            log.end(mlk.EPOCH_STOP, epoch_num=epoch, samples_count=samples, train_loss=loss)
            metric: float | None = None
            evaluated = loss is not None and (
                epoch % quality.eval_every_epochs == 0 or epoch == self.max_epochs
            )
            if evaluated:
                log.start(mlk.EVAL_START, epoch_num=epoch)
                evaluation = evaluate(session.predict_eval())
                metric, measurements = evaluation.value, evaluation.measurements
                log.end(mlk.EVAL_STOP, epoch_num=epoch)
                log.event(mlk.EVAL_ACCURACY, metric, epoch_num=epoch, samples_count=samples,
                          metric=quality.metric, kind=session.eval_kind, measurements=measurements)
                curve.append(EvalPoint(epoch, metric, self.clock() - run_begin, measurements))
                achieved = metric
                converged = judged(evaluation)
                if metric is not None:
                    session.after_eval(metric)
            epoch_s.append(self.clock() - epoch_begin)
            elapsed = self.clock() - run_begin
            on_progress(Progress(
                epoch=epoch,
                max_epochs=self.max_epochs,
                train_loss=math.nan if loss is None else loss,
                samples_per_s=epoch_samples / epoch_s[-1] if epoch_s[-1] > 0 else 0.0,
                elapsed_s=elapsed,
                budget_left_s=(self.max_epochs - epoch) * elapsed / epoch,
                metric=metric,
                target=self.target,
                measurements=measurements if evaluated else {},
            ))
            if loss is None:
                stop_reason = f"training loss is not finite at epoch {epoch} (diverged)"
                break
            if evaluated and metric is None:
                stop_reason = f"{quality.metric} is not finite at epoch {epoch} (diverged)"
                break
            if converged and self.mode == "to_target":
                stop_reason = f"target reached at epoch {epoch}"
                break
        energy = sampler.stop() if sampler is not None else None
        run_s = self.clock() - run_begin
        log.end(mlk.RUN_STOP, status=mlk.SUCCESS if converged else mlk.ABORTED,
                epoch_num=len(epoch_s))

        final_eval_s: float | None = None
        if session.eval_kind == "pseudo" and achieved is not None:
            final_begin = self.clock()
            final = evaluate(session.predict_final())
            achieved, measurements = final.value, final.measurements
            final_eval_s = self.clock() - final_begin
            log.event(FINAL_EVAL_ACCURACY, achieved, epoch_num=len(epoch_s), metric=quality.metric,
                      measurements=measurements)
            true_converged = judged(final)
            if converged and not true_converged:
                stop_reason += f"; but the true {quality.metric} after the run misses the target"
            converged = converged and true_converged
        if self.mode == "fixed_epochs":
            converged = judged(Evaluation(achieved, measurements))
        elif not converged and meets_target(achieved, self.target, quality.direction):
            stop_reason += "; the last eval met the target but not " + "; ".join(
                unmet_bounds(quality, self.scale, measurements)
            )
        return RunOutcome(
            init_s=init_s,
            run_s=run_s,
            epoch_s=epoch_s,
            train_loss=losses,
            curve=curve,
            converged=converged,
            achieved=achieved,
            measurements=measurements,
            epochs=len(epoch_s),
            max_epochs=self.max_epochs,
            train_samples=samples,
            stop_reason=stop_reason,
            eval_kind=session.eval_kind,
            final_eval_s=final_eval_s,
            energy=energy,
            logged_hyperparameters=logged,
        )
