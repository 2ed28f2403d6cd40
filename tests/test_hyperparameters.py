"""Which hyperparameters a run uses: reference, then the submission's, then --hparam."""

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.errors import UserError
from accelbench.rules.loader import load_rules
from accelbench.run.hyperparameters import parse_assignment, resolve

RULES = load_rules("neuron_inverter")
REFERENCE = RULES.hyperparameters.for_scale("smoke")


def test_layers_apply_in_order_and_keep_types():
    values = resolve(RULES, "full", "closed", {"precision": "bf16", "learning_rate": 0.002},
                     ["learning_rate=0.004", "batch_size=512"])
    assert values["precision"] == "bf16"  # the submission's choice
    assert values["learning_rate"] == 0.004  # the user's, over the submission's
    assert values["batch_size"] == 512 and isinstance(values["batch_size"], int)
    assert values["warmup_epochs"] == 8  # the full scale's reference override


def test_a_submission_outside_the_closed_rules_does_not_start():
    with pytest.raises(UserError, match="'optimizer' = 'lamb' breaks fixed 'adamw'"):
        resolve(RULES, "smoke", "closed", {"optimizer": "lamb"})
    assert resolve(RULES, "smoke", "open", {"optimizer": "lamb"})["optimizer"] == "lamb"


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_floats_round_trip(value):
    assert parse_assignment(f"learning_rate={value!r}", REFERENCE) == ("learning_rate", value)


@given(st.integers())
def test_integers_round_trip(value):
    assert parse_assignment(f" batch_size = {value} ", REFERENCE) == ("batch_size", value)


@given(st.text())
def test_any_text_parses_or_fails_in_one_line(text):
    try:
        name, value = parse_assignment(text, REFERENCE)
    except UserError as err:
        assert "\n" not in str(err) and str(err).startswith("--hparam")
    else:
        assert name in REFERENCE and type(value) is type(REFERENCE[name])
        assert not isinstance(value, float) or math.isfinite(value)


@pytest.mark.parametrize("text", ["learning_rate=nan", "learning_rate=inf", "batch_size=1.5"])
def test_non_finite_and_mistyped_values_are_refused(text):
    with pytest.raises(UserError, match="takes a"):
        parse_assignment(text, REFERENCE)
