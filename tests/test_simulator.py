"""The model neuron behaves like one: it rests, spikes, stays finite, every parameter shows in its traces."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from accelbench.errors import UserError
from accelbench.reference.neuron_inverter import cell
from accelbench.reference.neuron_inverter.simulator import simulate

N_PAR = len(cell.PARAMETERS)
BASE = torch.tensor([p.base_S_cm2 for p in cell.PARAMETERS], dtype=torch.float64)
HALF_RANGE = torch.tensor([p.half_range_decades for p in cell.PARAMETERS], dtype=torch.float64)


def phys_of(unit: torch.Tensor) -> torch.Tensor:
    return (BASE * 10.0 ** (unit * HALF_RANGE)).float()


def upward_crossings(trace: np.ndarray, level_mV: float = 0.0) -> int:
    return int(np.sum((trace[1:] > level_mV) & (trace[:-1] <= level_mV)))


@pytest.fixture(scope="module")
def batch():
    """One full-length (1600-bin) simulation shared by the tests below: base cell, every parameter
    at both ends of its range, and random cells with corners of the range (u = +-1) among them."""
    one_at_a_time = torch.zeros(2 * N_PAR, N_PAR, dtype=torch.float64)
    for j in range(N_PAR):
        one_at_a_time[2 * j, j], one_at_a_time[2 * j + 1, j] = -1.0, 1.0
    generator = torch.Generator().manual_seed(11)
    corners = torch.randint(0, 2, (24, N_PAR), generator=generator).double() * 2 - 1
    uniform = torch.rand(24, N_PAR, generator=generator, dtype=torch.float64) * 2 - 1
    unit = torch.cat([torch.zeros(1, N_PAR, dtype=torch.float64), one_at_a_time, corners, uniform])
    return unit, simulate(phys_of(unit)).numpy()


def test_shape_dtype_and_range(batch):
    unit, v = batch
    assert v.shape == (len(unit), 1600, len(cell.PROBE_NAMES)) and v.dtype == np.float32
    assert np.isfinite(v).all()
    assert -100.0 < v.min() and v.max() < 60.0  # between E_K-ish and E_Na-ish, as membranes are


def test_base_cell_rests_then_spikes_at_every_probe(batch):
    _, v = batch
    base = v[0]
    assert -75.0 < base[0, 0] < -65.0  # resting potential of a cortical neuron
    assert upward_crossings(base[:, 0]) >= 5  # soma overshoots 0 mV repeatedly
    for probe in range(base.shape[1]):
        assert upward_crossings(base[:, probe], -20.0) >= 5, cell.PROBE_NAMES[probe]
    quiet_bins = int(15.0 / cell.BIN_MS)  # before the stimulus starts the cell sits at rest
    assert np.ptp(base[:quiet_bins], axis=0).max() < 0.5


def test_every_parameter_changes_the_traces(batch):
    _, v = batch
    for j, name in enumerate(cell.PARAMETER_NAMES):
        for end, row in (("low", 1 + 2 * j), ("high", 2 + 2 * j)):
            difference = np.abs(v[row] - v[0]).max()
            assert difference > 1.0, f"{name} at its {end} end changes the traces by only {difference:.3f} mV"


def test_most_random_cells_spike(batch):
    _, v = batch
    random_cells = v[1 + 2 * N_PAR :]
    spiking = [upward_crossings(trace[:, 0]) > 0 for trace in random_cells]
    assert np.mean(spiking) > 0.5


def test_chunking_and_order_do_not_change_a_sample():
    unit = torch.rand(9, N_PAR, generator=torch.Generator().manual_seed(3), dtype=torch.float64) * 2 - 1
    phys = phys_of(unit)
    together = simulate(phys, time_bins=40)
    apart = torch.cat([simulate(phys[:4], time_bins=40), simulate(phys[4:], time_bins=40)])
    reversed_order = simulate(phys.flip(0), time_bins=40).flip(0)
    assert torch.equal(together, apart) and torch.equal(together, reversed_order)


def test_caller_thread_setting_is_restored():
    before = torch.get_num_threads()
    simulate(phys_of(torch.zeros(2, N_PAR, dtype=torch.float64)), time_bins=2)
    assert torch.get_num_threads() == before


def test_spike_times_converge_with_the_step():
    """Halving dt moves the first spikes by at most one bin (0.125 ms)."""
    base = phys_of(torch.zeros(1, N_PAR, dtype=torch.float64))
    bins = int(95.0 / cell.BIN_MS)  # through the first two spikes of the step

    def spike_bins(dt_ms):
        trace = simulate(base, dt_ms=dt_ms, time_bins=bins)[0, :, 0].numpy()
        return np.flatnonzero((trace[1:] > 0) & (trace[:-1] <= 0))

    coarse, fine = spike_bins(0.025), spike_bins(0.0125)
    assert len(coarse) == len(fine) >= 2
    assert np.abs(coarse - fine).max() <= 1


@pytest.mark.parametrize(
    "phys, options, complaint",
    [
        (torch.ones(3, N_PAR - 1), {}, "(N, 15)"),
        (torch.ones(N_PAR), {}, "(N, 15)"),
        (-torch.ones(2, N_PAR), {}, "positive"),
        (torch.full((2, N_PAR), float("nan")), {}, "positive"),
        (torch.ones(2, N_PAR, dtype=torch.int64), {}, "positive"),
        (torch.ones(2, N_PAR) * 1e-3, {"dt_ms": 0.05}, "dt_ms"),
        (torch.ones(2, N_PAR) * 1e-3, {"dt_ms": 0.02}, "dt_ms"),
        (torch.ones(2, N_PAR) * 1e-3, {"time_bins": 0}, "time_bins"),
    ],
)
def test_bad_input_is_one_line_user_error(phys, options, complaint):
    with pytest.raises(UserError) as error:
        simulate(phys, **options)
    message = str(error.value)
    assert "\n" not in message and "simulator.py" in message and complaint in message


def test_parameters_are_fifteen_named_conductances_over_all_compartments():
    names = cell.PARAMETER_NAMES
    assert len(names) == 15 == len(set(names))
    assert {name.split(".")[1] for name in names} == set(cell.COMPARTMENT_NAMES)
    assert all(p.base_S_cm2 > 0 and 0 < p.half_range_decades <= 1 for p in cell.PARAMETERS)
    assert [cell.stimulus_nA(t) for t in (5.0, 30.0, 100.0, 135.0, 199.9)] == pytest.approx(
        [0.0, -0.1, 0.2, 0.05, 0.6], abs=0.01
    )
