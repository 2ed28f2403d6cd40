"""Integrates the model cell of `cell.py` for many samples at once, on whatever device holds them.

Numerics (per time step of dt):
  * gates: exponential Euler at the previous voltage, x <- x_inf + (x - x_inf) exp(-dt / tau),
    exact for a frozen voltage and stable for any dt. exp(-dt/tau) and x_inf (1 - exp(-dt/tau))
    come from a table over voltage (0.05 mV rows, nearest row), as NEURON does for its rates:
    one gather replaces every exponential of every gate at every step;
  * voltage: backward Euler with the ionic conductances of the updated gates and the axial
    coupling solved implicitly (for a star this is one elimination into the soma), so the
    scheme is unconditionally stable and cannot oscillate between compartments;
  * calcium: exponential Euler of the linear shell equation with the Ca current of this step.
Every sample starts from its own resting state, found by integrating without stimulus for
200 ms at a coarse step (backward Euler and exponential Euler stay stable there).
The loop body is a fixed sequence of in-place tensor operations on (compartments, samples)
arrays, so its cost is a few dozen kernel calls per step whatever the number of samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from accelbench.errors import UserError
from accelbench.reference.neuron_inverter import cell

TABLE_V_MIN_MV = -130.0  # below any reversal potential: the clamp never bites in a live cell
TABLE_V_MAX_MV = 90.0  # above E_Na; voltages beyond these rows use the edge rates
TABLE_STEP_MV = 0.05  # nearest-row error of 0.025 mV, far below the noise any decoder sees
SETTLE_MS = 200.0  # several Ih time constants: every sample starts at its own rest
SETTLE_DT_MS = 1.0  # coarse: 200 steps, 2.5 % of the recorded run's cost
INITIAL_MV = -70.0  # start of the settling run, near every cell's rest
# The original's 40 kHz. Base cell, spike times against dt = 0.00625 ms: within 2 bins at 0.025 ms,
# up to 6 bins at 0.0625 ms (tests/test_simulator.py checks 0.025 against 0.0125).
MAX_DT_MS = 0.025

_N_COMPARTMENTS = len(cell.COMPARTMENTS)
_GATES = tuple(gate for channel in cell.VOLTAGE_GATED for gate, _ in channel.gates)
_CHANNEL = {name: i for i, name in enumerate(cell.CHANNEL_NAMES)}
_COMPARTMENT = {name: i for i, name in enumerate(cell.COMPARTMENT_NAMES)}


def simulate(phys: torch.Tensor, *, dt_ms: float = 0.025, time_bins: int = 1600) -> torch.Tensor:
    """Voltage traces (N, time_bins, 4) float32 in mV for conductances phys (N, 15) in S/cm^2.

    Each bin is the mean of the steps in 1 / 8 kHz; the computation runs on phys.device.
    """
    _check_phys(phys)
    check_timing(dt_ms, time_bins)
    steps_per_bin = round(cell.BIN_MS / dt_ms)
    densities = conductance_densities(phys)
    state = _State.at_rest_guess(densities)
    stimulus = [cell.stimulus_nA((i + 1) * dt_ms) for i in range(time_bins * steps_per_bin)]
    record = torch.zeros(time_bins, _N_COMPARTMENTS, phys.shape[0], dtype=torch.float32, device=phys.device)
    with _one_cpu_thread(phys.device):
        _Integrator(densities, SETTLE_DT_MS).run(state, [0.0] * round(SETTLE_MS / SETTLE_DT_MS))
        _Integrator(densities, dt_ms).run(state, stimulus, record, steps_per_bin)
    record.mul_(1.0 / steps_per_bin)
    return record.permute(2, 0, 1).contiguous()


@contextmanager
def _one_cpu_thread(device: torch.device) -> Iterator[None]:
    """Run the CPU loop on one thread, then restore the caller's setting.

    Each step is a few dozen kernels of some 10^4 numbers: shared between cores they gain about
    10 % on an idle 2-core machine, and they lose 2-4x as soon as another process holds a core,
    because every kernel then waits for the descheduled thread.
    """
    if device.type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def conductance_densities(phys: torch.Tensor) -> torch.Tensor:
    """(channels, compartments, N) float32 in mS/cm^2: the base cell with the 15 varied entries set."""
    base = torch.zeros(len(cell.CHANNEL_NAMES), _N_COMPARTMENTS, dtype=torch.float32)
    for (channel, compartment), value in cell.BASE_DENSITY_S_CM2.items():
        base[_CHANNEL[channel], _COMPARTMENT[compartment]] = value * 1e3
    densities = base.to(phys.device)[:, :, None].repeat(1, 1, phys.shape[0])
    for column, parameter in enumerate(cell.PARAMETERS):
        row = _CHANNEL[parameter.channel], _COMPARTMENT[parameter.compartment]
        densities[row] = phys[:, column].float() * 1e3
    return densities


_WHERE = "reference/neuron_inverter/simulator.py: simulate()"


def _check_phys(phys: torch.Tensor) -> None:
    n_par = len(cell.PARAMETERS)
    if not isinstance(phys, torch.Tensor) or phys.dim() != 2 or phys.shape[1] != n_par:
        shape = tuple(phys.shape) if isinstance(phys, torch.Tensor) else type(phys).__name__
        raise UserError(f"{_WHERE}: phys is {shape}; pass a (N, {n_par}) tensor of conductances in S/cm^2")
    if not phys.is_floating_point() or not bool(torch.isfinite(phys).all()) or bool((phys <= 0).any()):
        raise UserError(
            f"{_WHERE}: phys holds non-finite, non-positive or non-float values; "
            "pass positive conductances in S/cm^2"
        )


def check_timing(dt_ms: float, time_bins: int) -> None:
    """Refuse (UserError) a step that is too long or does not divide the 8 kHz bin, or a bin count below 1."""
    number = isinstance(dt_ms, (int, float)) and not isinstance(dt_ms, bool)
    steps_per_bin = cell.BIN_MS / dt_ms if number and dt_ms > 0 else 0.0
    if not number or not (0 < dt_ms <= MAX_DT_MS) or abs(steps_per_bin - round(steps_per_bin)) > 1e-6:
        raise UserError(
            f"{_WHERE}: dt_ms={dt_ms}; pass a step <= {MAX_DT_MS} ms that divides the {cell.BIN_MS} ms bin"
        )
    if not isinstance(time_bins, int) or time_bins < 1:
        raise UserError(f"{_WHERE}: time_bins={time_bins!r}; pass a positive integer (1600 = 200 ms)")


class _State:
    """Voltage (C, N), gates (K, C*N) and free Ca (C, N) of every compartment of every sample."""

    def __init__(self, voltage: torch.Tensor, gates: torch.Tensor, calcium: torch.Tensor):
        self.voltage, self.gates, self.calcium = voltage, gates, calcium

    @classmethod
    def at_rest_guess(cls, densities: torch.Tensor) -> _State:
        """All compartments at INITIAL_MV with gates at their steady state there; Ca at rest."""
        n, device = densities.shape[2], densities.device
        v = torch.tensor([INITIAL_MV], dtype=torch.float64)
        steady = torch.cat([gate.steady_state(v) for gate in _GATES]).float()
        gates = steady.to(device)[:, None].repeat(1, _N_COMPARTMENTS * n)
        voltage = torch.full((_N_COMPARTMENTS, n), INITIAL_MV, dtype=torch.float32, device=device)
        calcium = torch.full((_N_COMPARTMENTS, n), cell.CA_REST_MM, dtype=torch.float32, device=device)
        return cls(voltage, gates, calcium)


def _gate_table(dt_ms: float, device: torch.device) -> torch.Tensor:
    """(2K, voltage rows) float32: exp(-dt/tau) of the K gates, then x_inf * (1 - exp(-dt/tau))."""
    rows = round((TABLE_V_MAX_MV - TABLE_V_MIN_MV) / TABLE_STEP_MV) + 1
    v = torch.linspace(TABLE_V_MIN_MV, TABLE_V_MAX_MV, rows, dtype=torch.float64)
    decay = torch.stack([torch.exp(-dt_ms / gate.time_constant_ms(v)) for gate in _GATES])
    target = torch.stack([gate.steady_state(v) for gate in _GATES]) * (1.0 - decay)
    return torch.cat([decay, target]).float().to(device)


def _axial_per_area() -> tuple[list[float], list[float]]:
    """Axial conductance of each non-soma compartment, divided by the soma's area and by its own (mS/cm^2)."""
    soma_area = cell.COMPARTMENTS[cell.SOMA].area_cm2
    to_soma, to_leaf = [], []
    for compartment in cell.COMPARTMENTS[1:]:
        g_mS = cell.axial_conductance_S(compartment) * 1e3
        to_soma.append(g_mS / soma_area)
        to_leaf.append(g_mS / compartment.area_cm2)
    return to_soma, to_leaf


class _Integrator:
    """Steps of one fixed dt for one batch, with every constant and buffer prepared before the loop.

    Only elementwise operations: no BLAS call, whose threading stalls on a busy CPU and whose
    summation order may depend on the batch size.
    """

    def __init__(self, densities: torch.Tensor, dt_ms: float):
        assert cell.SOMA == 0, "the elimination in _solve_voltage treats compartment 0 as the hub of the star"
        device = densities.device
        n_channels, c, n = densities.shape
        f32 = dict(dtype=torch.float32, device=device)
        self.densities = densities
        reversal = torch.tensor([cell.REVERSAL_MV[name] for name in cell.CHANNEL_NAMES], **f32)
        self.driving_densities = densities * reversal[:, None, None]  # g_max * E, uA/cm^2 when open
        self.table = _gate_table(dt_ms, device)
        self.n_gates = len(_GATES)
        self.index_scale = 1.0 / TABLE_STEP_MV
        self.index_offset = 0.5 - TABLE_V_MIN_MV / TABLE_STEP_MV  # +0.5: truncation then rounds to nearest
        # Backward Euler, per unit area: (C/dt + G_ion + axial) V' - axial V'_soma-or-leaves = C/dt V + I.
        self.capacitance_per_dt = cell.MEMBRANE_CAPACITANCE_UF_CM2 / dt_ms
        self.to_soma, self.to_leaf = _axial_per_area()
        axial = [sum(self.to_soma), *self.to_leaf]
        self.diagonal_without_ions = torch.tensor([self.capacitance_per_dt + g for g in axial], **f32)[:, None]
        self.leaf_from_soma = torch.tensor(self.to_leaf, **f32)[:, None]  # (C-1, 1)
        self.stimulus_per_nA = 1e-3 / cell.COMPARTMENTS[cell.SOMA].area_cm2  # nA -> uA/cm^2 at the soma
        # Ca shell, exact for a current held over the step: ca' = ca_inf + (ca - ca_inf) * decay.
        self.ca_decay = math.exp(-dt_ms / cell.CA_DECAY_MS)
        self.ca_per_current = -cell.CA_INFLUX_MM_PER_MS_PER_UA_CM2 * cell.CA_DECAY_MS * (1.0 - self.ca_decay)
        self.ca_from_rest = cell.CA_REST_MM * (1.0 - self.ca_decay)
        self.sk_half_to_hill = cell.SK_HALF_ACTIVATION_MM**4
        self.open = torch.ones(n_channels, c, n, **f32)  # the leak's row stays 1
        self.diagonal = torch.empty(c, n, **f32)  # sum of g over channels, then the whole diagonal
        self.rhs = torch.empty(c, n, **f32)  # sum of g E over channels, then the whole right-hand side
        self.lookup = torch.empty(2 * self.n_gates, c * n, **f32)
        self.index = torch.empty(c, n, dtype=torch.int64, device=device)
        self.scratch = torch.empty(c, n, **f32)
        self.leaf_reciprocal = torch.empty(c - 1, n, **f32)

    def run(
        self,
        state: _State,
        stimulus_nA: list[float],
        record: torch.Tensor | None = None,
        steps_per_bin: int = 1,
    ) -> None:
        """One step per stimulus value; each step's voltage is added to record[step // steps_per_bin]."""
        products = self._gate_products(state.gates)
        for step, current in enumerate(stimulus_nA):
            self._update_gates(state)
            self._open_fractions(state, products)
            self._sum_channels()
            self._update_calcium(state)
            self._solve_voltage(state, current)
            if record is not None:
                record[step // steps_per_bin].add_(state.voltage)

    def _update_gates(self, state: _State) -> None:
        """Exponential Euler from the table row nearest to the previous voltage."""
        scaled = torch.clamp(state.voltage, TABLE_V_MIN_MV, TABLE_V_MAX_MV, out=self.scratch)
        self.index.copy_(scaled.mul_(self.index_scale).add_(self.index_offset))
        torch.index_select(self.table, 1, self.index.view(-1), out=self.lookup)
        state.gates.mul_(self.lookup[: self.n_gates]).add_(self.lookup[self.n_gates :])

    def _gate_products(self, gates: torch.Tensor) -> list[tuple[torch.Tensor, list[torch.Tensor]]]:
        """For each voltage-gated channel: its row of `open` and its gate rows, one per power."""
        rows = gates.view(self.n_gates, _N_COMPARTMENTS, -1)
        products, k = [], 0
        for channel in cell.VOLTAGE_GATED:
            factors = []
            for _, power in channel.gates:
                factors += [rows[k]] * power
                k += 1
            products.append((self.open[_CHANNEL[channel.name]], factors))
        return products

    def _open_fractions(self, state: _State, products: list[tuple[torch.Tensor, list[torch.Tensor]]]) -> None:
        for row, factors in products:
            if len(factors) == 1:
                row.copy_(factors[0])
            else:
                torch.mul(factors[0], factors[1], out=row)
                for factor in factors[2:]:
                    row.mul_(factor)
        sk = self.open[_CHANNEL["SK"]]  # ca^4 / (ca^4 + K^4), see cell.SK_HALF_ACTIVATION_MM
        torch.mul(state.calcium, state.calcium, out=sk).mul_(sk)
        sk.div_(torch.add(sk, self.sk_half_to_hill, out=self.scratch))

    def _sum_channels(self) -> None:
        """diagonal = sum_c g_c and rhs = sum_c g_c E_c, with g_c = g_max,c * open_c."""
        torch.mul(self.open[0], self.densities[0], out=self.diagonal)
        torch.mul(self.open[0], self.driving_densities[0], out=self.rhs)
        for c in range(1, len(self.open)):
            self.diagonal.addcmul_(self.open[c], self.densities[c])
            self.rhs.addcmul_(self.open[c], self.driving_densities[c])

    def _update_calcium(self, state: _State) -> None:
        """Ca current of the old voltage and new gates; inward (negative) current raises [Ca]."""
        ca = _CHANNEL["CaHVA"]
        current = torch.sub(state.voltage, cell.REVERSAL_MV["CaHVA"], out=self.scratch)
        current.mul_(self.open[ca]).mul_(self.densities[ca])
        state.calcium.mul_(self.ca_decay).add_(current, alpha=self.ca_per_current)
        state.calcium.add_(self.ca_from_rest).clamp_(min=0.0)

    def _solve_voltage(self, state: _State, current_nA: float) -> None:
        """Backward Euler for the star: eliminate each leaf into the soma row, solve it, substitute back."""
        v, diagonal, rhs = state.voltage, self.diagonal, self.rhs
        diagonal.add_(self.diagonal_without_ions)
        rhs.add_(v, alpha=self.capacitance_per_dt)
        if current_nA:
            rhs[0].add_(current_nA * self.stimulus_per_nA)
        reciprocal = torch.reciprocal(diagonal[1:], out=self.leaf_reciprocal)
        leaf_alone = rhs[1:].mul_(reciprocal)  # each leaf's voltage were the soma at 0 mV
        soma_rhs, soma_diagonal = rhs[0], diagonal[0]
        for leaf, (to_soma, to_leaf) in enumerate(zip(self.to_soma, self.to_leaf)):
            soma_rhs.add_(leaf_alone[leaf], alpha=to_soma)
            soma_diagonal.add_(reciprocal[leaf], alpha=-to_soma * to_leaf)
        torch.div(soma_rhs, soma_diagonal, out=v[0])
        torch.addcmul(leaf_alone, reciprocal.mul_(self.leaf_from_soma), v[:1], out=v[1:])
