"""summarize's variant ratios (g16 against depthwise): pairing sets by system, the ratios, their
intervals and the figure, on hand-built sets."""

import dataclasses

import numpy as np
import pytest
from scipy import stats

from accelbench.judging.loadgen_logs import prediction_width
from accelbench.report import variant_ratios
from accelbench.report.summarize import Summary, confidence_interval
from accelbench.rules.loader import load_rules

from test_inference_summary import SUBMISSION, inference_run, inference_set, result
from test_summarize import PNG_SIGNATURE, scored_set

PAIRS = {"efficientnet_b0_g16": "efficientnet_b0", "efficientnet_b0_g16_inference": "efficientnet_b0_inference"}


def training(workload, times, system="a100"):
    return dataclasses.replace(scored_set(times), workload=workload, system=system)


def test_the_rules_pair_each_g16_workload_with_its_depthwise_one():
    assert variant_ratios.comparisons() == PAIRS
    for variant, baseline in PAIRS.items():
        ours, theirs = load_rules(variant), load_rules(baseline)
        assert (ours.family, ours.kind, ours.dataset) == (theirs.family, theirs.kind, theirs.dataset)


def test_training_ratios_are_variant_over_baseline_with_both_intervals():
    g16, b0 = training("efficientnet_b0_g16", [50.0, 60.0, 55.0, 70.0, 40.0]), \
        training("efficientnet_b0", [100.0, 120.0, 110.0, 140.0, 80.0])
    rows = variant_ratios.ratio_rows(Summary((SUBMISSION,), (g16, b0)), PAIRS)
    by_quantity = {row.quantity: row for row in rows}
    time = by_quantity["time to target [s]"]
    assert time.ratio == pytest.approx(55.0 / 110.0)  # olympic: the fastest and slowest dropped
    assert time.variant_measure.interval == pytest.approx(confidence_interval([50.0, 60.0, 55.0, 70.0, 40.0]))
    assert time.distinct is True
    assert by_quantity["training samples/s"].ratio == pytest.approx(1.0)  # the hand-built runs share a rate
    assert by_quantity["training samples/s"].distinct is False


def test_sets_of_other_systems_or_without_a_baseline_are_not_paired():
    sets = (training("efficientnet_b0_g16", [50.0, 60.0, 55.0]), training("efficientnet_b0", [100.0, 120.0, 110.0],
                                                                         system="ipu"))
    assert variant_ratios.ratio_rows(Summary((SUBMISSION,), sets), PAIRS) == ()


def test_inference_ratios_of_offline_throughput_and_single_stream_latency():
    g16 = inference_set(inference_run(1, result("SingleStream", latency_ms=4.0), result("Offline", samples_per_s=900.0)),
                        workload="efficientnet_b0_g16_inference")
    b0 = inference_set(inference_run(1, result("SingleStream", latency_ms=8.0), result("Offline", samples_per_s=300.0)),
                       workload="efficientnet_b0_inference")
    rows = {row.quantity: row for row in variant_ratios.ratio_rows(Summary((SUBMISSION,), (), (g16, b0)), PAIRS)}
    assert rows["Offline samples/s"].ratio == pytest.approx(3.0)
    assert rows["SingleStream p90 latency [ms]"].ratio == pytest.approx(0.5)
    assert rows["Offline samples/s"].variant_measure.interval is None  # one run: no interval over runs


def test_the_quantile_interval_brackets_the_quantile_at_its_stated_coverage():
    low, high = variant_ratios.quantile_interval(list(range(1, 1001)), 0.9)
    assert low < 900 < high and high - low < 60
    # the coverage of [x_(l), x_(u)] is P(l <= Binomial(n, q) < u)
    coverage = stats.binom.cdf(high - 1, 1000, 0.9) - stats.binom.cdf(low - 1, 1000, 0.9)
    assert coverage >= 0.95
    assert variant_ratios.quantile_interval([1.0, 2.0, 3.0], 0.99) is None  # too few for a 99th percentile


def test_the_markdown_table_and_the_figure():
    g16, b0 = training("efficientnet_b0_g16", [50.0, 60.0, 55.0]), training("efficientnet_b0", [100.0, 120.0, 110.0])
    rows = variant_ratios.ratio_rows(Summary((SUBMISSION,), (g16, b0)), PAIRS)
    image = variant_ratios.ratio_image(rows)
    assert image is not None and image.png.startswith(PNG_SIGNATURE)
    text = variant_ratios.render_markdown(rows, image)
    assert "## Variant ratios" in text and "efficientnet_b0_g16 / efficientnet_b0" in text
    assert "| a100 | small | time to target [s] | efficientnet_b0_g16 / efficientnet_b0 | 0.500 |" in text
    time = next(row for row in rows if row.quantity == "time to target [s]")
    assert time.variant_measure.interval is not None  # three runs: the olympic score keeps one, the interval all
    assert variant_ratios.render_markdown((), None) == ""


def test_prediction_width_is_the_target_width_or_the_class_count():
    assert prediction_width(np.zeros((5, 1), dtype=np.float32), {}) == 1
    assert prediction_width(np.zeros(5, dtype=np.float32), {"classes": 10}) == 10
