"""A sampling run re-derived from its draws alone: the sampler's settings and start against the
rules, every chain distinct and as long as the result says, the diagnostics (R-hat, bulk and tail
ESS over the rules' summaries), the held-out predictive score and the acceptance recomputed from
the draws file and held against the result, and the stop rule replayed block by block, so a run
that claims convergence the draws do not give, or that drew past the point where it had
converged, is refused. The numbers are computed with `accelbench.judging.posterior` and the
family's numpy network, as the harness computed them."""

from __future__ import annotations

import hashlib
import math

import numpy as np

from accelbench.data.datasets import data_module, expected_checksums
from accelbench.data.manifest import content_sha256
from accelbench.errors import UserError
from accelbench.judging import posterior
from accelbench.judging.draws_scoring import initial_state, network, predictive_score, summaries
from accelbench.judging.verdict import meets_bounds, meets_target
from accelbench.results.draws import Draws, read_draws, read_heldout
from accelbench.results.models import SamplingRunResult
from accelbench.rules.schema import BenchmarkRules
from accelbench.validation.files import SubmissionFiles
from accelbench.validation.findings import Findings, shown

RELATIVE_TOLERANCE = 1e-6  # the same float32 draws, through the same float64 arithmetic


def _close(recorded: float | None, derived: float | None) -> bool:
    if recorded is None or derived is None:
        return recorded is None and derived is None
    return math.isclose(recorded, derived, rel_tol=RELATIVE_TOLERANCE, abs_tol=1e-9)


def checked_blocks(draws: Draws, block: int, limit: int) -> list[int]:
    """The draws per chain after each block the harness checked: every block boundary up to the
    draws kept, except a block holding a non-finite log posterior or state (the run failed there,
    kept the block, and checked nothing after it)."""
    bad = ~np.isfinite(draws.target_log_prob) | ~np.all(np.isfinite(draws.states), axis=-1)
    finite = int(np.argwhere(bad)[:, 1].min()) if bad.any() else draws.draws_per_chain
    ends = (min(end, limit) for end in range(block, draws.draws_per_chain + block, block))
    return [end for end in ends if end <= min(draws.draws_per_chain, finite)]


def check_sampling_run(result: SamplingRunResult, relative: str, files: SubmissionFiles, rules: BenchmarkRules,
                       findings: Findings) -> None:
    """Findings for every way the run's draws disagree with its result or its rules."""
    _SamplingRun(result, relative, files, rules, findings).check()


class _SamplingRun:
    def __init__(self, result: SamplingRunResult, relative: str, files: SubmissionFiles, rules: BenchmarkRules,
                 findings: Findings) -> None:
        self.result, self.relative, self.files, self.rules, self.findings = result, relative, files, rules, findings
        self.directory = relative.rpartition("/")[0]
        assert rules.sampling is not None
        self.sampling = rules.sampling

    def error(self, check: str, message: str, path: str | None = None) -> None:
        self.findings.error(check, path or self.relative, message)

    def check(self) -> None:
        self.settings()
        self.timing()
        draws = self.draws()
        heldout = self.heldout()
        if draws is None or heldout is None:
            return
        self.chains(draws)
        self.diagnostics(draws, *heldout)
        self.stop_rule(draws, *heldout)

    def settings(self) -> None:
        result, scale, s = self.result, self.result.scale, self.sampling
        quality, sampler = result.quality, result.sampler
        expected = {
            "quality.metric": self.rules.quality.metric, "quality.split": self.rules.quality.split,
            "quality.direction": self.rules.quality.direction, "quality.target": self.rules.quality.target[scale],
            "quality.max_draws_per_chain": s.results_per_chain[scale],
            "sampler.leapfrog_steps": s.leapfrog_steps[scale], "sampler.burn_in": s.burn_in[scale],
            "sampler.adaptation_steps": s.adaptation_steps(scale),
            "sampler.chains": result.hyperparameters.get("chains"),
            "timing.init_budget_s": self.rules.timing.init_budget_s[result.division],
        }
        actual = {
            "quality.metric": quality.metric, "quality.split": quality.split, "quality.direction": quality.direction,
            "quality.target": quality.target, "quality.max_draws_per_chain": quality.max_draws_per_chain,
            "sampler.leapfrog_steps": sampler.leapfrog_steps, "sampler.burn_in": sampler.burn_in,
            "sampler.adaptation_steps": sampler.adaptation_steps, "sampler.chains": sampler.chains,
            "timing.init_budget_s": result.timing.init_budget_s,
        }
        for name, value in expected.items():
            if actual[name] != value:
                self.error("sampling.settings", f"{name} is {shown(actual[name])}; the {self.rules.rules_version} "
                           f"rules and the run's hyperparameters make it {shown(value)} at scale {scale}")
        parameters = self.result.draws.parameters
        start = initial_state(result.seed, sampler.chains, parameters, s.initial_scale)
        if hashlib.sha256(start.astype("<f4").tobytes()).hexdigest() != sampler.initial_state_sha256:
            self.error("sampling.settings", f"sampler.initial_state_sha256 is not the hash of the rules' start for "
                       f"seed {result.seed} (Normal(0, {s.initial_scale:g}) per chain): the chains started elsewhere")

    def timing(self) -> None:
        timing = self.result.timing
        excess = max(0.0, timing.init_s - timing.init_budget_s)
        if not math.isclose(timing.time_to_train_s, timing.run_s + excess, rel_tol=1e-9, abs_tol=1e-9):
            self.error("sampling.timing", f"timing.time_to_train_s is {timing.time_to_train_s:.6g} s, but run_s "
                       f"{timing.run_s:.6g} s and init beyond the budget {excess:.6g} s make {timing.run_s + excess:.6g}")
        if min(timing.init_s, timing.run_s, timing.burn_in_s) < 0 or timing.burn_in_s > timing.run_s:
            self.error("sampling.timing", "timing: init_s, burn_in_s and run_s must not be negative, and the burn-in "
                       "is part of run_s")

    def draws(self) -> Draws | None:
        """The draws, shaped as the result says (its bytes were checked against the hash with the signature)."""
        path = f"{self.directory}/{self.result.draws.file}"
        if not self.files.exists(path):
            if path not in self.files.flagged:
                self.error("sampling.draws", f"{self.result.draws.file} is recorded in the result but absent", path)
            return None
        try:
            draws = read_draws(self.files.root / path)
        except UserError as err:
            self.error("sampling.draws", str(err).replace(f"{self.files.root}/", ""), path)
            return None
        recorded = self.result.draws
        features = data_module(self.rules).FEATURES
        expected_parameters = network(self.rules).parameter_count(features, self.sampling.model.hidden_units)
        shape = (recorded.chains, recorded.draws_per_chain, expected_parameters)
        if draws.states.shape != shape or draws.target_log_prob.shape != shape[:2] or draws.accepted.shape != shape[:2]:
            self.error("sampling.draws", f"the draws file holds states {draws.states.shape}, but the result and the "
                       f"rules' network make them {shape}", path)
            return None
        return draws

    def heldout(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The held-out split, if its content is the dataset's (the rules' hash and the run's record)."""
        recorded, split = self.result.heldout, self.rules.quality.split
        path = f"{self.directory}/{recorded.file}"
        if not self.files.exists(path):
            if path not in self.files.flagged:
                self.error("sampling.heldout", f"{recorded.file} is recorded in the result but absent", path)
            return None
        names = data_module(self.rules).array_names(split)
        try:
            inputs, targets = read_heldout(self.files.root / path, names)
        except UserError as err:
            self.error("sampling.heldout", str(err).replace(f"{self.files.root}/", ""), path)
            return None
        digest = content_sha256(zip(names, (inputs, targets)))
        rules_digest = expected_checksums(self.rules, self.result.scale).get(split)
        run_digest = self.result.dataset.splits.get(split)
        if digest != recorded.content_sha256 or (rules_digest is not None and digest != rules_digest) \
                or (run_digest is not None and digest != run_digest.sha256):
            self.error("sampling.heldout", f"the held-out arrays hash to {digest}, not the {split} split the rules "
                       f"and the run record ({rules_digest or 'unrecorded'}): the predictive score would be "
                       "computed on other data", path)
            return None
        return inputs, targets

    def chains(self, draws: Draws) -> None:
        for first in range(draws.chains):
            for second in range(first + 1, draws.chains):
                if draws.draws_per_chain and np.array_equal(draws.states[first], draws.states[second]):
                    self.error("sampling.chains", f"chain {second} repeats chain {first} draw for draw: the chains "
                               "must be independent")
        acceptance = draws.accepted.mean(axis=1) if draws.draws_per_chain else np.zeros(draws.chains)
        if not all(math.isclose(a, b, abs_tol=1e-9) for a, b in zip(acceptance, self.result.sampler.acceptance)) \
                or len(self.result.sampler.acceptance) != draws.chains:
            self.error("sampling.chains", f"sampler.acceptance is {shown(self.result.sampler.acceptance)}; the draws "
                       f"give {shown([round(float(a), 6) for a in acceptance])}")

    def diagnostics(self, draws: Draws, inputs: np.ndarray, targets: np.ndarray) -> None:
        """R-hat, ESS and the predictive score over every kept draw, as the result claims them."""
        measured = posterior.diagnose(summaries(self.rules, draws.states, inputs),
                                      self.sampling.tail_ess_probability).as_measurements()
        claimed = self.result.quality.measurements
        for name, value in measured.items():
            if not _close(claimed.get(name), value):
                self.error("sampling.diagnostics", f"quality.measurements.{name} is {shown(claimed.get(name))}; the "
                           f"draws give {shown(value)}")
        achieved = predictive_score(self.rules, draws.states, inputs, targets) if draws.draws_per_chain else None
        if not _close(self.result.quality.achieved, achieved):
            self.error("sampling.diagnostics", f"quality.achieved is {shown(self.result.quality.achieved)}; the draws "
                       f"score {shown(achieved)} on the held-out split")
        efficiency, run_s, ess = self.result.efficiency, self.result.timing.run_s, measured["ess_bulk"]
        joules = self.result.energy.joules
        expected = {
            "ess_per_s": ess / run_s if ess and run_s > 0 else None,
            "s_per_effective_sample": run_s / ess if ess else None,
            "j_per_effective_sample": joules / ess if ess and joules is not None else None,
        }
        for name, value in expected.items():
            if not _close(getattr(efficiency, name), value):
                self.error("sampling.diagnostics", f"efficiency.{name} is {shown(getattr(efficiency, name))}; bulk "
                           f"ESS {shown(ess)}, run_s {run_s:.6g} s and energy {shown(joules)} J make {shown(value)}")

    def stop_rule(self, draws: Draws, inputs: np.ndarray, targets: np.ndarray) -> None:
        """Replay the harness's stop rule over the blocks: converged exactly at the first block where
        the diagnostics and the predictive score hold, and drawn to the budget otherwise."""
        quality, scale = self.result.quality, self.result.scale
        block, limit = self.sampling.block_draws[scale], self.sampling.results_per_chain[scale]
        kept = draws.draws_per_chain
        if kept > limit:
            self.error("sampling.stop_rule", f"{kept} draws per chain; the rules allow at most {limit}")
        boundaries = checked_blocks(draws, block, limit)
        if [point.draws_per_chain for point in quality.curve] != boundaries:
            self.error("sampling.stop_rule", f"quality.curve checks after {shown([p.draws_per_chain for p in quality.curve])} "
                       f"draws per chain; blocks of {block} up to the {kept} kept make {shown(boundaries)}")
            return
        first = None
        for point in quality.curve:
            head = draws.states[:, : point.draws_per_chain]
            measured = posterior.diagnose(summaries(self.rules, head, inputs), self.sampling.tail_ess_probability)
            values = measured.as_measurements()
            if not all(_close(getattr(point, name), value) for name, value in values.items()):
                self.error("sampling.stop_rule", f"quality.curve at {point.draws_per_chain} draws claims "
                           f"{shown({n: getattr(point, n) for n in values})}; the draws give {shown(values)}")
                return
            if meets_bounds(self.rules.quality, scale, values):
                score = predictive_score(self.rules, head, inputs, targets)
                if meets_target(score, quality.target, quality.direction):
                    first = point.draws_per_chain
                    break
        converged = first is not None
        if quality.converged != converged:
            self.error("sampling.stop_rule", f"quality.converged is {shown(quality.converged)}, but the draws "
                       + (f"meet the bounds and the target after {first} per chain" if converged else
                          "never meet the bounds and the target at a block boundary"))
        elif converged and kept != first:
            self.error("sampling.stop_rule", f"the chains converged after {first} draws per chain but kept drawing "
                       f"to {kept}: the harness stops at the first block that meets the rules")
