"""The model neuron whose conductances the benchmark infers: every biophysical constant, in one place.

A reduced cortical pyramidal cell of four compartments -- soma, axon, basal dendrite and apical
dendrite -- each axon or dendrite compartment being a lumped cylinder attached to the soma (a
star, as in two- and few-compartment reductions such as Pinsky & Rinzel 1994). Channels are
Hodgkin-Huxley type: transient Na, delayed-rectifier K, A-type K, high-voltage-activated Ca,
Ca-activated K (SK), the hyperpolarization-activated cation current Ih, and a leak. Intracellular
Ca in a thin submembrane shell decays to rest with one time constant and gates SK.

Units throughout: mV, ms, um (geometry), S/cm^2 (conductance densities, NEURON's convention for
`gbar`), uF/cm^2, nA (the injected current), mM (Ca concentration). Kinetics are for about 34 C,
the temperature of slice recordings that cortical models are usually fitted to.
The numbers are chosen to give a cell that rests near -68 mV with an input resistance near
90 MOhm, sags by about a fifth under hyperpolarization and rebounds, fires sub-millisecond spikes
that start in the axon and overshoot 0 mV, adapts, and back-propagates spikes into the dendrites;
they are of the order used in published cortical models, not fitted to one cell.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# --- morphology -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Compartment:
    """A cylinder; its membrane area carries the channels, its length and diameter the axial resistance."""

    name: str
    length_um: float
    diameter_um: float

    @property
    def area_cm2(self) -> float:
        return math.pi * self.diameter_um * self.length_um * 1e-8

    def half_axial_resistance_ohm(self) -> float:
        """Resistance from the centre to one end: R_a * (L/2) / (pi r^2)."""
        radius_cm = self.diameter_um * 0.5e-4
        return AXIAL_RESISTIVITY_OHM_CM * (self.length_um * 0.5e-4) / (math.pi * radius_cm**2)


# Lumped sizes: each dendritic cylinder stands for its tree, sized so that the soma carries a
# dendritic load of a few mS/cm^2 of axial conductance (94 nS to the basal, 47 nS to the apical
# cylinder) and the cell an input resistance near 90 MOhm; the axon is the initial segment
# (56 nS to the soma), small and Na-dense, so that spikes start there.
COMPARTMENTS = (
    Compartment("som", length_um=25.0, diameter_um=25.0),
    Compartment("axn", length_um=40.0, diameter_um=1.2),
    Compartment("den", length_um=150.0, diameter_um=3.0),
    Compartment("api", length_um=300.0, diameter_um=3.0),
)
COMPARTMENT_NAMES = tuple(c.name for c in COMPARTMENTS)
SOMA = 0  # every other compartment is attached to the soma and to nothing else
MEMBRANE_CAPACITANCE_UF_CM2 = 1.0  # the usual biological membrane value
AXIAL_RESISTIVITY_OHM_CM = 100.0  # cytoplasm, within the 70-150 ohm cm of cortical models


def axial_conductance_S(compartment: Compartment) -> float:
    """Conductance between the soma's centre and the centre of a compartment attached to it."""
    soma = COMPARTMENTS[SOMA]
    return 1.0 / (soma.half_axial_resistance_ohm() + compartment.half_axial_resistance_ohm())


# --- channel kinetics -------------------------------------------------------------------------


@dataclass(frozen=True)
class Gate:
    """A first-order gate: Boltzmann steady state and a bell-shaped time constant.

    x_inf(V) = 1 / (1 + exp(-(V - v_half) / slope))   (slope < 0 for inactivation gates)
    tau(V)   = tau_min + tau_peak / cosh((V - v_peak) / width)
    """

    v_half_mV: float
    slope_mV: float
    tau_min_ms: float
    tau_peak_ms: float
    v_peak_mV: float
    width_mV: float

    def steady_state(self, v: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid((v - self.v_half_mV) / self.slope_mV)

    def time_constant_ms(self, v: torch.Tensor) -> torch.Tensor:
        return self.tau_min_ms + self.tau_peak_ms / torch.cosh((v - self.v_peak_mV) / self.width_mV)


@dataclass(frozen=True)
class Channel:
    """Open fraction = product of gate ** power; current density = g * open * (V - reversal)."""

    name: str
    reversal_mV: float
    gates: tuple[tuple[Gate, int], ...]


NAT = Channel(  # fast spike upstroke; m fast, h inactivates within a ms at spike voltages
    "NaT", 50.0,
    ((Gate(-38.0, 7.0, 0.02, 0.12, -40.0, 15.0), 3), (Gate(-63.0, -6.5, 0.4, 1.8, -62.0, 14.0), 1)),
)
KDR = Channel(  # spike repolarization
    "Kdr", -85.0, ((Gate(-40.0, 10.0, 0.3, 2.5, -45.0, 22.0), 4),),
)
KA = Channel(  # transient K: delays the first spike after hyperpolarization, shapes back-propagation
    "KA", -85.0,
    ((Gate(-30.0, 12.0, 0.2, 0.8, -40.0, 25.0), 3), (Gate(-72.0, -7.0, 5.0, 15.0, -65.0, 15.0), 1)),
)
CAHVA = Channel(  # Ca entry during spikes, feeding SK; slow inactivation
    "CaHVA", 120.0,
    ((Gate(-18.0, 6.0, 0.2, 0.8, -20.0, 20.0), 2), (Gate(-42.0, -9.0, 40.0, 60.0, -40.0, 20.0), 1)),
)
IH = Channel(  # opens with hyperpolarization, reverses near -45 mV: sag and rebound
    "Ih", -45.0, ((Gate(-80.0, -8.0, 8.0, 30.0, -78.0, 16.0), 1),),
)
VOLTAGE_GATED = (NAT, KDR, KA, CAHVA, IH)

# SK opens instantly with Ca: open = ca^4 / (ca^4 + K^4), Hill coefficient 4 (Ca binds cooperatively
# to the channel's calmodulin), K = SK_HALF_ACTIVATION_MM; SK channels are half open near 0.3-0.6 uM.
SK_REVERSAL_MV = -85.0
SK_HALF_ACTIVATION_MM = 4.5e-4
LEAK_REVERSAL_MV = -78.0

# Channels in the order the simulator stacks their open fractions; SK is Ca-gated, the leak never closes.
CHANNEL_NAMES = ("NaT", "Kdr", "KA", "CaHVA", "Ih", "SK", "Leak")
REVERSAL_MV = {c.name: c.reversal_mV for c in VOLTAGE_GATED} | {"SK": SK_REVERSAL_MV, "Leak": LEAK_REVERSAL_MV}

# --- intracellular calcium --------------------------------------------------------------------
# d[Ca]/dt = -CA_INFLUX_MM_PER_MS_PER_UA_CM2 * I_Ca - ([Ca] - CA_REST_MM) / CA_DECAY_MS
# The influx factor converts a Ca current density into the rate of change of free [Ca] in a
# shell of 0.1 um under the membrane, of which 5 % stays free (the rest is buffered):
# 1 uA/cm^2 / (2 F * 0.1 um) = 5.18e-4 mM/ms, times 0.05.
FARADAY_C_PER_MOL = 96485.0
CA_SHELL_DEPTH_UM = 0.1
CA_FREE_FRACTION = 0.05
CA_INFLUX_MM_PER_MS_PER_UA_CM2 = CA_FREE_FRACTION * 1e-6 / (2 * FARADAY_C_PER_MOL * CA_SHELL_DEPTH_UM * 1e-4)
CA_REST_MM = 5e-5  # 50 nM free Ca at rest
CA_DECAY_MS = 80.0  # extrusion and uptake

# --- conductance densities --------------------------------------------------------------------
# Base maximal conductances, S/cm^2, per (channel, compartment); pairs not listed are absent.
# The axon has the densest Na (spikes start there); dendrites carry Ih and KA that grow with
# distance from the soma in pyramidal cells, and the apical dendrite has Ca and SK hot zones.
BASE_DENSITY_S_CM2 = {
    ("NaT", "som"): 0.10, ("NaT", "axn"): 0.40, ("NaT", "den"): 0.015, ("NaT", "api"): 0.02,
    ("Kdr", "som"): 0.05, ("Kdr", "axn"): 0.10, ("Kdr", "den"): 0.008, ("Kdr", "api"): 0.01,
    ("KA", "som"): 0.01, ("KA", "den"): 0.02, ("KA", "api"): 0.03,
    ("CaHVA", "som"): 5e-4, ("CaHVA", "api"): 1e-3,
    ("SK", "som"): 1e-3, ("SK", "api"): 2e-3,
    ("Ih", "som"): 8e-5, ("Ih", "den"): 1e-4, ("Ih", "api"): 5e-4,
    ("Leak", "som"): 1e-4, ("Leak", "axn"): 1e-4, ("Leak", "den"): 1e-4, ("Leak", "api"): 1e-4,
}


@dataclass(frozen=True)
class Parameter:
    """One varied conductance: phys = base * 10 ** (u * half_range_decades), u in [-1, 1]."""

    channel: str
    compartment: str
    half_range_decades: float

    @property
    def name(self) -> str:
        return f"g{self.channel}.{self.compartment}"

    @property
    def base_S_cm2(self) -> float:
        return BASE_DENSITY_S_CM2[(self.channel, self.compartment)]


# The 15 conductances the network must infer, spread over the four compartments. Half a decade
# (x0.32 .. x3.2) for most; spike-making Na and K get 0.3 decade (x0.5 .. x2) so that most
# cells still fire, the leak 0.3 decade (input resistance stays within the cortical range).
PARAMETERS = (
    Parameter("NaT", "som", 0.3),
    Parameter("Kdr", "som", 0.3),
    Parameter("KA", "som", 0.5),
    Parameter("CaHVA", "som", 0.5),
    Parameter("SK", "som", 0.5),
    Parameter("NaT", "axn", 0.3),
    Parameter("Kdr", "axn", 0.3),
    Parameter("KA", "den", 0.5),
    Parameter("Ih", "den", 0.5),
    Parameter("Leak", "den", 0.3),
    Parameter("NaT", "api", 0.5),
    Parameter("KA", "api", 0.5),
    Parameter("CaHVA", "api", 0.5),
    Parameter("SK", "api", 0.5),
    Parameter("Ih", "api", 0.5),
)
PARAMETER_NAMES = tuple(p.name for p in PARAMETERS)
PARAMETER_UNIT = "S/cm^2"

# --- stimulus and recording -------------------------------------------------------------------


@dataclass(frozen=True)
class StimulusSegment:
    """Current into the soma rising linearly from start_nA to end_nA over [start_ms, end_ms)."""

    start_ms: float
    end_ms: float
    start_nA: float
    end_nA: float


# One fixed protocol, 200 ms: rest; a hyperpolarizing step (Ih sag, input resistance, de-inactivates
# KA and Na); release (rebound); a step to regular, adapting firing (Ca, SK); a pause (AHP,
# Ca decay); a ramp (threshold and firing rate versus current).
STIMULUS = (
    StimulusSegment(0.0, 15.0, 0.0, 0.0),
    StimulusSegment(15.0, 55.0, -0.1, -0.1),
    StimulusSegment(55.0, 70.0, 0.0, 0.0),
    StimulusSegment(70.0, 120.0, 0.2, 0.2),
    StimulusSegment(120.0, 135.0, 0.0, 0.0),
    StimulusSegment(135.0, 200.0, 0.05, 0.6),
)
STIMULUS_DESCRIPTION = "current into the soma, nA: " + "; ".join(
    f"{s.start_ms:g}-{s.end_ms:g} ms {s.start_nA:g}"
    + ("" if s.start_nA == s.end_nA else f" to {s.end_nA:g} (ramp)")
    for s in STIMULUS
) + "; 0 after"


def stimulus_nA(t_ms: float) -> float:
    for s in STIMULUS:
        if s.start_ms <= t_ms < s.end_ms:
            return s.start_nA + (s.end_nA - s.start_nA) * (t_ms - s.start_ms) / (s.end_ms - s.start_ms)
    return 0.0


SAMPLING_RATE_HZ = 8000.0  # recorded rate: the original simulated at 40 kHz and averaged 5 samples
BIN_MS = 1000.0 / SAMPLING_RATE_HZ
PROBE_NAMES = tuple(f"V.{name}" for name in COMPARTMENT_NAMES)  # membrane voltage of each compartment
