"""benchmarks/bench_hmc_peer.py: NumPyro's HMC and the TFP reference, from one start over one budget, reach the
same posterior predictive; the benchmark loads, and says how to install its peer, without NumPyro."""

import importlib
import math
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.append(str(REPO / "benchmarks"))  # the benchmark's own helpers (rounds.py, workspace.py) beside it
bench = importlib.import_module("bench_hmc_peer")


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
    """The benchmark skips with this message where the peer is not installed."""
    monkeypatch.setitem(sys.modules, "numpyro", None)
    with pytest.raises(ImportError) as error:
        bench.import_numpyro()
    message = str(error.value)
    assert message.startswith("numpyro is not importable") and "\n" not in message
    assert "pip install -r benchmarks/requirements-hmc-peer.txt" in message


def test_numpyro_and_the_reference_agree_on_the_probe_means():
    """The benchmark's smoke size: a tiny posterior (the smoke data's first 128 train rows, 8 hidden units) that
    both samplers mix over in seconds: at the smoke network with 10 leapfrog steps the chains barely leave their
    start (bulk ESS about 3, R-hat about 2), where the Monte Carlo error, and so the check, means nothing."""
    pytest.importorskip("numpyro")
    rules, budget, train, val = bench.sized_problem(bench.SIZES["smoke"])
    comparison = bench.compare(rules, "smoke", budget, train, val)
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
