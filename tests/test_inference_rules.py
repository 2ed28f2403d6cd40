"""The inference table of the rule schema: what LoadGen needs per scale, and every way a rule
file can get it wrong, each refused in one line naming the field."""

from __future__ import annotations

import copy
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from accelbench.rules.loader import describe_validation_error, rules_path
from accelbench.rules.schema import SCENARIO_HYPERPARAMETERS, SCENARIOS, BenchmarkRules

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def lstm_data() -> dict:
    return tomllib.loads(rules_path("lstm_inference").read_text())


def refused(data: dict) -> str:
    """The one-line reason the loader gives for `data` (its ValidationError, described)."""
    with pytest.raises(ValidationError) as err:
        BenchmarkRules.model_validate(data)
    message = describe_validation_error(err.value)
    assert "\n" not in message
    return message


def test_the_rule_file_is_what_loadgen_needs():
    rules = BenchmarkRules.model_validate(lstm_data())
    assert rules.kind == "inference" and rules.inference is not None
    assert rules.inference.scenarios["smoke"] == ["SingleStream", "Offline"]
    assert rules.inference.settings["Server"].target_latency_ms["small"] == 100.0
    assert rules.inference.settings["MultiStream"].samples_per_query == 8
    for scale in ("smoke", "small"):
        reference = rules.inference.reference_quality[scale]
        assert rules.quality.target[scale] == pytest.approx(0.99 * reference, abs=1e-6)
    assert all(SCENARIO_HYPERPARAMETERS[s] in rules.hyperparameters.reference for s in SCENARIOS)


@pytest.mark.parametrize("change, field", [
    (lambda d: d["inference"]["scenarios"].__setitem__("smoke", ["Streaming"]), "inference.scenarios.smoke.0"),
    (lambda d: d["inference"]["settings"]["Server"].pop("target_latency_ms"), "settings.Server.target_latency_ms"),
    (lambda d: d["quality"]["target"].__setitem__("smoke", 0.5), "quality.target"),
    (lambda d: d.pop("inference"), "inference"),
    (lambda d: d["hyperparameters"]["reference"].pop("server_target_qps"), "hyperparameters.reference"),
    (lambda d: d["inference"]["settings"].pop("MultiStream"), "settings"),
    (lambda d: d["inference"]["eval_targets_sha256"].pop("full"), "inference.eval_targets_sha256"),
])
def test_a_broken_inference_table_is_one_line(change, field):
    data = copy.deepcopy(lstm_data())
    change(data)
    assert field in refused(data).split("'")[1]


def test_a_training_workload_may_not_carry_an_inference_table():
    data = copy.deepcopy(lstm_data())
    data["kind"] = "train_to_target"
    assert refused(data).startswith("field 'inference': an inference workload needs an [inference] table")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(SCENARIOS), min_size=1, max_size=4, unique=True))
def test_any_set_of_scenarios_with_settings_is_accepted(scenarios):
    data = copy.deepcopy(lstm_data())
    data["inference"]["scenarios"]["small"] = scenarios
    rules = BenchmarkRules.model_validate(data)
    assert rules.inference.scenarios["small"] == scenarios
