"""Undo the wrap-around of an energy counter that counts modulo a fixed range.

RAPL's energy_uj restarts from 0 after max_energy_range_uj (about 262 kJ on many Intel parts:
some twenty minutes at 200 W), so a run longer than that would lose whole ranges without this.
A decrease between two reads can only be a wrap, provided the reads are closer together than one
full range of energy, which a sampler at 1 Hz or faster guarantees by a wide margin.
"""

from __future__ import annotations


class WrappingCounter:
    """The running total of a counter whose raw value lies in [0, modulus)."""

    def __init__(self, modulus: int) -> None:
        if modulus <= 0:
            raise ValueError(f"a wrapping counter needs a positive range, not {modulus}")
        self.modulus = modulus
        self._last_raw: int | None = None
        self._total = 0

    def update(self, raw: int) -> int:
        """The unwrapped total after this raw reading (the first reading counts from itself)."""
        if not 0 <= raw < self.modulus:
            raise ValueError(f"counter value {raw} is outside its range [0, {self.modulus})")
        if self._last_raw is None:
            self._total = raw
        else:
            self._total += (raw - self._last_raw) % self.modulus
        self._last_raw = raw
        return self._total
