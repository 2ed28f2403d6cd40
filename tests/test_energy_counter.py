"""Unwrapping: a counter read modulo its range gives back the true running total."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.energy.wrapping_counter import WrappingCounter


@given(st.integers(1, 2**40).flatmap(lambda modulus: st.tuples(
    st.just(modulus),
    st.integers(0, modulus - 1),
    st.lists(st.integers(0, modulus - 1), max_size=60),
)))
def test_wrapped_readings_unwrap_to_the_true_total(case):
    modulus, start, increments = case
    counter = WrappingCounter(modulus)
    first = counter.update(start)
    true_total = start
    for step in increments:
        true_total += step
        assert counter.update(true_total % modulus) - first == true_total - start


def test_values_outside_the_range_are_refused():
    counter = WrappingCounter(1000)
    with pytest.raises(ValueError, match="outside its range"):
        counter.update(1000)
    with pytest.raises(ValueError, match="outside its range"):
        counter.update(-1)
    with pytest.raises(ValueError, match="positive range"):
        WrappingCounter(0)
