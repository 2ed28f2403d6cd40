"""The validator's energy check: the rate MLPerf Power asks for, and a total that adds up."""

import pytest

from accelbench.results.models import Energy
from accelbench.validation.energy_checks import check_energy
from accelbench.validation.findings import Findings

GOOD = dict(available=True, joules=2000.0, meter="nvml", method="counter",
            per_device_j={"nvml:GPU-a": 2000.0}, average_w=200.0, peak_w=230.0, duration_s=10.0,
            sampling_hz=10.0, samples=101, trace=[(5.0, 190.0), (10.0, 210.0)])


def messages(**changes):
    findings = Findings()
    check_energy(Energy(**{**GOOD, **changes}), "run_1.json", findings)
    assert all(f.check == "run.energy" and f.path == "run_1.json" for f in findings.items)
    return [f.message for f in findings.items]


def test_a_consistent_record_passes():
    assert messages() == []
    assert messages(trace=[(10.0, 204.0)]) == []  # within 5 % of the counter's total


@pytest.mark.parametrize("changes, fragment", [
    ({"sampling_hz": 0.5}, "at least 1 Hz"),
    ({"samples": 1}, "readings at start and stop"),
    ({"per_device_j": {"nvml:GPU-a": 1500.0}}, "not the sum of energy.per_device_j"),
    ({"average_w": 150.0}, "is not energy.joules"),
    ({"trace": [(10.0, 100.0)]}, "integrates to 1000 J"),
    ({"joules": None}, "joules is missing"),
])
def test_each_inconsistency_is_named(changes, fragment):
    assert any(fragment in message for message in messages(**changes)), messages(**changes)


def test_unavailable_energy_is_null_with_a_reason():
    assert messages(available=False, joules=None, reason="no meter") == []
    assert "unavailable energy is null" in messages(available=False, joules=0.0, reason="x")[0]
    assert "without a reason" in messages(available=False, joules=None, reason=None)[0]
