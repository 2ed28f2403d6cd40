"""Rule files load into the schema; malformed ones fail with file, field and reason."""

import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accelbench.errors import UserError
from accelbench.rules.loader import available_workloads, load_rules, load_rules_file, rules_path
from accelbench.rules.schema import SCALES

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib


def reference_data() -> dict:
    return tomllib.loads(rules_path("neuron_inverter").read_text())


def write_toml(path: Path, data: dict) -> Path:
    """A tiny TOML writer for the shapes our rule files use (tables, scalars, arrays)."""
    lines: list[str] = []

    def scalar(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(value, list):
            return "[" + ", ".join(scalar(v) for v in value) + "]"
        if isinstance(value, dict):
            return "{ " + ", ".join(f'"{k}" = {scalar(v)}' for k, v in value.items()) + " }"
        if hasattr(value, "isoformat"):
            return value.isoformat()
        return repr(value)

    def table(prefix: str, data: dict) -> None:
        scalars = {k: v for k, v in data.items() if not isinstance(v, dict)}
        tables = {k: v for k, v in data.items() if isinstance(v, dict)}
        if prefix:
            lines.append(f"[{prefix}]")
        for key, value in scalars.items():
            lines.append(f'"{key}" = {scalar(value)}')
        for key, value in tables.items():
            table(f'{prefix}."{key}"' if prefix else f'"{key}"', value)

    table("", data)
    path.write_text("\n".join(lines) + "\n")
    return path


def test_every_rule_file_loads():
    assert "neuron_inverter" in available_workloads()
    for workload in available_workloads():
        rules = load_rules(workload)
        assert rules.workload == workload


def test_neuron_inverter_rules_are_consistent():
    rules = load_rules("neuron_inverter")
    assert rules.kind == "train_to_target"
    assert rules.quality.direction == "at_most"
    for scale in SCALES:
        assert rules.hyperparameters.violations("closed", rules.hyperparameters.for_scale(scale), scale) == []
    assert rules.quality.target["smoke"] < 1 / 3, "smoke target must beat predict-zero (1/3)"
    assert rules.dataset.splits["full"]["train"] == 7_500_000
    assert rules.calibration["full"].status == "uncalibrated"


SNN_VARIANTS = ("snn_bptt_dense", "snn_bptt_sparse")


def test_a_family_defaults_to_its_workload_and_its_variants_share_the_dataset():
    assert load_rules("neuron_inverter").family == "neuron_inverter"
    dense, sparse = (load_rules(w) for w in SNN_VARIANTS)
    assert dense.family == sparse.family == "snn_bptt"
    assert dense.dataset == sparse.dataset, "variants share one dataset cache, so their dataset rules must agree"
    assert dense.quality.model_copy(update={"bounds": []}) == sparse.quality.model_copy(update={"bounds": []})


def test_snn_variants_differ_in_activity_alone():
    dense, sparse = (load_rules(w) for w in SNN_VARIANTS)
    for rules in (dense, sparse):
        rate = rules.hyperparameters.reference["target_rate"]
        low, high = (bound.value["small"] for bound in rules.quality.bounds)
        assert low < rate < high, f"{rules.workload}: the regularizer's target lies inside the band"
        for scale in SCALES:
            assert rules.hyperparameters.violations("closed", rules.hyperparameters.for_scale(scale), scale) == []
    assert dense.quality.bounds[0].value["small"] > sparse.quality.bounds[1].value["small"], "bands overlap"
    differing = {k for k in dense.hyperparameters.reference if dense.hyperparameters.reference[k] != sparse.hyperparameters.reference[k]}
    assert differing == {"target_rate"}


def test_generator_parameters_grow_with_the_scale():
    rules = load_rules("snn_bptt_dense")
    small = rules.dataset.parameters_for("small")
    assert small["channels"] == 100 and small["noise_rate"] == rules.dataset.parameters["noise_rate"]
    assert rules.dataset.parameters_for("full")["channels"] == 700
    assert load_rules("neuron_inverter").dataset.parameters_for("full") == load_rules("neuron_inverter").dataset.parameters


def test_a_reference_constraint_holds_the_value_of_the_scale():
    hyper = load_rules("snn_bptt_dense").hyperparameters
    for scale in SCALES:
        assert hyper.violations("closed", hyper.for_scale(scale), scale) == []
    smoke_width = hyper.for_scale("smoke")["hidden"]
    assert hyper.violations("closed", {**hyper.for_scale("small"), "hidden": smoke_width}, "small") == [
        f"'hidden' = {smoke_width} breaks the reference value 128 at scale small"
    ]
    assert hyper.violations("closed", {**hyper.for_scale("small"), "hidden": 128.0}, "small")  # a float is not 128
    assert hyper.violations("open", {**hyper.for_scale("small"), "hidden": 7}, "small") == []


def test_round_trip_through_toml(tmp_path):
    rules = load_rules_file(write_toml(tmp_path / "r.toml", reference_data()))
    assert rules == load_rules("neuron_inverter")


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d.pop("quality"), "quality"),
        (lambda d: d["quality"].update(direction="lower"), "quality.direction"),
        (lambda d: d["quality"]["target"].pop("small"), "quality.target"),
        (lambda d: d["runs"].update(minimum={"smoke": 0, "small": 3, "full": 5}), "runs.minimum.smoke"),
        (lambda d: d.update(surprise=1), "surprise"),
        (lambda d: d["dataset"]["splits"]["smoke"].update(train="1024"), "dataset.splits.smoke.train"),
        (lambda d: d["dataset"]["sha256"]["smoke"].update(train="abc"), "dataset.sha256.smoke.train"),
        (lambda d: d["hyperparameters"]["closed"].update(batch_size={"kind": "range", "min": 9, "max": 1}),
         "hyperparameters.closed.batch_size"),
        (lambda d: d["hyperparameters"]["closed"].pop("learning_rate"), "hyperparameters"),
        (lambda d: d["calibration"]["small"].update(runs=4), "calibration.small.seeds"),
        (lambda d: d["calibration"]["full"].update(status="calibrated"), "calibration.full.status"),
    ],
)
def test_malformed_rules_name_file_and_field(tmp_path, mutate, field):
    data = reference_data()
    mutate(data)
    path = write_toml(tmp_path / "bad.toml", data)
    with pytest.raises(UserError) as err:
        load_rules_file(path)
    message = str(err.value)
    assert str(path) in message and f"'{field}" in message
    assert "\n" not in message


def test_invalid_toml_is_one_line(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("workload = \n")
    with pytest.raises(UserError, match="invalid TOML") as err:
        load_rules_file(path)
    assert "\n" not in str(err.value)


def test_unknown_workload_lists_known_ones():
    with pytest.raises(UserError, match="known workloads are .*neuron_inverter"):
        load_rules("no_such_workload")


def test_constraints_judge_values():
    hyper = load_rules("neuron_inverter").hyperparameters
    values = hyper.for_scale("small")
    assert hyper.violations("closed", {**values, "optimizer": "sgd"}, "small") == [
        "'optimizer' = 'sgd' breaks fixed 'adamw'"
    ]
    assert "learning_rate" in hyper.violations("closed", {**values, "learning_rate": 0.5}, "small")[0]
    assert hyper.violations("closed", {**values, "batch_size": True}, "small")  # a bool is not a number
    assert hyper.violations("open", {**values, "optimizer": "sgd"}, "small") == []
    assert hyper.violations("closed", {**values, "extra": 1}, "small") == ["'extra' is not an allowed hyperparameter"]


@settings(max_examples=60, deadline=None)
@given(st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=12,
))
def test_arbitrary_quality_tables_fail_cleanly(tmp_path_factory, junk):
    """Whatever sits where the quality table belongs, loading fails with one line, no crash."""
    data = reference_data()
    data["quality"] = junk
    path = write_toml(tmp_path_factory.mktemp("rules") / "fuzz.toml", data)
    with pytest.raises(UserError) as err:
        load_rules_file(path)
    assert "\n" not in str(err.value)


def test_integer_ranges_refuse_fractions():
    hyper = load_rules("neuron_inverter").hyperparameters
    values = hyper.for_scale("small")
    assert hyper.violations("closed", {**values, "batch_size": 128.5}, "small") == [
        "'batch_size' = 128.5 breaks integer range [16, 4096]"
    ]
