"""Peer check of mcmc_alpha's sampler: the TensorFlow Probability reference vs NumPyro's HMC, same posterior, one run.

    pip install -r benchmarks/requirements-hmc-peer.txt   # numpyro 0.22.0, jax and jaxlib 0.10.2
    pytest benchmarks/bench_hmc_peer.py --benchmark-only [--bench-scale smoke|small|full] [--bench-threads N]

Why: the reference samples with TFP's HMC (`accelbench.reference.mcmc_alpha`); before its seconds
per effective sample are set beside anyone's, we want to know that a second, independently
written HMC reaches the same posterior from the same start, and what it costs there.

Matched. The model: the numpy network's layout (W1 F x H row-major, b1, W2, b2, w3, b3), as one
NumPyro site `theta` of F H + 2 H + 3 values with a Normal(0, prior_scale) prior, and the
StudentT(likelihood_df, prediction, likelihood_scale) likelihood of every train row, in float32.
The data: the rules' dataset at the size's scale (the cache under $ACCELBENCH_DATA_DIR if
generated, else generated there). The start: the harness's `initial_state` from seed 0. The
budget: the rules' chains, leapfrog steps, burn-in and draws per chain at that scale. Sizes:
small is the rules' smoke budget (the README's figure), full the rules' small one, and smoke a
tiny posterior both samplers mix over in seconds (the smoke data's first 128 train rows, 8
hidden units, 2 chains of 50 leapfrog steps, 200 burn-in and 400 draws: at the smoke network the
chains barely leave their start in such a budget, where the Monte Carlo error, and so the
agreement check, means nothing). NumPyro gets num_steps = the leapfrog count with trajectory_length=None (with both
set, NumPyro derives a fixed step size from the trajectory and adapts nothing), adapt_step_size,
no mass-matrix adaptation, num_warmup = the burn-in and chain_method="vectorized", so its chains
are one batch under vmap as TFP's are one (chains, parameters) batch. Both target the rules'
target_accept_prob from the rules' initial step size.

Not matched exactly: the step-size adaptation. Both use dual averaging, but TFP's
DualAveragingStepSizeAdaptation adapts each chain's step size over the first adaptation_fraction
of the burn-in, then holds its average; NumPyro's adapts over the whole warm-up, restarts at the
ends of its Stan-style windows and ends on the averaged step size. The budget is the same, the
schedule is not, so the two may settle on different step sizes, and so different ESS per second.

Timing: compiling is untimed, as in the harness (TFP: building the session and its warm-up, one
XLA program per block length; NumPyro: the spans JAX reports for tracing, lowering and compiling,
taken out of its warm-up and sampling calls, since it compiles inside both). The wall seconds are
burn-in plus draws; TFP draws in the rules' blocks, as the harness asks for them, without the
harness's diagnostics between blocks. The phases run interleaved (NumPyro's burn-in, TFP's,
NumPyro's draws, TFP's) so that load on a shared machine hits both alike: pytest-benchmark's two
rounds are TFP's burn-in and its draws. `--bench-threads` pins the process to that many of its
CPUs; TensorFlow gets as many intra- and inter-op threads (default: every CPU).

Figures, from the draws alone with the suite's functions: bulk and tail ESS and rank R-hat over
the posterior predictive means of the first probe_rows val rows (`accelbench.run.sampling.summaries`,
`accelbench.judging.posterior.diagnose`), and the held-out predictive log-likelihood. Agreement:
for each probe mean, z = |mean_tfp - mean_numpyro| / sqrt(se_tfp^2 + se_numpyro^2) with se
ArviZ's Monte Carlo standard error of the mean (sd / sqrt(ESS of the mean)); the check passes
when the worst z is at most 4. Before sampling, the two log posteriors at the chains' start must
agree to 1e-4 relative (both are normalised, so the same model gives the same numbers). If either
check fails the benchmark fails. The ratio recorded is TFP's seconds per effective sample over
NumPyro's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
import pytest
from arviz_stats.base import array_stats
from rounds import run_rounds
from workspace import load_splits

from accelbench.contracts.sampling import SamplingContext
from accelbench.judging import posterior
from accelbench.judging.draws_scoring import initial_state, predictive_score, summaries
from accelbench.reference.mcmc_alpha import network
from accelbench.reference.mcmc_alpha.data import Split
from accelbench.reference.mcmc_alpha.sampling import create_session
from accelbench.rules.loader import load_rules
from accelbench.rules.schema import BenchmarkRules, Scale
from accelbench.run.world import SINGLE

WORKLOAD = "mcmc_alpha"
SEED = 0
AGREEMENT_K = 4.0
START_RTOL = 1e-4  # float32 sums over a few thousand terms of either sign
INSTALL_HINT = "pip install -r benchmarks/requirements-hmc-peer.txt"
_COMPILE_EVENTS = frozenset({"/jax/core/compile/jaxpr_trace_duration",
                             "/jax/core/compile/jaxpr_to_mlir_module_duration",
                             "/jax/core/compile/backend_compile_duration"})


@dataclass(frozen=True)
class Budget:
    """What both samplers are given: the rules' budget at a scale, with the overrides a size or a test asks for."""

    seed: int
    chains: int
    leapfrog_steps: int
    burn_in: int
    adaptation_steps: int
    draws: int
    block_draws: int
    initial_scale: float
    initial_step_size: float
    target_accept_prob: float


def budget_for(rules: BenchmarkRules, scale: Scale, seed: int, *, draws: int | None = None,
               chains: int | None = None, leapfrog_steps: int | None = None, burn_in: int | None = None) -> Budget:
    s = rules.sampling
    assert s is not None
    burn = burn_in or s.burn_in[scale]
    return Budget(
        seed=seed, chains=chains or int(rules.hyperparameters.for_scale(scale)["chains"]),
        leapfrog_steps=leapfrog_steps or s.leapfrog_steps[scale], burn_in=burn,
        adaptation_steps=max(1, int(burn * s.adaptation_fraction)), draws=draws or s.results_per_chain[scale],
        block_draws=s.block_draws[scale], initial_scale=s.initial_scale, initial_step_size=s.initial_step_size,
        target_accept_prob=s.target_accept_prob)


@dataclass(frozen=True)
class SamplerRun:
    """One sampler's kept draws and its costs."""

    name: str
    states: np.ndarray  # (chains, draws, parameters) float32
    acceptance: np.ndarray  # (chains,) fraction of kept draws whose proposal was accepted
    step_size: np.ndarray  # (chains,) after the burn-in
    compile_s: float
    burn_in_s: float
    draws_s: float

    @property
    def sampling_s(self) -> float:
        return self.burn_in_s + self.draws_s


@dataclass(frozen=True)
class Figures:
    """The verdict numbers of one run, as the harness would compute them from its draws."""

    rhat: float | None
    ess_bulk: float | None
    ess_tail: float | None
    predictive: float | None
    s_per_effective_sample: float | None


@dataclass(frozen=True)
class Comparison:
    """Both runs, their figures, and how far apart they are."""

    tfp: SamplerRun
    numpyro: SamplerRun
    tfp_figures: Figures
    numpyro_figures: Figures
    z: np.ndarray  # (probe rows,) standardised difference of the probe means
    start_gap: float  # relative difference of the two log posteriors at the start

    @property
    def worst_z(self) -> float:
        return float(np.max(self.z))

    @property
    def agrees(self) -> bool:
        """The probe means agree within Monte Carlo error."""
        return bool(np.all(np.isfinite(self.z))) and self.worst_z <= AGREEMENT_K

    @property
    def same_model(self) -> bool:
        return self.start_gap <= START_RTOL

    @property
    def ratio(self) -> float | None:
        """TFP's seconds per effective sample over NumPyro's (above 1 NumPyro is the more efficient)."""
        a, b = self.tfp_figures.s_per_effective_sample, self.numpyro_figures.s_per_effective_sample
        return a / b if a and b else None


def import_numpyro() -> tuple[ModuleType, ModuleType, ModuleType]:
    """(jax, numpyro, numpyro.infer), or ImportError naming the requirements file."""
    try:
        import jax
        import numpyro
        import numpyro.infer
    except ImportError as error:
        raise ImportError(f"numpyro is not importable ({error}); install it with: {INSTALL_HINT}") from None
    return jax, numpyro, numpyro.infer


def sampling_context(rules: BenchmarkRules, scale: Scale, budget: Budget, train: Split) -> SamplingContext:
    """The context the harness would give the reference for this budget."""
    s = rules.sampling
    assert s is not None
    parameters = network.parameter_count(train.inputs.shape[1], s.model.hidden_units)
    return SamplingContext(
        workload=rules.workload, scale=scale, division="closed",
        hyperparameters={**rules.hyperparameters.for_scale(scale), "chains": budget.chains}, seed=budget.seed,
        device="cpu", world=SINGLE, dataset_parameters=rules.dataset.parameters_for(scale),
        inputs=train.inputs, targets=train.targets, model=s.model,
        initial_state=initial_state(budget.seed, budget.chains, parameters, budget.initial_scale),
        leapfrog_steps=budget.leapfrog_steps, burn_in=budget.burn_in, adaptation_steps=budget.adaptation_steps,
        initial_step_size=budget.initial_step_size, target_accept_prob=budget.target_accept_prob,
        draws_per_block=budget.block_draws)


class TfpSampler:
    """The reference session, driven as the harness drives it: built and compiled (untimed), burn-in, then the
    draws in the rules' blocks."""

    name = "tfp"

    def __init__(self, context: SamplingContext, budget: Budget) -> None:
        self.budget = budget
        begin = time.perf_counter()
        self.session = create_session(context)
        self.session.warm_up()
        for steps in {budget.burn_in % budget.block_draws, budget.draws % budget.block_draws} - {0}:
            self.session.chains.compile(steps)  # a shorter last block is one more program: compiled here
        self.compile_s = time.perf_counter() - begin

    def burn_in(self) -> None:
        start = time.perf_counter()
        self.burnt = self.session.burn_in()
        self.burn_in_s = time.perf_counter() - start

    def draw(self) -> None:
        budget, start = self.budget, time.perf_counter()
        self.blocks = [self.session.draw(min(budget.block_draws, budget.draws - done))
                       for done in range(0, budget.draws, budget.block_draws)]
        self.draws_s = time.perf_counter() - start

    def result(self) -> SamplerRun:
        return SamplerRun(
            name=self.name, states=np.concatenate([b.states for b in self.blocks], axis=1),
            acceptance=np.concatenate([b.accepted for b in self.blocks], axis=1).mean(axis=1),
            step_size=np.asarray(self.burnt.step_size, dtype=np.float64), compile_s=self.compile_s,
            burn_in_s=self.burn_in_s, draws_s=self.draws_s)


def numpyro_model(numpyro: ModuleType, context: SamplingContext) -> Callable[[], None]:
    """The posterior as a NumPyro model over one flat `theta` site, in network.py's layout."""
    import jax.numpy as jnp
    from numpyro import distributions as dist

    model = context.model
    inputs, targets = jnp.asarray(context.inputs), jnp.asarray(context.targets[:, 0])
    features, hidden = context.inputs.shape[1], model.hidden_units
    weights = features * hidden
    count = network.parameter_count(features, hidden)

    def posterior_model() -> None:
        theta = numpyro.sample("theta", dist.Normal(0.0, model.prior_scale).expand([count]).to_event(1))
        w1 = theta[:weights].reshape(features, hidden)
        b1, w2 = theta[weights:weights + hidden], theta[weights + hidden:weights + 2 * hidden]
        predicted = (jnp.tanh(inputs @ w1 + b1) @ w2 + theta[-3]) * theta[-2] + theta[-1]
        numpyro.sample("alpha", dist.StudentT(model.likelihood_df, predicted, model.likelihood_scale), obs=targets)

    return posterior_model


class CompileSpans:
    """JAX's tracing, lowering and compiling spans, as a jax.monitoring time-span listener records them."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    def record(self, event: str, start: float, end: float, **_: object) -> None:
        if event in _COMPILE_EVENTS:
            self.spans.append((start, end))

    def seconds(self) -> float:
        """The length of the union of the spans: a nested span is counted once."""
        total, reach = 0.0, -np.inf
        for start, end in sorted(self.spans):
            if end > reach:
                total += end - max(start, reach)
                reach = end
        return total


class NumpyroSampler:
    """NumPyro's HMC over the same posterior and budget: its warm-up, then every draw in one call. NumPyro
    compiles inside both calls; JAX's compile spans are taken out of their times."""

    name = "numpyro"

    def __init__(self, context: SamplingContext, budget: Budget) -> None:
        self.jax, numpyro, infer = import_numpyro()
        kernel = infer.HMC(numpyro_model(numpyro, context), step_size=budget.initial_step_size,
                           num_steps=budget.leapfrog_steps, trajectory_length=None, adapt_step_size=True,
                           adapt_mass_matrix=False, target_accept_prob=budget.target_accept_prob)
        self.mcmc = infer.MCMC(kernel, num_warmup=budget.burn_in, num_samples=budget.draws,
                               num_chains=budget.chains, chain_method="vectorized", progress_bar=False)
        self.context, self.budget = context, budget
        self.compile_s = 0.0

    def _timed(self, work: Callable[[], object]) -> float:
        """Seconds `work` took, less the compile spans inside it (added to compile_s)."""
        spans, monitoring = CompileSpans(), self.jax.monitoring
        monitoring.register_event_time_span_listener(spans.record)
        try:
            start = time.perf_counter()
            self.jax.block_until_ready(work())
            took = time.perf_counter() - start
        finally:
            monitoring.unregister_event_time_span_listener(spans.record)
        self.compile_s += spans.seconds()
        return took - spans.seconds()

    def burn_in(self) -> None:
        jax, mcmc = self.jax, self.mcmc
        start = {"theta": jax.numpy.asarray(self.context.initial_state)}

        def warm_up():
            mcmc.warmup(jax.random.PRNGKey(self.budget.seed), init_params=start, collect_warmup=False)
            return mcmc.post_warmup_state

        self.burn_in_s = self._timed(warm_up)

    def draw(self) -> None:
        mcmc = self.mcmc

        def run():
            mcmc.run(mcmc.post_warmup_state.rng_key)
            return mcmc.get_samples(group_by_chain=True)["theta"]

        self.draws_s = self._timed(run)

    def result(self) -> SamplerRun:
        warmed = self.mcmc.post_warmup_state
        states = np.asarray(self.mcmc.get_samples(group_by_chain=True)["theta"], dtype=np.float32)
        # HMC keeps the current state on a rejection, so a draw was accepted exactly when the state moved
        previous = np.concatenate([np.asarray(warmed.z["theta"])[:, None, :], states[:, :-1]], axis=1)
        return SamplerRun(
            name=self.name, states=states, acceptance=np.any(states != previous, axis=-1).mean(axis=1),
            step_size=np.asarray(warmed.adapt_state.step_size, dtype=np.float64), compile_s=self.compile_s,
            burn_in_s=self.burn_in_s, draws_s=self.draws_s)


def figures_of(rules: BenchmarkRules, run: SamplerRun, val: Split) -> Figures:
    s = rules.sampling
    assert s is not None
    measured = posterior.diagnose(summaries(rules, run.states, val.inputs), s.tail_ess_probability)
    ess = measured.ess_bulk
    return Figures(rhat=measured.rhat, ess_bulk=ess, ess_tail=measured.ess_tail,
                   predictive=predictive_score(rules, run.states, val.inputs, val.targets),
                   s_per_effective_sample=run.sampling_s / ess if ess else None)


def probe_z(rules: BenchmarkRules, a: SamplerRun, b: SamplerRun, val: Split) -> np.ndarray:
    """(probe rows,) |mean_a - mean_b| / sqrt(se_a^2 + se_b^2) of each probe row's posterior predictive mean."""
    means, errors = [], []
    for run in (a, b):
        values = summaries(rules, run.states, val.inputs)
        means.append(values.mean(axis=(0, 1)))
        errors.append(np.asarray(array_stats.mcse(values, chain_axis=0, draw_axis=1, method="mean")))
    return np.abs(means[0] - means[1]) / np.sqrt(errors[0] ** 2 + errors[1] ** 2)


def start_log_density_gap(context: SamplingContext) -> float:
    """The largest relative difference of the two log posteriors over the chains' start: both are normalised
    densities, so the same model gives the same values up to float32 rounding."""
    from numpyro.infer.util import log_density

    from accelbench.reference.mcmc_alpha.tfp_model import log_posterior, require_tensorflow

    jax, numpyro, _ = import_numpyro()
    tf, tfp = require_tensorflow()
    reference = log_posterior(tf, tfp, context)(tf.constant(context.initial_state)).numpy().astype(np.float64)
    model = numpyro_model(numpyro, context)
    per_chain = jax.jit(jax.vmap(lambda theta: log_density(model, (), {}, {"theta": theta})[0]))
    peer = np.asarray(per_chain(jax.numpy.asarray(context.initial_state)), dtype=np.float64)
    return float(np.max(np.abs(peer - reference) / np.abs(reference)))


PHASES = {"burn_in": "burn_in_s", "draw": "draws_s"}  # each sampler's phase, and the seconds it took


def in_turn(tfp: TfpSampler, numpyro: NumpyroSampler) -> None:
    """Each phase NumPyro's, then TFP's: interleaved, so that load on a shared machine hits both alike."""
    for phase in PHASES:
        getattr(numpyro, phase)()
        getattr(tfp, phase)()


def compare(rules: BenchmarkRules, scale: Scale, budget: Budget, train: Split, val: Split,
            sample: Callable[[TfpSampler, NumpyroSampler], None] = in_turn) -> Comparison:
    """Both samplers from one start over one budget, run through their phases by `sample`, and what their draws
    say."""
    context = sampling_context(rules, scale, budget, train)
    gap = start_log_density_gap(context)
    samplers = (TfpSampler(context, budget), NumpyroSampler(context, budget))
    sample(*samplers)
    tfp_run, numpyro_run = (sampler.result() for sampler in samplers)
    return Comparison(tfp=tfp_run, numpyro=numpyro_run, tfp_figures=figures_of(rules, tfp_run, val),
                      numpyro_figures=figures_of(rules, numpyro_run, val), z=probe_z(rules, tfp_run, numpyro_run, val),
                      start_gap=gap)


def _shown(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _per_chain(values: np.ndarray, digits: int) -> str:
    return " ".join(f"{v:.{digits}f}" for v in values)


def report(comparison: Comparison, rules: BenchmarkRules) -> None:
    s = rules.sampling
    assert s is not None
    a, b, fa, fb = comparison.tfp, comparison.numpyro, comparison.tfp_figures, comparison.numpyro_figures
    rows = [
        ("compile s (untimed)", f"{a.compile_s:.2f}", f"{b.compile_s:.2f}"),
        ("burn-in s", f"{a.burn_in_s:.2f}", f"{b.burn_in_s:.2f}"),
        ("draws s", f"{a.draws_s:.2f}", f"{b.draws_s:.2f}"),
        ("wall s (burn-in + draws)", f"{a.sampling_s:.2f}", f"{b.sampling_s:.2f}"),
        (f"bulk ESS (min over {s.probe_rows} probes)", _shown(fa.ess_bulk, 1), _shown(fb.ess_bulk, 1)),
        ("tail ESS (min)", _shown(fa.ess_tail, 1), _shown(fb.ess_tail, 1)),
        ("s per effective sample", _shown(fa.s_per_effective_sample, 4), _shown(fb.s_per_effective_sample, 4)),
        ("R-hat (max)", _shown(fa.rhat, 3), _shown(fb.rhat, 3)),
        ("acceptance per chain (kept)", _per_chain(a.acceptance, 3), _per_chain(b.acceptance, 3)),
        ("step size per chain", _per_chain(a.step_size, 5), _per_chain(b.step_size, 5)),
        ("predictive log-likelihood (val)", _shown(fa.predictive, 4), _shown(fb.predictive, 4)),
    ]
    print(f"log posterior at the start: the two models differ by {comparison.start_gap:.1e} relative, "
          f"at most {START_RTOL:g}: {'PASS' if comparison.same_model else 'FAIL'}")
    print(f"  {'':34s}  {'tfp (reference)':>24s}  {'numpyro':>24s}")
    for label, left, right in rows:
        print(f"  {label:34s}  {left:>24s}  {right:>24s}")
    worst = int(np.argmax(comparison.z))
    verdict = "PASS" if comparison.agrees else "FAIL"
    print(f"probe means agree within Monte Carlo error: worst z {comparison.worst_z:.2f} (probe row {worst}), "
          f"k = {AGREEMENT_K:g}: {verdict}")
    ratio = comparison.ratio
    print(f"ratio tfp/numpyro of s per effective sample = {_shown(ratio, 2)} (above 1 NumPyro is the more efficient)")


@dataclass(frozen=True)
class Size:
    """The rules' data and budget at `scale`, with what the size overrides."""

    scale: Scale
    hidden_units: int | None = None
    train_rows: int | None = None
    chains: int | None = None
    leapfrog_steps: int | None = None
    burn_in: int | None = None
    draws: int | None = None


SIZES = {"smoke": Size("smoke", hidden_units=8, train_rows=128, chains=2, leapfrog_steps=50, burn_in=200, draws=400),
         "small": Size("smoke"), "full": Size("small")}


def sized_problem(size: Size) -> tuple[BenchmarkRules, Budget, Split, Split]:
    """(rules, budget, train, val) of a size."""
    rules = load_rules(WORKLOAD)
    if size.hidden_units:
        model = rules.sampling.model.model_copy(update={"hidden_units": size.hidden_units})
        rules = rules.model_copy(update={"sampling": rules.sampling.model_copy(update={"model": model})})
    splits = load_splits(rules, size.scale, ("train", "val"))
    train = splits["train"]
    if size.train_rows:
        train = Split(train.inputs[: size.train_rows], train.targets[: size.train_rows])
    budget = budget_for(rules, size.scale, SEED, draws=size.draws, chains=size.chains,
                        leapfrog_steps=size.leapfrog_steps, burn_in=size.burn_in)
    return rules, budget, train, splits["val"]


def timed_in_turn(benchmark) -> Callable[[TfpSampler, NumpyroSampler], None]:
    """in_turn under pytest-benchmark: one round per phase, TFP's phase timed, NumPyro's run just before it."""

    def sample(tfp: TfpSampler, numpyro: NumpyroSampler) -> None:
        tfp_phases, numpyro_phases = iter(PHASES), iter(PHASES)

        def phase_of(sampler, phases) -> Callable[[], float]:
            def run() -> float:
                phase = next(phases)
                getattr(sampler, phase)()
                return getattr(sampler, PHASES[phase])

            return run

        run_rounds(benchmark, phase_of(tfp, tfp_phases), len(PHASES), peer=phase_of(numpyro, numpyro_phases))

    return sample


def figures_info(run: SamplerRun, figures: Figures) -> dict:
    return {"compile_s": run.compile_s, "burn_in_s": run.burn_in_s, "draws_s": run.draws_s,
            "sampling_s": run.sampling_s, "ess_bulk": figures.ess_bulk, "ess_tail": figures.ess_tail,
            "ess_per_s": figures.ess_bulk / run.sampling_s if figures.ess_bulk else None,
            "s_per_effective_sample": figures.s_per_effective_sample, "rhat": figures.rhat,
            "predictive": figures.predictive, "acceptance": run.acceptance.tolist(),
            "step_size": run.step_size.tolist()}


def test_tfp_vs_numpyro(benchmark, goal_ratio, bench_scale, bench_threads, bench_workspace, tensorflow):
    try:
        jax, numpyro, _ = import_numpyro()
    except ImportError as error:
        pytest.skip(str(error))
    from accelbench.reference.mcmc_alpha.tfp_model import require_tensorflow

    _, tfp = require_tensorflow()
    size = SIZES[bench_scale]
    rules, budget, train, val = sized_problem(size)
    comparison = compare(rules, size.scale, budget, train, val, sample=timed_in_turn(benchmark))
    report(comparison, rules)

    benchmark.extra_info.update(
        tensorflow_version=tensorflow.__version__, tensorflow_probability_version=tfp.__version__,
        jax_version=jax.__version__, numpyro_version=numpyro.__version__, threads=bench_threads, scale=size.scale,
        train_rows=len(train.inputs), val_rows=len(val.inputs),
        parameters=network.parameter_count(train.inputs.shape[1], rules.sampling.model.hidden_units),
        chains=budget.chains, leapfrog_steps=budget.leapfrog_steps, burn_in=budget.burn_in, draws=budget.draws,
        tfp_adaptation_steps=budget.adaptation_steps, start_gap=comparison.start_gap, worst_z=comparison.worst_z,
        tfp=figures_info(comparison.tfp, comparison.tfp_figures),
        numpyro=figures_info(comparison.numpyro, comparison.numpyro_figures))
    if comparison.ratio is not None:
        goal_ratio("tfp / numpyro s per effective sample (above 1 NumPyro is the more efficient)", comparison.ratio,
                   "none set")
    assert comparison.same_model, f"log posteriors differ by {comparison.start_gap:.1e} at the start"
    assert comparison.agrees, f"probe means disagree: worst z {comparison.worst_z:.2f} > {AGREEMENT_K:g}"
    assert comparison.ratio is not None, "no effective samples on one side"
