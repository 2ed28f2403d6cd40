"""Peer check of one LIF layer, forward + backward: snnTorch (our snn_bptt reference) vs SpikingJelly.

    pip install --no-deps -r benchmarks/requirements-peer.txt   # spikingjelly 2.0.0 + loguru
    python benchmarks/bench_lif_peer.py [--neurons 1024] [--steps 200] [--batch 16] [--repeats 7]
                                        [--device cpu|cuda] [--dtype float32|float64]

Why: the snn_bptt reference builds its neurons with snnTorch and steps them in a Python loop;
before its timings mean anything we want to know that another SNN library computes the same
neuron, and how fast that library runs the same layer. The model is the Open Neuromorphic SNN
library benchmark's (one `torch.nn.Linear(n, n)` feeding one LIF population, batch 16, 500
steps, 16k neurons on a GPU), scaled by default to a small shared CPU.

Setup. Both libraries get the same Linear (one is copied into the other), the same Gaussian
input (T, B, n), time-major, and the same loss, (spikes * fixed random weights).sum(), so that
the gradients carry information. snnTorch: `leaky_neuron(beta)` of
`accelbench.reference.snn_bptt.model` (or, if that module is missing, the same constructor
inline), called once per time step in a Python loop, as the reference does. SpikingJelly:
`LIFNode(..., step_mode="m")` on the whole sequence. SpikingJelly 2.0.0 has no `backend=`
argument and no cupy backend any more: it picks the implementation from the tensor's device
and dtype. On the CPU both dtypes run a Python loop over time with autograd, like snnTorch (in
float32/16 inside the custom op `sj_lif::forward`, whose AutogradCPU kernel is that Torch loop
with its own surrogate autograd.Function; in float64 the module-level Torch reference through
`surrogate.ATan`), so on the CPU the comparison is of per-step overhead, not of a fused kernel.
On CUDA it tries native CUDA, then Triton, then Torch (SJ_LIF_CUDA_IMPLEMENTATION overrides);
the script prints which one runs.

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
  check (try --sj-detach-reset).
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
then at the benchmark's own size, device and dtype. Spikes must be identical in float64; in
float32 a tiny fraction may flip on threshold ties (a flipped spike leaves that neuron's
membrane off by theta, so membranes and weight/bias gradients are then compared on the neurons
whose spike trains agree, and the input gradient, which mixes all neurons, only reported).
Membranes must agree to a max abs diff and input, weight and bias gradients to a relative
(norm) error. Any failure exits non-zero with a one-line message.

Timing: one forward + backward of the loss (parameter gradients only, as in training), after
one uncounted warm-up each, `--repeats` times interleaved (snnTorch, SpikingJelly, Linear alone,
snnTorch, ...) so that load on a shared machine hits all alike; the Linear alone (same loss on
its currents) shows how much of each time is the shared matrix product rather than the neuron.
On CUDA the timed region is bracketed by torch.cuda.synchronize() (the Open Neuromorphic
benchmark timed without synchronizing, so its GPU numbers may leave out work still queued), and
peak memory is torch.cuda.max_memory_allocated over each library's own calls; on the CPU memory
is not measured.
"""

from __future__ import annotations

import argparse
import copy
import logging
import math
import statistics
import sys
import time
from dataclasses import dataclass, field

import torch
from torch import nn

THRESHOLD = 1.0
SURROGATE_ALPHA = 2.0
DEFAULT_BETA = 0.95  # membrane_decay of rules/v1/snn_bptt_*.toml
DEFAULT_GAIN = 0.15  # std of the input current
DEFAULT_DRIVE = 0.1  # mean of the input current (the Linear's bias); about 7% of neuron-steps fire
INSTALL_HINT = "pip install --no-deps -r benchmarks/requirements-peer.txt"


# -- models --------------------------------------------------------------------------------------


def snntorch_neuron(beta: float, dtype: torch.dtype = torch.float32) -> nn.Module:
    """The reference's LIF neuron, `leaky_neuron(beta)` of accelbench.reference.snn_bptt.model,
    or the same constructor inline where that module cannot be imported. Built with torch's
    default dtype set to `dtype`, so that its beta buffer is beta in that dtype (casting a built
    neuron keeps the float32 rounding of beta)."""
    try:
        from accelbench.reference.snn_bptt.model import leaky_neuron
    except ImportError:
        import snntorch as snn
        from snntorch import surrogate

        def leaky_neuron(beta: float) -> nn.Module:
            return snn.Leaky(beta=beta, threshold=THRESHOLD,
                             spike_grad=surrogate.atan(alpha=SURROGATE_ALPHA),
                             reset_mechanism="subtract", reset_delay=False)

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


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fwd_bwd_seconds(model: nn.Module, inputs: torch.Tensor, readout: torch.Tensor, device: torch.device) -> float:
    """Seconds for one forward + backward of (spikes * readout).sum() (parameter gradients)."""
    model.zero_grad(set_to_none=True)
    _synchronize(device)
    start = time.perf_counter()
    spikes, _ = model(inputs)
    (spikes.to(readout.dtype) * readout).sum().backward()
    _synchronize(device)
    return time.perf_counter() - start


def time_interleaved(models, inputs, readout, device: torch.device, repeats: int):
    """{name: [seconds, ...]} and {name: peak bytes or None}, after one warm-up each, the models
    taking turns in every repeat."""
    seconds = {model.name: [] for model in models}
    peaks = {model.name: None for model in models}
    for model in models:
        fwd_bwd_seconds(model, inputs, readout, device)
    for _ in range(repeats):
        for model in models:
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            seconds[model.name].append(fwd_bwd_seconds(model, inputs, readout, device))
            if device.type == "cuda":
                peak = torch.cuda.max_memory_allocated(device)
                peaks[model.name] = max(peaks[model.name] or 0, peak)
    return seconds, peaks


# -- command line --------------------------------------------------------------------------------


def _check_or_exit(label: str, ours, peer, inputs, readout, dtype) -> Equivalence:
    result = check_equivalence(ours, peer, inputs, readout, tolerances_for(dtype))
    print(f"check {label}: {result.summary()}")
    if not result.ok:
        sys.exit(f"bench_lif_peer: spikingjelly differs from snntorch ({label}): {'; '.join(result.problems)}")
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--neurons", type=int, default=1024)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32",
                        help="snnTorch's spikes are float32 whatever the dtype, so half precisions "
                             "are not compared")
    parser.add_argument("--beta", type=float, default=DEFAULT_BETA)
    parser.add_argument("--gain", type=float, default=DEFAULT_GAIN, help="std of the input current")
    parser.add_argument("--drive", type=float, default=DEFAULT_DRIVE, help="mean of the input current")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sj-detach-reset", action="store_true",
                        help="map to SpikingJelly with detach_reset=True (wrong: the check fails)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype)
    if not 0.0 < args.beta < 1.0:
        parser.error("--beta must lie in (0, 1) (SpikingJelly needs tau = 1/(1-beta) > 1)")

    try:
        import_spikingjelly()
    except ImportError as error:
        sys.exit(f"bench_lif_peer: {error}")
    from importlib.metadata import version

    print(f"torch {torch.__version__}, snntorch {version('snntorch')}, spikingjelly "
          f"{version('spikingjelly')}, device {device}, dtype {args.dtype}, "
          f"torch threads {torch.get_num_threads()}, beta {args.beta}")
    implementation = spikingjelly_implementation(device, dtype)
    print(f"spikingjelly implementation: {implementation} (no backend= / cupy in 2.0.0)")

    def pair(neurons, pair_dtype, pair_device):
        return build_pair(neurons, args.beta, dtype=pair_dtype, device=pair_device, seed=args.seed,
                          gain=args.gain, drive=args.drive, detach_reset=args.sj_detach_reset)

    small = (4, 50, 64)  # batch, steps, neurons
    ours, peer = pair(small[2], torch.float64, "cpu")
    inputs, readout = make_inputs(small[1], small[0], small[2], seed=args.seed + 1, dtype=torch.float64)
    _check_or_exit(f"float64 cpu B={small[0]} T={small[1]} n={small[2]}", ours, peer, inputs, readout,
                   torch.float64)

    ours, peer = pair(args.neurons, dtype, device)
    inputs, readout = make_inputs(args.steps, args.batch, args.neurons, seed=args.seed + 1,
                                  dtype=dtype, device=device)
    _check_or_exit(f"{args.dtype} {device} B={args.batch} T={args.steps} n={args.neurons}",
                   ours, peer, inputs, readout, dtype)

    baseline = LinearOnly(copy.deepcopy(ours.linear))
    seconds, peaks = time_interleaved([ours, peer, baseline], inputs, readout, device, args.repeats)
    steps = args.batch * args.steps
    print(f"fwd+bwd, {args.repeats} interleaved repeats after 1 warm-up, B={args.batch} "
          f"T={args.steps} n={args.neurons}:")
    for name, values in seconds.items():
        median = statistics.median(values)
        memory = (f"peak {peaks[name] / 2**20:.1f} MiB" if peaks[name] is not None
                  else "memory not measured (CPU)")
        print(f"  {name:13s} median {median:.4f} s  min {min(values):.4f} s  "
              f"{steps / median:,.0f} timesteps/s  {memory}")
    ratios = [a / b for a, b in zip(seconds["snntorch"], seconds["spikingjelly"])]
    ratio = statistics.median(seconds["snntorch"]) / statistics.median(seconds["spikingjelly"])
    linear = statistics.median(seconds[baseline.name])
    lif_ours = statistics.median(seconds["snntorch"]) - linear
    lif_peer = statistics.median(seconds["spikingjelly"]) - linear
    print(f"LIF part (median minus linear-only): snntorch {lif_ours:.4f} s, spikingjelly {lif_peer:.4f} s"
          + (f", ratio {lif_ours / lif_peer:.2f}" if lif_peer > 0 else ""))
    print(f"per-repeat ratios snntorch/spikingjelly {min(ratios):.2f}..{max(ratios):.2f}")
    print(f"ratio snntorch/spikingjelly = {ratio:.2f} (fwd+bwd median, same run)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
