"""Peer check of one LIF layer, forward + backward: snnTorch (our snn_bptt reference) vs SpikingJelly.

    pip install --no-deps -r benchmarks/requirements-peer.txt   # spikingjelly 2.0.0 + loguru
    pytest benchmarks/bench_lif_peer.py --benchmark-only [--bench-scale smoke|small|full] [--bench-device cuda]

Why: the snn_bptt reference builds its neurons with snnTorch and steps them in a Python loop;
before its timings mean anything we want to know that another SNN library computes the same
neuron, and how fast that library runs the same layer. The model is the Open Neuromorphic SNN
library benchmark's (one `torch.nn.Linear(n, n)` feeding one LIF population, batch 16, 500
steps, 16k neurons on a GPU: --bench-scale full), scaled at small (n 1,024, 200 steps, batch 16)
to a small shared CPU.

Setup. Both libraries get the same Linear (one is copied into the other), the same Gaussian
input (T, B, n), time-major, and the same loss, (spikes * fixed random weights).sum(), so that
the gradients carry information. snnTorch: `leaky_neuron(beta)` of
`accelbench.reference.snn_bptt.model`, called once per time step in a Python loop, as the reference does. SpikingJelly:
`LIFNode(..., step_mode="m")` on the whole sequence. SpikingJelly 2.0.0 has no `backend=`
argument and no cupy backend any more: it picks the implementation from the tensor's device
and dtype. On the CPU both dtypes run a Python loop over time with autograd, like snnTorch (in
float32/16 inside the custom op `sj_lif::forward`, whose AutogradCPU kernel is that Torch loop
with its own surrogate autograd.Function; in float64 the module-level Torch reference through
`surrogate.ATan`), so on the CPU the comparison is of per-step overhead, not of a fused kernel.
On CUDA it tries native CUDA, then Triton, then Torch (SJ_LIF_CUDA_IMPLEMENTATION overrides);
extra_info says which one ran.

Parameter mapping, checked by the equivalence check below (snnTorch 1.0.0, SpikingJelly 2.0.0):

    snn.Leaky(beta, threshold=1.0,            LIFNode(tau=1/(1-beta), decay_input=False,
              spike_grad=atan(alpha=2.0),             v_threshold=1.0, v_reset=None,
              reset_mechanism="subtract",             surrogate_function=ATan(alpha=2.0),
              reset_delay=False)                      detach_reset=False, step_mode="m")

- decay_input=False: SpikingJelly's charge is then v - v/tau + x = beta*v + x (with the default
  True the input is divided by tau as well).
- v_reset=None is reset by subtraction of v_threshold.
- detach_reset=False, NOT True: with reset_delay=False snnTorch subtracts
  (spike - detached_reset) * threshold, and that spike carries the surrogate gradient, so the
  reset is in the graph; detach_reset=True passes the forward check and fails the gradient
  check (tests/test_lif_peer.py shows it).
- Threshold: snnTorch spikes when h - theta > 0, SpikingJelly when h - theta >= 0; they differ
  on exact ties, and in float32 on near-ties, since they round differently (beta*v + x against
  v - v/tau + x).
- Both use atan's derivative (alpha/2) / (1 + (pi/2 * alpha * u)^2) at u = h - theta.
- snnTorch's reset_delay=False, as coded, recomputes a detached reset from the previous
  membrane and subtracts it before firing (adding it back after), so a neuron whose membrane is
  still above threshold after a reset (h > 2*theta at the previous step) fires on
  beta*m + x > 2*theta, not > theta: there the two libraries diverge. No current above
  (2 - beta) * theta means no such state (by induction m <= theta after every step); the default
  input stays below that (the check prints the largest current and counts such states).
- snnTorch's beta is a float32 buffer made at construction; `.double()` then gives the float32
  rounding of beta (0.95 -> 0.949999988...). The float64 check builds the neuron with torch's
  default dtype set to float64 to get beta exactly. snnTorch's spikes are float32 whatever the
  input dtype, so in float64 its gradients through spikes and reset are float32-rounded: the
  float64 check holds gradients to 1e-6 (they agree to ~5e-8), membranes to 1e-9.

Equivalence check, before any timing: in float64 on the CPU at a small size (n=64, T=50, B=4),
then at the benchmark's own size and device in float32. Spikes must be identical in float64; in
float32 a tiny fraction may flip on threshold ties (a flipped spike leaves that neuron's
membrane off by theta, so membranes and weight/bias gradients are then compared on the neurons
whose spike trains agree, and the input gradient, which mixes all neurons, only reported).
Membranes must agree to a max abs diff and input, weight and bias gradients to a relative
(norm) error. Any failure fails the benchmark with a one-line message.

Timing: one forward + backward of the loss (parameter gradients only, as in training), after
one uncounted warm-up each, the size's repeats interleaved (SpikingJelly, Linear alone, snnTorch,
SpikingJelly, ...) so that load on a shared machine hits all alike; pytest-benchmark times
snnTorch's. The Linear alone (same loss on its currents) shows how much of each time is the
shared matrix product rather than the neuron.
On CUDA the timed region is bracketed by torch.cuda.synchronize() (the Open Neuromorphic
benchmark timed without synchronizing, so its GPU numbers may leave out work still queued), and
peak memory is torch.cuda.max_memory_allocated over each library's own calls; on the CPU memory
is not measured.
"""

from __future__ import annotations

import copy
import logging
import math
import statistics
from dataclasses import dataclass, field

import pytest
import torch
from cuda_timing import synchronized_seconds
from rounds import run_rounds
from torch import nn

from accelbench.reference.snn_bptt.model import leaky_neuron

THRESHOLD = 1.0
SURROGATE_ALPHA = 2.0
DEFAULT_BETA = 0.95  # membrane_decay of rules/v1/snn_bptt_*.toml
DEFAULT_GAIN = 0.15  # std of the input current
DEFAULT_DRIVE = 0.1  # mean of the input current (the Linear's bias); about 7% of neuron-steps fire
INSTALL_HINT = "pip install --no-deps -r benchmarks/requirements-peer.txt"


# -- models --------------------------------------------------------------------------------------


def snntorch_neuron(beta: float, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The reference's LIF neuron, `leaky_neuron(beta)` of accelbench.reference.snn_bptt.model, built with
    torch's default dtype set to `dtype`, so that its beta buffer is beta in that dtype (casting a built
    neuron keeps the float32 rounding of beta)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        return leaky_neuron(beta)
    finally:
        torch.set_default_dtype(previous)


class SnnTorchLIF(nn.Module):
    """Linear then snnTorch's Leaky, stepped in a Python loop as the reference does."""

    name = "snntorch"

    def __init__(self, linear: nn.Linear, beta: float) -> None:
        super().__init__()
        self.linear = linear
        self.lif = snntorch_neuron(beta, linear.weight.dtype).to(linear.weight.device)

    def forward(self, inputs: torch.Tensor, record_membrane: bool = False):
        """`inputs` (T, B, n) -> spikes (T, B, n) and, if asked, membranes after reset (T, B, n)."""
        currents = self.linear(inputs)
        membrane = torch.zeros_like(currents[0])
        spikes, membranes = [], []
        for current in currents:
            spike, membrane = self.lif(current, membrane)
            spikes.append(spike)
            if record_membrane:
                membranes.append(membrane)
        return torch.stack(spikes), (torch.stack(membranes) if record_membrane else None)


def import_spikingjelly():
    """SpikingJelly's (functional, neuron, surrogate), or ImportError saying how to install it."""
    logging.getLogger("torch._library.triton").setLevel(logging.ERROR)  # its import probes Triton
    try:
        from spikingjelly.activation_based import functional, neuron, surrogate
    except ImportError as error:
        raise ImportError(f"spikingjelly is not importable ({error}); install it with: {INSTALL_HINT}") from None
    return functional, neuron, surrogate


class SpikingJellyLIF(nn.Module):
    """Linear then SpikingJelly's LIFNode in multi-step mode, mapped to snnTorch's neuron."""

    name = "spikingjelly"

    def __init__(self, linear: nn.Linear, beta: float, detach_reset: bool = False) -> None:
        super().__init__()
        self._functional, neuron, surrogate = import_spikingjelly()
        self.linear = linear
        self.lif = neuron.LIFNode(
            tau=1.0 / (1.0 - beta), decay_input=False, v_threshold=THRESHOLD, v_reset=None,
            detach_reset=detach_reset, surrogate_function=surrogate.ATan(alpha=SURROGATE_ALPHA),
            step_mode="m",
        )

    def forward(self, inputs: torch.Tensor, record_membrane: bool = False):
        self._functional.reset_net(self.lif)  # the membrane starts at 0 on every call
        self.lif.store_v_seq = record_membrane
        spikes = self.lif(self.linear(inputs))
        return spikes, (self.lif.v_seq if record_membrane else None)


class LinearOnly(nn.Module):
    """The shared Linear alone, its currents standing in for spikes: the time both models spend
    outside the neuron, timed alongside them so that the LIF part can be told apart."""

    name = "linear-only"

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.linear = linear

    def forward(self, inputs: torch.Tensor, record_membrane: bool = False):
        return self.linear(inputs), None


def spikingjelly_implementation(device: torch.device, dtype: torch.dtype) -> str:
    """Which SpikingJelly LIF implementation runs for this device and dtype (its own dispatch)."""
    fused_dtype = dtype in (torch.float32, torch.float16, torch.bfloat16)
    if device.type == "cpu":
        return ("torch-reference inside op sj_lif::forward (Python time loop, autograd)" if fused_dtype
                else "torch-reference multi_step (Python time loop, autograd through surrogate.ATan)")
    if not fused_dtype:
        return "torch reference (dtype not fused)"
    functional, _, _ = import_spikingjelly()
    return str(functional.neuron_implementation("lif", device)["implementation"])


def make_linear(neurons: int, *, gain: float = DEFAULT_GAIN, drive: float = DEFAULT_DRIVE,
                seed: int = 0, dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu") -> nn.Linear:
    """Linear(n, n) with weights N(0, gain^2 / n) and every bias `drive`: for standard normal
    inputs each neuron's current is about N(drive, gain^2)."""
    generator = torch.Generator().manual_seed(seed)
    linear = nn.Linear(neurons, neurons)
    with torch.no_grad():
        linear.weight.copy_(torch.randn(neurons, neurons, generator=generator, dtype=torch.float64)
                            * (gain / math.sqrt(neurons)))
        linear.bias.fill_(drive)
    return linear.to(device=device, dtype=dtype)


def make_inputs(steps: int, batch: int, neurons: int, *, seed: int = 1,
                dtype: torch.dtype = torch.float32, device: str | torch.device = "cpu"):
    """(inputs, readout): standard normal inputs (T, B, n) and the fixed random weights of the
    loss (spikes * readout).sum(), same shape."""
    generator = torch.Generator().manual_seed(seed)
    shape = (steps, batch, neurons)
    inputs = torch.randn(shape, generator=generator, dtype=torch.float64)
    readout = torch.randn(shape, generator=generator, dtype=torch.float64)
    return inputs.to(device=device, dtype=dtype), readout.to(device=device, dtype=dtype)


def build_pair(neurons: int, beta: float, *, dtype=torch.float32, device="cpu", seed: int = 0,
               gain: float = DEFAULT_GAIN, drive: float = DEFAULT_DRIVE, detach_reset: bool = False):
    """(snnTorch model, SpikingJelly model) sharing a copy of the same Linear."""
    linear = make_linear(neurons, gain=gain, drive=drive, seed=seed, dtype=dtype, device=device)
    return SnnTorchLIF(linear, beta), SpikingJellyLIF(copy.deepcopy(linear), beta, detach_reset)


# -- equivalence check ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerances:
    spike_fraction: float  # largest fraction of neuron-steps whose spike may differ
    membrane: float  # largest abs membrane difference, on neurons whose spike trains agree
    gradient: float  # largest relative (norm) error of a gradient


# snnTorch's spikes are float32 whatever the dtype, so in float64 its gradients through the spike
# and the reset pass through float32 (relative error ~5e-8 against SpikingJelly's float64).
FLOAT64 = Tolerances(spike_fraction=0.0, membrane=1e-9, gradient=1e-6)
FLOAT32 = Tolerances(spike_fraction=1e-4, membrane=1e-4, gradient=1e-4)


def tolerances_for(dtype: torch.dtype) -> Tolerances:
    return FLOAT64 if dtype == torch.float64 else FLOAT32


@dataclass
class Equivalence:
    neuron_steps: int
    firing_rate: float  # of `ours`
    spike_mismatches: int
    disagreeing_neurons: int  # (batch, neuron) pairs whose spike trains differ anywhere
    membrane_max_abs_diff: float  # over all entries
    membrane_agreeing_max_abs_diff: float  # over neurons whose spike trains agree
    gradient_rel: dict[str, float] = field(default_factory=dict)  # input / weight / bias
    above_threshold_after_reset: int = 0  # membrane states > theta in `ours` (the snnTorch quirk)
    max_current: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        gradients = ", ".join(f"{k} {v:.2e}" for k, v in self.gradient_rel.items())
        return (f"firing rate {self.firing_rate:.4f}, spike mismatches {self.spike_mismatches}/"
                f"{self.neuron_steps}, membrane max abs diff {self.membrane_max_abs_diff:.2e} "
                f"(agreeing neurons {self.membrane_agreeing_max_abs_diff:.2e}), gradient rel err "
                f"{gradients}, max current {self.max_current:.3f}, membranes above threshold "
                f"after reset {self.above_threshold_after_reset}")


def _run(model: nn.Module, inputs: torch.Tensor, readout: torch.Tensor):
    """Forward with membranes, backward of (spikes * readout).sum(): spikes, membranes, currents'
    gradient, and the gradients of input, weight and bias."""
    model.zero_grad(set_to_none=True)
    x = inputs.detach().clone().requires_grad_(True)
    spikes, membranes = model(x, record_membrane=True)
    (spikes.to(readout.dtype) * readout).sum().backward()
    return (spikes.detach().to(readout.dtype), membranes.detach(),
            {"input": x.grad, "weight": model.linear.weight.grad, "bias": model.linear.bias.grad})


def _relative(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.double(), b.double()
    return float((a - b).norm() / b.norm().clamp_min(1e-300))


def check_equivalence(ours: nn.Module, peer: nn.Module, inputs: torch.Tensor, readout: torch.Tensor,
                      tolerances: Tolerances) -> Equivalence:
    """Run both models (each has `.linear` and `forward(x, record_membrane)` -> (spikes,
    membranes), (T, B, n)) on the same input and loss and compare spikes, membranes and the
    gradients of input, Linear weight and bias. `problems` lists what is out of tolerance."""
    spikes_a, membrane_a, grads_a = _run(ours, inputs, readout)
    spikes_b, membrane_b, grads_b = _run(peer, inputs, readout)
    differs = spikes_a != spikes_b
    neuron_differs = differs.any(dim=0)  # (B, n)
    agree = ~neuron_differs
    membrane_diff = (membrane_a.double() - membrane_b.double()).abs()
    with torch.no_grad():
        max_current = float(ours.linear(inputs).max())
    result = Equivalence(
        neuron_steps=differs.numel(),
        firing_rate=float(spikes_a.double().mean()),
        spike_mismatches=int(differs.sum()),
        disagreeing_neurons=int(neuron_differs.sum()),
        membrane_max_abs_diff=float(membrane_diff.max()),
        membrane_agreeing_max_abs_diff=float(membrane_diff[:, agree].max()) if agree.any() else 0.0,
        above_threshold_after_reset=int((membrane_a[:-1] > THRESHOLD).sum()),
        max_current=max_current,
    )
    # A flipped spike puts that neuron's membrane off by theta from then on, so with flips the
    # weight and bias gradients are compared on the rows of neurons that agree in every batch
    # entry; the input gradient mixes all neurons and is then only reported.
    rows = agree.all(dim=0)  # (n,)
    for name in ("input", "weight", "bias"):
        a, b = grads_a[name], grads_b[name]
        if result.spike_mismatches and name != "input":
            a, b = a[rows], b[rows]
        result.gradient_rel[name] = _relative(a, b)

    if result.spike_mismatches > tolerances.spike_fraction * result.neuron_steps:
        result.problems.append(f"{result.spike_mismatches} of {result.neuron_steps} spikes differ")
    if result.membrane_agreeing_max_abs_diff > tolerances.membrane:
        result.problems.append(f"membranes differ by up to {result.membrane_agreeing_max_abs_diff:.3g}")
    for name, error in result.gradient_rel.items():
        if name == "input" and result.spike_mismatches:
            continue
        if not error <= tolerances.gradient:
            result.problems.append(f"{name} gradient relative error {error:.3g}")
    if result.problems and result.above_threshold_after_reset:
        result.problems.append(f"{result.above_threshold_after_reset} membranes stayed above threshold "
                               "after a reset (snnTorch reset_delay=False fires on > 2*theta there)")
    return result


# -- timing --------------------------------------------------------------------------------------


class FwdBwd:
    """One model's forward + backward of (spikes * readout).sum() (parameter gradients, as in training), in
    seconds between device synchronisations; on CUDA the largest peak memory over the calls is kept."""

    def __init__(self, model: nn.Module, inputs: torch.Tensor, readout: torch.Tensor, device: torch.device) -> None:
        self.model, self.inputs, self.readout, self.device = model, inputs, readout, device
        self.peak_bytes: int | None = None

    def __call__(self) -> float:
        self.model.zero_grad(set_to_none=True)
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        seconds = synchronized_seconds(self._forward_backward, self.device)
        if self.device.type == "cuda":
            self.peak_bytes = max(self.peak_bytes or 0, torch.cuda.max_memory_allocated(self.device))
        return seconds

    def _forward_backward(self) -> None:
        spikes, _ = self.model(self.inputs)
        (spikes.to(self.readout.dtype) * self.readout).sum().backward()


# -- the benchmark -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Size:
    neurons: int
    steps: int
    batch: int
    repeats: int


SIZES = {"smoke": Size(neurons=256, steps=50, batch=4, repeats=3),
         "small": Size(neurons=1024, steps=200, batch=16, repeats=7),
         "full": Size(neurons=16384, steps=500, batch=16, repeats=7)}  # the Open Neuromorphic benchmark's
EQUIVALENCE_SIZE = Size(neurons=64, steps=50, batch=4, repeats=0)  # the float64 check on the CPU


def checked_pair(size: Size, dtype: torch.dtype, device: torch.device):
    """(snnTorch model, SpikingJelly model, inputs, readout) at `size`, the two shown to compute the same neuron."""
    ours, peer = build_pair(size.neurons, DEFAULT_BETA, dtype=dtype, device=device)
    inputs, readout = make_inputs(size.steps, size.batch, size.neurons, dtype=dtype, device=device)
    result = check_equivalence(ours, peer, inputs, readout, tolerances_for(dtype))
    label = f"{dtype} {device} B={size.batch} T={size.steps} n={size.neurons}"
    assert result.ok, f"spikingjelly differs from snntorch ({label}): {'; '.join(result.problems)}"
    print(f"check {label}: {result.summary()}")
    return ours, peer, inputs, readout


def test_snntorch_vs_spikingjelly(benchmark, goal_ratio, bench_scale, torch_device):
    from importlib.metadata import version

    try:
        import_spikingjelly()
    except ImportError as error:
        pytest.skip(str(error))
    size, dtype = SIZES[bench_scale], torch.float32
    checked_pair(EQUIVALENCE_SIZE, torch.float64, torch.device("cpu"))
    ours, peer, inputs, readout = checked_pair(size, dtype, torch_device)
    timed = {model.name: FwdBwd(model, inputs, readout, torch_device)
             for model in (ours, peer, LinearOnly(copy.deepcopy(ours.linear)))}
    for run in timed.values():
        run()  # warm-up, not counted
    linear_seconds = []

    def peers() -> float:
        seconds = timed[peer.name]()
        linear_seconds.append(timed[LinearOnly.name]())
        return seconds

    rounds = run_rounds(benchmark, timed[ours.name], size.repeats, peer=peers)

    ratio, per_repeat = rounds.ratio_of_medians(), rounds.pair_ratios()
    linear = statistics.median(linear_seconds)
    lif_ours, lif_peer = statistics.median(rounds.subject) - linear, statistics.median(rounds.peer) - linear
    timesteps = size.batch * size.steps
    benchmark.extra_info.update(
        torch_version=torch.__version__, snntorch_version=version("snntorch"),
        spikingjelly_version=version("spikingjelly"), device=str(torch_device), dtype="float32",
        torch_threads=torch.get_num_threads(), beta=DEFAULT_BETA, neurons=size.neurons, steps=size.steps,
        batch=size.batch, repeats=size.repeats, spikingjelly_implementation=spikingjelly_implementation(torch_device, dtype),
        snntorch_timesteps_per_s=timesteps / statistics.median(rounds.subject),
        spikingjelly_timesteps_per_s=timesteps / statistics.median(rounds.peer), linear_only_median_s=linear,
        linear_only_rounds=linear_seconds, lif_part_snntorch_s=lif_ours, lif_part_spikingjelly_s=lif_peer,
        lif_part_ratio=lif_ours / lif_peer if lif_peer > 0 else None,
        peak_mib={name: run.peak_bytes / 2**20 for name, run in timed.items() if run.peak_bytes is not None},
        per_repeat_ratio_min=min(per_repeat), per_repeat_ratio_max=max(per_repeat))
    print(f"LIF part (median minus linear-only): snntorch {lif_ours:.4f} s, spikingjelly {lif_peer:.4f} s; "
          f"per-repeat ratios snntorch/spikingjelly {min(per_repeat):.2f}..{max(per_repeat):.2f}")
    goal_ratio("snntorch / spikingjelly fwd+bwd s (of the medians)", ratio, "none set")
