"""benchmarks/bench_hmc_peer.py: NumPyro's HMC and the TFP reference, from one start over one budget, reach the
same posterior predictive; the script loads, and says how to install its peer, without NumPyro."""

import importlib.util
import math
import sys
from pathlib import Path

import pytest

from accelbench.reference.mcmc_alpha.data import Split
from accelbench.rules.loader import load_rules

REPO = Path(__file__).resolve().parent.parent


def load_script():
    name = "bench_hmc_peer"
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


bench = load_script()


def test_compile_spans_count_nested_and_overlapping_time_once():
    spans = bench.CompileSpans()
    for event, start, end in [("/jax/core/compile/jaxpr_trace_duration", 0.0, 2.0),
                              ("/jax/core/compile/backend_compile_duration", 1.0, 3.0),
                              ("/jax/core/compile/jaxpr_to_mlir_module_duration", 1.5, 2.5),
                              ("/jax/some/other/event", 3.0, 9.0),
                              ("/jax/core/compile/backend_compile_duration", 5.0, 6.0)]:
        spans.record(event, start, end, fun_name="f")
    assert spans.seconds() == pytest.approx(4.0)


def test_missing_numpyro_gives_the_install_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "numpyro", None)
    with pytest.raises(SystemExit) as exit_:
        bench.main(["--draws", "4"])
    message = str(exit_.value.code)
    assert message.startswith("bench_hmc_peer: numpyro is not importable") and "\n" not in message
    assert "pip install -r benchmarks/requirements-hmc-peer.txt" in message


def test_numpyro_and_the_reference_agree_on_the_probe_means():
    """A tiny posterior (the smoke data's first 128 train rows, 8 hidden units) that both samplers mix over in
    seconds: at the smoke network with 10 leapfrog steps the chains barely leave their start (bulk ESS about 3,
    R-hat about 2), where the Monte Carlo error, and so the check, means nothing."""
    pytest.importorskip("numpyro")
    rules = load_rules(bench.WORKLOAD)
    sampling = rules.sampling
    model = sampling.model.model_copy(update={"hidden_units": 8})
    rules = rules.model_copy(update={"sampling": sampling.model_copy(update={"model": model})})
    train, val = bench.load_data(rules, "smoke")
    budget = bench.budget_for(rules, "smoke", seed=0, chains=2, leapfrog_steps=50, burn_in=200, draws=400)
    comparison = bench.compare(rules, "smoke", budget, Split(train.inputs[:128], train.targets[:128]), val)
    assert comparison.same_model, f"log posteriors differ by {comparison.start_gap:.1e}"
    assert comparison.agrees, f"worst z {comparison.worst_z:.2f}"
    for figures in (comparison.tfp_figures, comparison.numpyro_figures):
        assert figures.ess_bulk is not None and math.isfinite(figures.ess_bulk) and figures.ess_bulk >= 50
        assert figures.rhat is not None and figures.rhat < 1.1
        assert figures.predictive is not None and math.isfinite(figures.predictive)
    for run in (comparison.tfp, comparison.numpyro):
        assert run.states.shape == (2, 400, 22 * 8 + 2 * 8 + 3)
        assert 0.3 < run.acceptance.min() and run.acceptance.max() <= 1.0
    assert comparison.ratio is not None and comparison.ratio > 0
