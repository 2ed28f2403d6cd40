"""The train-to-target loop: the harness's clock, evaluation cadence and stop rule over a
`TrainingSession` (accelbench.contracts.training).

A run is init (untimed up to the rules' budget), then the timed region: train an epoch,
evaluate at the rules' cadence, judge the eval with the shared verdict, stop at the target or
when the epoch budget is spent; then, for a pseudo-validating session, the true eval after the
clock. The implementation only trains and predicts.

Two modes: `to_target` (the scored benchmark) and `fixed_epochs` (the weak-scaling study: the
rules' number of epochs, judged on end quality and time per epoch). With several processes
every rank runs the same loop in lockstep: predictions are gathered from all ranks, so each
computes the same metric and takes the same decision; rank 0's clock and log are the record.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields

import numpy as np
import torch
from mlperf_logging.mllog import constants as mlk

from accelbench.contracts.context import RunContext
from accelbench.contracts.training import (
    Predictions,
    TrainingContext,
    TrainingImplementation,
    TrainingSession,
)
from accelbench.energy.sampler import EnergySampler
from accelbench.errors import UserError
from accelbench.judging.quality import Outputs, compute_metric
from accelbench.judging.verdict import (
    Evaluation,
    Mode,
    judge_run,
    measured_names,
    meets_quality,
    meets_target,
    unmet_bounds,
)
from accelbench.results.models import CurvePoint, Quality, Throughput, Timing
from accelbench.rules.schema import BenchmarkRules, Scale
from accelbench.run import distributed
from accelbench.run.events import FINAL_EVAL_ACCURACY, EventLog, NullLog
from accelbench.run.harness import Clock, HarnessClock, KindRecord, TimedRegion
from accelbench.run.preparation import PreparedData
from accelbench.run.world import World


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

    def describe(self, label: str, metric: str) -> str:
        """One line of live progress, e.g. for `run 1/3`."""
        evaluated = f" | val {metric} {self.metric:.4f} (target {self.target:g})" if self.metric is not None else ""
        evaluated += "".join(f" | {name} {value:.4f}" for name, value in self.measurements.items() if value is not None)
        return (
            f"  {label} epoch {self.epoch}/{self.max_epochs} | train loss {self.train_loss:.4f}{evaluated} | "
            f"{self.samples_per_s:,.0f} samples/s | {self.elapsed_s:.0f}s elapsed, <= {self.budget_left_s:.0f}s "
            "left to the epoch budget"
        )


@dataclass
class _Epochs:
    """What the timed loop has recorded so far."""

    epoch_s: list[float] = field(default_factory=list)
    train_loss: list[float | None] = field(default_factory=list)
    curve: list[CurvePoint] = field(default_factory=list)
    samples: int = 0
    last: Evaluation | None = None
    stop_reason: str = ""


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def as_numpy(predictions: Predictions) -> Outputs:
    """The gathered predictions as numpy arrays on the host (floats widened to float64, which
    numpy can hold whatever the autocast dtype was, e.g. bfloat16)."""
    def convert(tensor: torch.Tensor) -> np.ndarray:
        tensor = tensor.detach().cpu()
        return (tensor.double() if tensor.is_floating_point() else tensor).numpy()

    if isinstance(predictions, Mapping):
        return {name: convert(rows) for name, rows in predictions.items()}
    return convert(predictions)


def _gather(predictions: Predictions, world: World, total: int) -> Predictions:
    """Every rank's rows of each prediction output, in rank order."""
    if isinstance(predictions, Mapping):
        return {name: distributed.gather_rows(rows, world, total) for name, rows in predictions.items()}
    return distributed.gather_rows(predictions, world, total)


def training_context(run: RunContext, data: PreparedData) -> TrainingContext:
    """The training contract's context: the run, and its arrays as torch tensors that share
    their memory."""
    return TrainingContext(
        **{f.name: getattr(run, f.name) for f in fields(RunContext)},
        train_inputs=torch.from_numpy(data.train_inputs),
        train_targets=torch.from_numpy(data.train_targets),
        eval_inputs=torch.from_numpy(data.eval_inputs),
    )


class TrainingHarness:
    """Runs one run of a workload at a scale: to the target, or for the rules' fixed epochs."""

    def __init__(self, rules: BenchmarkRules, scale: Scale, mode: Mode = "to_target",
                 clock: Clock = time.perf_counter) -> None:
        self.rules = rules
        self.scale = scale
        self.mode = mode
        self.read_clock = clock
        self.target = rules.quality.target[scale]
        if mode == "fixed_epochs":
            if rules.scaling is None:
                raise UserError(f"{rules.workload} has no [scaling] rules: use --mode=to_target")
            self.max_epochs = rules.scaling.epochs[scale]
        else:
            self.max_epochs = rules.quality.max_epochs[scale]

    def run(
        self,
        implementation: TrainingImplementation,
        run: RunContext,
        data: PreparedData,
        log: EventLog | NullLog,
        on_progress: Callable[[Progress], None] = lambda progress: None,
        sampler: EnergySampler | None = None,
    ) -> KindRecord:
        """One run on this rank's shards of `data` (its eval targets cover the whole split).
        `sampler` reads this process's power meter over the timed region, and only there."""
        context, eval_targets = training_context(run, data), data.eval_targets
        session, init_s = self._init(implementation, context, len(eval_targets), log)
        budget_s = self.rules.timing.init_budget_s[context.division]
        clock = HarnessClock(session.synchronize, self.read_clock)
        region = TimedRegion(log, clock, sampler)
        evaluate = self._evaluator(context.world, eval_targets)
        epochs = self._train(session, evaluate, context.world, log, region, on_progress)
        last_met = epochs.last is not None and meets_quality(self.rules.quality, self.scale, self.target, epochs.last)
        run_s, energy = region.stop(last_met, epoch_num=len(epochs.epoch_s))
        final, final_eval_s = self._final_eval(session, evaluate, epochs, clock, log)
        return KindRecord(sections=dict(
            timing=Timing(
                init_s=init_s,
                init_budget_s=budget_s,
                run_s=run_s,
                time_to_train_s=run_s + max(0.0, init_s - budget_s),
                epoch_s=epochs.epoch_s,
                final_eval_s=final_eval_s,
            ),
            quality=self._quality(session, epochs, final),
            throughput=self._throughput(epochs.samples, run_s),
        ), energy=energy)

    def _init(self, implementation: TrainingImplementation, context: TrainingContext, eval_samples: int,
              log: EventLog | NullLog) -> tuple[TrainingSession, float]:
        """Build and warm up the session: init_start to init_stop, untimed up to the budget."""
        log.start(mlk.INIT_START)
        begin = self.read_clock()
        log.event(mlk.SEED, context.seed)
        session = implementation.create_session(context)
        if session.eval_kind == "pseudo" and not self.rules.quality.pseudo_validation[context.division]:
            raise UserError(
                f"{context.workload}: the implementation evaluates by pseudo-validation, which the "
                f"{context.division} division's rules do not allow"
            )
        session.warm_up()
        for key, value in session.logged_hyperparameters().items():
            log.event(key, value)
        log.event(mlk.TRAIN_SAMPLES, int(distributed.sum_across(len(context.train_inputs), context.world)))
        log.event(mlk.EVAL_SAMPLES, eval_samples)
        session.synchronize()
        init_s = self.read_clock() - begin
        log.end(mlk.INIT_STOP)
        return session, init_s

    def _evaluator(self, world: World, eval_targets: np.ndarray) -> Callable[[Predictions], Evaluation]:
        quality = self.rules.quality

        def evaluate(predictions: Predictions) -> Evaluation:
            outputs = as_numpy(_gather(predictions, world, len(eval_targets)))
            return Evaluation(
                value=_finite_or_none(compute_metric(quality.metric, outputs, eval_targets)),
                measurements={
                    name: _finite_or_none(compute_metric(name, outputs, eval_targets))
                    for name in measured_names(quality)
                },
            )

        return evaluate

    def _train(self, session: TrainingSession, evaluate: Callable[[Predictions], Evaluation],
               world: World, log: EventLog | NullLog, region: TimedRegion,
               on_progress: Callable[[Progress], None]) -> _Epochs:
        """The timed epochs: train, evaluate at the cadence, stop at the first eval that meets
        the quality (to the target), on divergence, or when the epochs are spent."""
        quality = self.rules.quality
        done = _Epochs(stop_reason=(
            f"ran the {self.max_epochs} epochs of the scaling rules" if self.mode == "fixed_epochs"
            else f"epoch budget of {self.max_epochs} spent without reaching the target"))
        region.start()
        for epoch in range(1, self.max_epochs + 1):
            epoch_begin = region.clock()
            log.start(mlk.EPOCH_START, epoch_num=epoch)
            report = session.train_epoch(epoch)
            epoch_samples = int(distributed.sum_across(report.samples, world))
            done.samples += epoch_samples
            loss = _finite_or_none(distributed.mean_across(float(report.train_loss), world))
            done.train_loss.append(loss)
            log.end(mlk.EPOCH_STOP, epoch_num=epoch, samples_count=done.samples, train_loss=loss)
            evaluation: Evaluation | None = None
            if loss is not None and (epoch % quality.eval_every_epochs == 0 or epoch == self.max_epochs):
                log.start(mlk.EVAL_START, epoch_num=epoch)
                evaluation = evaluate(session.predict_eval())
                log.end(mlk.EVAL_STOP, epoch_num=epoch)
                log.event(mlk.EVAL_ACCURACY, evaluation.value, epoch_num=epoch, samples_count=done.samples,
                          metric=quality.metric, kind=session.eval_kind, measurements=evaluation.measurements)
                done.curve.append(CurvePoint(epoch=epoch, value=evaluation.value, elapsed_s=region.elapsed(),
                                             measurements=dict(evaluation.measurements)))
                done.last = evaluation
                if evaluation.value is not None:
                    session.after_eval(evaluation.value)
            done.epoch_s.append(region.clock() - epoch_begin)
            elapsed = region.elapsed()
            on_progress(Progress(
                epoch=epoch,
                max_epochs=self.max_epochs,
                train_loss=math.nan if loss is None else loss,
                samples_per_s=epoch_samples / done.epoch_s[-1] if done.epoch_s[-1] > 0 else 0.0,
                elapsed_s=elapsed,
                budget_left_s=(self.max_epochs - epoch) * elapsed / epoch,
                metric=None if evaluation is None else evaluation.value,
                target=self.target,
                measurements={} if evaluation is None else evaluation.measurements,
            ))
            if loss is None:
                done.stop_reason = f"training loss is not finite at epoch {epoch} (diverged)"
                break
            if evaluation is not None and evaluation.value is None:
                done.stop_reason = f"{quality.metric} is not finite at epoch {epoch} (diverged)"
                break
            if (evaluation is not None and self.mode == "to_target"
                    and meets_quality(quality, self.scale, self.target, evaluation)):
                done.stop_reason = f"target reached at epoch {epoch}"
                break
        return done

    def _final_eval(self, session: TrainingSession, evaluate: Callable[[Predictions], Evaluation],
                    epochs: _Epochs, clock: HarnessClock, log: EventLog | NullLog) -> tuple[Evaluation, float | None]:
        """The quality the run reports: its last eval, or after pseudo-validation the true eval
        made once after the clock stopped (its time recorded, never scored)."""
        last = epochs.last if epochs.last is not None else Evaluation(None, {})
        if session.eval_kind != "pseudo" or epochs.last is None or epochs.last.value is None:
            return last, None
        begin = clock()
        final = evaluate(session.predict_final())
        final_eval_s = clock() - begin
        log.event(FINAL_EVAL_ACCURACY, final.value, epoch_num=len(epochs.epoch_s),
                  metric=self.rules.quality.metric, measurements=final.measurements)
        return final, final_eval_s

    def _quality(self, session: TrainingSession, epochs: _Epochs, final: Evaluation) -> Quality:
        quality, scale, target = self.rules.quality, self.scale, self.target
        converged = judge_run(quality, scale, target, self.mode, session.eval_kind, epochs.last, final)
        reason = epochs.stop_reason
        if session.eval_kind == "pseudo" and epochs.last is not None and epochs.last.value is not None \
                and meets_quality(quality, scale, target, epochs.last) \
                and not meets_quality(quality, scale, target, final):
            reason += f"; but the true {quality.metric} after the run misses the target"
        if self.mode == "to_target" and not converged and meets_target(final.value, target, quality.direction):
            reason += "; the last eval met the target but not " + "; ".join(
                unmet_bounds(quality, scale, final.measurements))
        return Quality(
            metric=quality.metric,
            split=quality.split,
            direction=quality.direction,
            target=self.target,
            achieved=final.value,
            converged=converged,
            stop_reason=reason,
            eval_kind=session.eval_kind,
            epochs=len(epochs.epoch_s),
            max_epochs=self.max_epochs,
            curve=epochs.curve,
            train_loss=epochs.train_loss,
            measurements=dict(final.measurements),
        )

    def _throughput(self, samples: int, run_s: float) -> Throughput:
        """Training samples per second of the timed region, and the rules' units per second."""
        samples_per_s = samples / run_s if run_s > 0 else 0.0
        return Throughput(
            train_samples=samples,
            samples_per_s=samples_per_s,
            units_per_s={unit: samples_per_s * count
                         for unit, count in self.rules.units_per_sample(self.scale).items()},
        )
