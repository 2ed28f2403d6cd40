"""benchmarks/bench_lif_peer.py: the equivalence checker, model builders and timing, without SpikingJelly.

The checker is run between our snnTorch neuron and a plain-PyTorch transcription of the LIF
recurrence (m = beta*m + x; s = H(m - theta); m = m - s*theta, atan surrogate), which shows that
the reference's neuron computes those dynamics, and against altered transcriptions, which it
must report as different. Only the last test touches SpikingJelly, and only where installed.
"""

import ast
import copy
import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parent.parent
BETA = 0.95
SMALL = dict(steps=40, batch=3, neurons=32)


sys.path.append(str(REPO / "benchmarks"))  # the benchmark's own helpers (rounds.py) beside it
bench = importlib.import_module("bench_lif_peer")


class AtanSpike(torch.autograd.Function):
    """H(u) forward, (alpha/2) / (1 + (pi/2 * alpha * u)^2) backward."""

    @staticmethod
    def forward(ctx, u, alpha):
        ctx.save_for_backward(u)
        ctx.alpha = alpha
        return (u > 0).to(u.dtype)

    @staticmethod
    def backward(ctx, grad):
        (u,) = ctx.saved_tensors
        return grad * (ctx.alpha / 2) / (1 + (math.pi / 2 * ctx.alpha * u) ** 2), None


class Transcription(nn.Module):
    """Linear then the LIF recurrence written out in PyTorch, optionally altered."""

    name = "transcription"

    def __init__(self, linear, beta=BETA, reset="subtract", detach_reset=False):
        super().__init__()
        self.linear, self.beta, self.reset, self.detach_reset = linear, beta, reset, detach_reset

    def forward(self, inputs, record_membrane=False):
        currents = self.linear(inputs)
        m = torch.zeros_like(currents[0])
        spikes, membranes = [], []
        for x in currents:
            m = self.beta * m + x
            s = AtanSpike.apply(m - bench.THRESHOLD, bench.SURROGATE_ALPHA)
            r = s.detach() if self.detach_reset else s
            m = m - r * bench.THRESHOLD if self.reset == "subtract" else m * (1 - r)
            spikes.append(s)
            membranes.append(m)
        return torch.stack(spikes), (torch.stack(membranes) if record_membrane else None)


def pair(dtype=torch.float64, neurons=SMALL["neurons"], gain=bench.DEFAULT_GAIN, **altered):
    linear = bench.make_linear(neurons, gain=gain, seed=3, dtype=dtype)
    return bench.SnnTorchLIF(linear, BETA), Transcription(copy.deepcopy(linear), **altered)


def data(dtype=torch.float64, steps=SMALL["steps"], batch=SMALL["batch"], neurons=SMALL["neurons"]):
    return bench.make_inputs(steps, batch, neurons, seed=4, dtype=dtype)


def check(dtype=torch.float64, gain=bench.DEFAULT_GAIN, **altered):
    ours, other = pair(dtype, gain=gain, **altered)
    return bench.check_equivalence(ours, other, *data(dtype), bench.tolerances_for(dtype))


# our neuron computes the written-out dynamics


def test_snntorch_neuron_matches_the_transcription_in_float64():
    result = check()
    assert result.ok, result.problems
    assert result.spike_mismatches == 0 and result.disagreeing_neurons == 0
    assert 0.02 < result.firing_rate < 0.3  # the default input makes a fair share of neurons fire
    assert result.membrane_max_abs_diff < 1e-12
    assert set(result.gradient_rel) == {"input", "weight", "bias"}
    assert all(error < 1e-6 for error in result.gradient_rel.values())
    assert result.above_threshold_after_reset == 0 and result.max_current < 2 - BETA


def test_snntorch_neuron_matches_the_transcription_in_float32():
    result = check(torch.float32)
    assert result.ok, result.problems
    assert result.spike_mismatches == 0


# the checker reports differences


def test_a_changed_beta_is_reported():
    result = check(beta=0.9)
    assert not result.ok
    assert result.spike_mismatches > 0
    assert any("spikes differ" in problem for problem in result.problems)


def test_reset_to_zero_is_reported():
    result = check(reset="zero")
    assert not result.ok
    assert result.spike_mismatches > 0


def test_a_detached_reset_passes_forward_but_fails_the_gradients():
    """snnTorch with reset_delay=False keeps the reset in the graph (it subtracts the spike,
    which carries the surrogate gradient): a detached reset (SpikingJelly's detach_reset=True)
    gives the same spikes and membranes but other gradients."""
    result = check(detach_reset=True)
    assert result.spike_mismatches == 0 and result.membrane_max_abs_diff < 1e-12
    assert not result.ok
    assert {problem.split()[0] for problem in result.problems} == {"input", "weight", "bias"}


def test_snntorch_fires_on_twice_threshold_while_still_above_threshold():
    """snnTorch's reset_delay=False re-subtracts a reset computed from the previous membrane
    before firing, so a neuron left above threshold by a reset (h > 2*theta) fires only on
    beta*m + x > 2*theta: it differs from the written-out dynamics, and the checker says why."""
    result = check(gain=0.6)
    assert result.max_current > 2 - BETA
    assert result.above_threshold_after_reset > 0
    assert not result.ok
    assert "after a reset" in result.problems[-1]


def test_snntorch_step_by_hand_above_threshold():
    lif = bench.snntorch_neuron(BETA, torch.float64)
    m = torch.zeros(1, dtype=torch.float64)
    out = []
    for x in (2.5, 0.0):
        s, m = lif(torch.tensor([x], dtype=torch.float64), m)
        out.append((float(s), float(m)))
    # written out: 2.5 -> spike, m = 1.5; then h = 1.425 >= 1 -> spike, m = 0.425
    assert out[0] == (1.0, 1.5)
    assert out[1][0] == 0.0 and out[1][1] == pytest.approx(1.425)


# builders


def test_snntorch_neuron_gets_beta_in_its_dtype():
    assert bench.snntorch_neuron(BETA, torch.float64).beta.item() == BETA
    assert bench.snntorch_neuron(BETA).beta.dtype == torch.float32
    # casting a built neuron keeps the float32 rounding of beta, hence the dtype argument
    assert bench.snntorch_neuron(BETA).double().beta.item() != BETA
    assert torch.get_default_dtype() == torch.float32


def test_inputs_and_linear_are_seeded_and_give_the_intended_currents():
    a, b = bench.make_linear(256, seed=5), bench.make_linear(256, seed=5)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    inputs, readout = bench.make_inputs(30, 8, 256, seed=6)
    again, _ = bench.make_inputs(30, 8, 256, seed=6)
    assert inputs.shape == readout.shape == (30, 8, 256) and torch.equal(inputs, again)
    with torch.no_grad():
        currents = a(inputs)
    assert float(currents.mean()) == pytest.approx(bench.DEFAULT_DRIVE, abs=0.01)
    assert float(currents.std()) == pytest.approx(bench.DEFAULT_GAIN, rel=0.1)
    assert bench.make_linear(16, dtype=torch.float64).weight.dtype == torch.float64


def test_models_share_a_copied_linear():
    ours, other = pair()
    assert ours.linear is not other.linear
    assert torch.equal(ours.linear.weight, other.linear.weight)
    spikes, membranes = ours(data()[0])
    assert spikes.shape == (SMALL["steps"], SMALL["batch"], SMALL["neurons"]) and membranes is None


def test_timing_runs_forward_and_backward_and_measures_no_memory_on_cpu():
    ours, _ = pair(torch.float32)
    timed = bench.FwdBwd(ours, *data(torch.float32), torch.device("cpu"))
    assert timed() > 0 and timed() > 0
    assert ours.linear.weight.grad is not None and timed.peak_bytes is None


def test_missing_spikingjelly_gives_the_install_line(monkeypatch):
    """The benchmark skips with this message where the peer is not installed."""
    monkeypatch.setitem(sys.modules, "spikingjelly", None)
    monkeypatch.setitem(sys.modules, "spikingjelly.activation_based", None)
    with pytest.raises(ImportError, match="pip install --no-deps -r benchmarks/requirements-peer.txt") as error:
        bench.import_spikingjelly()
    assert str(error.value).startswith("spikingjelly is not importable") and "\n" not in str(error.value)


def test_the_benchmark_imports_spikingjelly_only_when_asked():
    """No module-level import of spikingjelly: the benchmark loads (and these tests run) without it."""
    tree = ast.parse((REPO / "benchmarks" / "bench_lif_peer.py").read_text())
    top = [node for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))]
    names = [alias.name for node in top if isinstance(node, ast.Import) for alias in node.names]
    names += [node.module for node in top if isinstance(node, ast.ImportFrom)]
    assert names and not any(name.startswith("spikingjelly") for name in names)


# the real peer, where installed


def test_spikingjelly_matches_snntorch_on_tiny_sizes():
    pytest.importorskip("spikingjelly")
    for dtype in (torch.float64, torch.float32):
        ours, peer = bench.build_pair(SMALL["neurons"], BETA, dtype=dtype, seed=3)
        result = bench.check_equivalence(ours, peer, *data(dtype), bench.tolerances_for(dtype))
        assert result.ok, (dtype, result.problems)
        assert result.spike_mismatches == 0 and result.firing_rate > 0.02
    ours, peer = bench.build_pair(SMALL["neurons"], BETA, dtype=torch.float64, seed=3, detach_reset=True)
    assert not bench.check_equivalence(ours, peer, *data(), bench.FLOAT64).ok
