"""The sampling loop: a `SamplingSession` (accelbench.contracts.sampling) runs Markov chains over the
posterior; the harness owns the clock, keeps every draw and decides convergence from the draws.

A run is init (untimed up to the rules' budget: the session built and compiled), then the timed
region: the burn-in, then blocks of `block_draws` kept draws. After each block the harness
computes the diagnostics (ArviZ's R-hat and bulk and tail ESS over the rules' summaries, the
posterior predictive means of the probe rows) over every draw so far; once they meet the bounds
it scores the held-out predictive log-likelihood over every draw, and the run has converged when
that meets the target too. The clock stops there, or when the chains have drawn the rules'
`results_per_chain`. The draws are written beside the run file (`accelbench.results.draws`) and
pinned in the result; the validator recomputes every number from them with the same functions
(`accelbench.judging.posterior` and `accelbench.judging.draws_scoring`).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from accelbench.contracts.context import RunContext
from accelbench.contracts.sampling import DrawBlock, SamplingContext, SamplingImplementation
from accelbench.data.datasets import data_module
from accelbench.data.manifest import content_sha256
from accelbench.energy.sampler import EnergySampler
from accelbench.errors import UserError
from accelbench.judging import posterior
from accelbench.judging.draws_scoring import initial_state, network, predictive_score, summaries
from accelbench.judging.verdict import meets_bounds, meets_target, unmet_bounds
from accelbench.results.draws import Draws, heldout_file_name, write_draws, write_heldout
from accelbench.results.models import (
    DiagnosticsPoint,
    DrawsFile,
    HeldOutFile,
    SamplerRecord,
    SamplingEfficiency,
    SamplingQuality,
    SamplingTiming,
)
from accelbench.rules.schema import BenchmarkRules, SamplingRules, Scale
from accelbench.run.harness import Clock, HarnessClock, KindRecord
from accelbench.run.preparation import PreparedData


@dataclass(frozen=True)
class SamplingProgress:
    """The diagnostics after one block, for live display."""

    point: DiagnosticsPoint
    max_draws: int

    def describe(self, label: str, metric: str) -> str:
        p = self.point
        predictive = "" if p.predictive is None else f", {metric} {p.predictive:.4f}"
        return (f"  {label} draws {p.draws_per_chain}/{self.max_draws} per chain: R-hat {_shown(p.rhat, 3)}, "
                f"ESS bulk {_shown(p.ess_bulk, 0)}, tail {_shown(p.ess_tail, 0)}{predictive} ({p.elapsed_s:.1f} s)")


@dataclass(frozen=True)
class BurnInProgress:
    """The burn-in's outcome, for live display (at full scale it is minutes of work)."""

    steps: int
    seconds: float
    acceptance: np.ndarray
    step_size: np.ndarray

    def describe(self, label: str, metric: str) -> str:
        return (f"  {label} burn-in: {self.steps} steps in {self.seconds:.1f} s, acceptance "
                f"{' '.join(f'{a:.2f}' for a in self.acceptance)}, step size "
                f"{' '.join(f'{s:.3g}' for s in self.step_size)}")


def first_non_finite(block: DrawBlock, done: int) -> str | None:
    """Where a block first has a non-finite log posterior or state, in words; None if nowhere."""
    bad = ~np.isfinite(block.target_log_prob)
    if block.states is not None:
        bad |= ~np.all(np.isfinite(block.states), axis=-1)
    if not bad.any():
        return None
    chain, step = (int(i) for i in np.argwhere(bad)[np.argmin(np.argwhere(bad)[:, 1])])
    where = "burn-in step" if block.states is None else "draw"
    return f"non-finite log-probability at {where} {done + step + 1} of chain {chain}"


class SamplingHarness:
    """Runs one sampling run: burn-in, then blocks of draws until the diagnostics hold."""

    def __init__(self, rules: BenchmarkRules, scale: Scale, mode: str = "to_target",
                 clock: Clock = time.perf_counter) -> None:
        if mode != "to_target":
            raise UserError(f"{rules.workload} is a sampling workload: it has no {mode} mode; use --mode=to_target")
        assert rules.sampling is not None
        self.rules, self.scale, self.read_clock = rules, scale, clock
        self.sampling: SamplingRules = rules.sampling

    def context(self, run: RunContext, data: PreparedData) -> SamplingContext:
        chains = int(run.hyperparameters["chains"])
        features = int(data.train_inputs.shape[1])
        parameters = network(self.rules).parameter_count(features, self.sampling.model.hidden_units)
        s, scale = self.sampling, self.scale
        return SamplingContext(
            **{f.name: getattr(run, f.name) for f in fields(RunContext)},
            inputs=data.train_inputs, targets=data.train_targets, model=s.model,
            initial_state=initial_state(run.seed, chains, parameters, s.initial_scale),
            leapfrog_steps=s.leapfrog_steps[scale], burn_in=s.burn_in[scale],
            adaptation_steps=s.adaptation_steps(scale), initial_step_size=s.initial_step_size,
            target_accept_prob=s.target_accept_prob, draws_per_block=s.block_draws[scale],
        )

    def run(
        self,
        implementation: SamplingImplementation,
        run: RunContext,
        data: PreparedData,
        draws_path: Path,
        on_progress: Callable[[SamplingProgress | BurnInProgress], None] = lambda progress: None,
        sampler: EnergySampler | None = None,
    ) -> KindRecord:
        """One run; its draws go to `draws_path` (run_N.draws.nc, beside the run file)."""
        context = self.context(run, data)
        begin = self.read_clock()
        session = implementation.create_session(context)
        try:
            session.warm_up()
            session.synchronize()
            init_s = self.read_clock() - begin
            clock = HarnessClock(session.synchronize, self.read_clock)
            kept = _KeptDraws(context.chains)
            start = clock()
            if sampler is not None:
                sampler.start()
            outcome = self._sample(session, kept, data, clock, start, on_progress)
            energy = sampler.stop() if sampler is not None else None
            run_s = clock() - start
            chosen = dict(session.logged_hyperparameters())
        finally:
            session.close()
        draws = kept.draws(context.initial_state.shape[1])
        write_draws(draws_path, draws)
        heldout = self._write_heldout(draws_path.with_name(heldout_file_name(draws_path.name)), data)
        budget = self.rules.timing.init_budget_s[run.division]
        measured = posterior.diagnose(summaries(self.rules, draws.states, data.eval_inputs),
                                      self.sampling.tail_ess_probability)
        achieved = predictive_score(self.rules, draws.states, data.eval_inputs, data.eval_targets) \
            if draws.draws_per_chain else None
        quality = self.rules.quality
        ess = measured.ess_bulk
        joules = energy.joules if energy is not None else None
        record = {
            "timing": SamplingTiming(init_s=init_s, init_budget_s=budget, burn_in_s=outcome.burn_in_s, run_s=run_s,
                                     time_to_train_s=run_s + max(0.0, init_s - budget)),
            "quality": SamplingQuality(
                metric=quality.metric, split=quality.split, direction=quality.direction,
                target=quality.target[self.scale], achieved=achieved, converged=outcome.converged,
                stop_reason=outcome.stop_reason, measurements=measured.as_measurements(),
                summaries=self.sampling.summaries, curve=outcome.curve,
                max_draws_per_chain=self.sampling.results_per_chain[self.scale]),
            "sampler": SamplerRecord(
                chains=context.chains, leapfrog_steps=context.leapfrog_steps, burn_in=context.burn_in,
                adaptation_steps=context.adaptation_steps,
                initial_state_sha256=hashlib.sha256(context.initial_state.astype("<f4").tobytes()).hexdigest(),
                step_size=[float(x) for x in outcome.step_size],
                burn_in_acceptance=[float(x) for x in outcome.burn_in_acceptance],
                acceptance=[float(x) for x in draws.accepted.mean(axis=1)] if draws.draws_per_chain
                else [0.0] * context.chains,
                session=chosen),
            "efficiency": SamplingEfficiency(
                ess_per_s=ess / run_s if ess and run_s > 0 else None,
                s_per_effective_sample=run_s / ess if ess else None,
                j_per_effective_sample=joules / ess if ess and joules is not None else None),
            "draws": DrawsFile(file=draws_path.name, sha256=hashlib.sha256(draws_path.read_bytes()).hexdigest(),
                               chains=draws.chains, draws_per_chain=draws.draws_per_chain,
                               parameters=int(draws.states.shape[2])),
            "heldout": heldout,
        }
        return KindRecord(sections=record, energy=energy)

    def _write_heldout(self, path: Path, data: PreparedData) -> HeldOutFile:
        """The held-out split beside the run, its arrays named and hashed as the dataset's."""
        names = data_module(self.rules).array_names(self.rules.quality.split)
        arrays = dict(zip(names, (data.eval_inputs, data.eval_targets)))
        write_heldout(path, arrays)
        return HeldOutFile(file=path.name, sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                           content_sha256=content_sha256(arrays.items()))

    def _sample(self, session, kept: _KeptDraws, data: PreparedData, clock: HarnessClock, start: float,
                on_progress: Callable[[SamplingProgress | BurnInProgress], None]) -> _Outcome:
        """Burn-in, then blocks until the verdict or the budget; the stop rule is the harness's."""
        rules, scale = self.rules, self.scale
        limit, block_draws = self.sampling.results_per_chain[scale], self.sampling.block_draws[scale]
        burn = session.burn_in()
        burn_in_s = clock() - start
        outcome = _Outcome(burn_in_s=burn_in_s, step_size=np.asarray(burn.step_size, dtype=np.float64),
                           burn_in_acceptance=np.asarray(burn.accepted, dtype=bool).mean(axis=1))
        on_progress(BurnInProgress(int(np.shape(burn.target_log_prob)[1]), burn_in_s, outcome.burn_in_acceptance,
                                   outcome.step_size))
        failure = first_non_finite(burn, 0)
        if failure is not None:
            outcome.stop_reason = failure
            return outcome
        while kept.draws_per_chain < limit:
            count = min(block_draws, limit - kept.draws_per_chain)
            block = session.draw(count)
            _check_block(block, kept.chains, count)
            failure = first_non_finite(block, kept.draws_per_chain)
            kept.add(block)
            outcome.step_size = np.asarray(block.step_size, dtype=np.float64)
            if failure is not None:
                outcome.stop_reason = failure
                return outcome
            states = kept.states()
            measured = posterior.diagnose(summaries(rules, states, data.eval_inputs),
                                          self.sampling.tail_ess_probability)
            predictive = None
            if meets_bounds(rules.quality, scale, measured.as_measurements()):
                predictive = predictive_score(rules, states, data.eval_inputs, data.eval_targets)
            point = DiagnosticsPoint(draws_per_chain=kept.draws_per_chain, elapsed_s=clock() - start,
                                     predictive=predictive, **measured.as_measurements())
            outcome.curve.append(point)
            on_progress(SamplingProgress(point, limit))
            if meets_target(predictive, rules.quality.target[scale], rules.quality.direction):
                outcome.converged = True
                outcome.stop_reason = (f"the diagnostics met their bounds and {rules.quality.metric} "
                                       f"{predictive:.4f} reached {rules.quality.target[scale]} "
                                       f"after {kept.draws_per_chain} draws per chain")
                return outcome
        last = outcome.curve[-1] if outcome.curve else None
        unmet = unmet_bounds(rules.quality, scale, {} if last is None else
                             {"rhat": last.rhat, "ess_bulk": last.ess_bulk, "ess_tail": last.ess_tail})
        if last is not None and not unmet:
            unmet = [f"{rules.quality.metric} {_shown(last.predictive, 4)} is below {rules.quality.target[scale]}"]
        outcome.stop_reason = f"{limit} draws per chain, the budget, without convergence: {'; '.join(unmet)}"
        return outcome


@dataclass
class _Outcome:
    burn_in_s: float
    step_size: np.ndarray
    burn_in_acceptance: np.ndarray
    converged: bool = False
    stop_reason: str = ""
    curve: list[DiagnosticsPoint] = field(default_factory=list)


class _KeptDraws:
    """Every kept block of every chain, in order (the harness keeps all; nothing is thinned)."""

    def __init__(self, chains: int) -> None:
        self.chains = chains
        self.blocks: list[DrawBlock] = []
        self.draws_per_chain = 0

    def add(self, block: DrawBlock) -> None:
        self.blocks.append(block)
        self.draws_per_chain += block.target_log_prob.shape[1]

    def states(self) -> np.ndarray:
        return np.concatenate([np.asarray(b.states, dtype=np.float32) for b in self.blocks], axis=1)

    def draws(self, parameters: int) -> Draws:
        if not self.blocks:
            empty = np.zeros((self.chains, 0))
            return Draws(np.zeros((self.chains, 0, parameters), np.float32), empty, empty.astype(bool))
        return Draws(self.states(),
                     np.concatenate([np.asarray(b.target_log_prob, np.float64) for b in self.blocks], axis=1),
                     np.concatenate([np.asarray(b.accepted, bool) for b in self.blocks], axis=1))


def _check_block(block: DrawBlock, chains: int, count: int) -> None:
    """A block of the shape asked for, or a one-line error naming the implementation's mistake."""
    states = None if block.states is None else np.shape(block.states)
    expected = (chains, count)
    if states is None or states[:2] != expected or np.shape(block.target_log_prob) != expected \
            or np.shape(block.accepted) != expected or np.shape(block.step_size) != (chains,):
        raise UserError(f"the sampling session's draw({count}) returned states {states}, log-probabilities "
                        f"{np.shape(block.target_log_prob)}, acceptance {np.shape(block.accepted)} and step sizes "
                        f"{np.shape(block.step_size)}; the contract asks for ({chains}, {count}, parameters), "
                        f"({chains}, {count}) twice and ({chains},)")


def _shown(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
