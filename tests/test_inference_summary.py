"""`accelbench summarize` on inference sets: the reduction by hand, the tables and figures, and
reading only verified submission trees, end to end on a real LoadGen smoke run."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
from pathlib import Path

import pytest
from test_summarize import scored_set

from accelbench.errors import UserError
from accelbench.judging.loadgen_logs import TracedSample, judged_latencies_ns, recompute
from accelbench.report.inference_plots import latency_batch_figure, latency_cdf_figure
from accelbench.report.inference_summary import (
    AccuracyGate,
    InferenceRunSummary,
    InferenceSetSummary,
    ScenarioResult,
    ScenarioRow,
    cdf_points,
    scenario_rows,
)
from accelbench.report.summarize import SubmissionInfo, Summary, load_summary, traced_latencies_ns
from accelbench.report.summary_html import render_html
from accelbench.report.summary_plots import report_images
from accelbench.report.summary_tables import (
    INFERENCE_CSV_COLUMNS,
    INFERENCE_HEADER,
    markdown_table,
    render_inference_csv,
    render_markdown,
)
from accelbench.results.models import SignedInferenceRunResult
from accelbench.submission.packaging import package
from accelbench.submission.systems import describe_this_machine
from accelbench.trust.keys import load_key

from conftest import run_command

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_METER = "no power meter on this host"
SMOKE = "results/cpu/lstm_inference/smoke"

# --- hand-built sets, for the arithmetic ---------------------------------------------------------


def result(scenario: str = "SingleStream", *, latency_ms: float = 10.0, samples_per_s: float = 100.0,
           valid: bool = True, reasons: tuple[str, ...] = (), queries: int = 64,
           joules_per_query: float | None = None) -> ScenarioResult:
    latency_ns = int(latency_ms * 1e6)
    return ScenarioResult(
        scenario=scenario, valid=valid, invalid_reasons=reasons,
        samples_per_s=samples_per_s, latency_percentile=0.9 if scenario == "SingleStream" else 0.99,
        latency_ns=latency_ns, p50_ns=latency_ns // 2, p99_ns=latency_ns * 2, queries=queries,
        joules_per_query=joules_per_query, energy_note="rapl" if joules_per_query is not None else NO_METER,
        trace_latencies_ns=(latency_ns // 2, latency_ns, latency_ns * 2),
    )


def inference_run(index: int, *scenarios: ScenarioResult, achieved: float = 0.556, passed: bool = True
                  ) -> InferenceRunSummary:
    return InferenceRunSummary(f"run_{index}.json", AccuracyGate("r2", achieved, 0.5507, passed), scenarios)


def inference_set(*runs: InferenceRunSummary, batch_size: int = 256, submitter: str = "Acme HPC",
                  system: str = "a100", workload: str = "lstm_inference", scale: str = "small"
                  ) -> InferenceSetSummary:
    return InferenceSetSummary(
        submitter=submitter, division="closed", system=system, platform="a100", device="NVIDIA A100-SXM4-40GB",
        world_size=1, workload=workload, scale=scale, batch_size=batch_size, precision="bf16", runs=runs,
    )


SUBMISSION = SubmissionInfo("subs/acme", "Acme HPC", "closed", "v1", "2024-05-01T12:00:00+00:00", "00112233aabbccdd")


def summary_of(*sets: InferenceSetSummary) -> Summary:
    return Summary((SUBMISSION,), (), sets)


def traced(query: int, latency_ns: int) -> TracedSample:
    return TracedSample(query=query, index=query, issued_ns=query * 1000, latency_ns=latency_ns)


# --- the arithmetic ------------------------------------------------------------------------------


def test_multistream_latency_is_a_querys_slowest_sample_as_loadgen_judges_it() -> None:
    samples = [traced(0, 5), traced(0, 9), traced(1, 3), traced(1, 4), traced(2, 7), traced(2, 1)]
    assert judged_latencies_ns("MultiStream", samples) == (4, 7, 9)
    assert judged_latencies_ns("Offline", samples) == (1, 3, 4, 5, 7, 9)
    for scenario in ("MultiStream", "SingleStream"):  # the percentile LoadGen reports sits on the same list
        judged = judged_latencies_ns(scenario, samples)
        assert recompute(scenario, 0.5, samples).latency_ns == judged[int(len(judged) * 0.5)]


def test_cdf_rises_from_zero_to_one_and_is_thinned_keeping_the_slowest() -> None:
    assert cdf_points([1_000_000, 2_000_000, 4_000_000]) == ([1.0, 1.0, 2.0, 4.0], [0.0, 1 / 3, 2 / 3, 1.0])
    latencies, fractions = cdf_points(list(range(1, 10_001)), max_points=100)
    assert len(latencies) <= 102
    assert (latencies[-1], fractions[-1]) == (10_000 / 1e6, 1.0)
    assert fractions[0] == 0.0 and fractions == sorted(fractions)
    assert cdf_points([]) == ([], [])


def test_a_row_is_the_median_over_runs_and_sums_their_queries() -> None:
    s = inference_set(
        inference_run(1, result(latency_ms=10.0, samples_per_s=100.0, joules_per_query=2.0)),
        inference_run(2, result(latency_ms=30.0, samples_per_s=90.0, joules_per_query=4.0)),
        inference_run(3, result(latency_ms=12.0, samples_per_s=80.0, joules_per_query=3.0), achieved=0.6),
    )
    (row,) = scenario_rows([s])
    assert (row.latency_ms, row.p50_ms, row.p99_ms) == (12.0, 6.0, 24.0)
    assert row.samples_per_s == 90.0
    assert row.queries == 3 * 64
    assert row.energy_per_query.joules == 3.0 and row.energy_per_query.note == "rapl"
    assert s.accuracy == AccuracyGate("r2", 0.556, 0.5507, True)  # median of 0.556, 0.556, 0.6
    assert len(row.latencies_ns) == 9 and list(row.latencies_ns) == sorted(row.latencies_ns)
    assert row.valid and row.percentile_name == "p90"


def test_energy_per_query_is_not_taken_over_fewer_runs_than_the_latency() -> None:
    s = inference_set(inference_run(1, result(joules_per_query=2.0)), inference_run(2, result()))
    energy = ScenarioRow(s, "SingleStream").energy_per_query
    assert energy.joules is None and energy.note == f"not measured: {NO_METER}"


def test_a_failed_accuracy_gate_or_loadgen_verdict_makes_the_row_invalid() -> None:
    gate_failed = inference_set(inference_run(1, result(), achieved=0.4, passed=False),
                                inference_run(2, result()))
    assert ScenarioRow(gate_failed, "SingleStream").invalid_reasons == ("accuracy gate failed in 1 of 2 runs",)
    loadgen = inference_set(inference_run(1, result(valid=False, reasons=("min queries not met",)),
                                          result("Offline", valid=False)))
    assert ScenarioRow(loadgen, "SingleStream").invalid_reasons == ("min queries not met",)
    assert ScenarioRow(loadgen, "Offline").invalid_reasons == ("LoadGen found the run INVALID",)


def test_batch_latency_is_the_percentile_or_offlines_time_per_batch() -> None:
    s = inference_set(inference_run(1, result(latency_ms=7.0), result("Offline", samples_per_s=512.0),
                                    result("Server", latency_ms=50.0)), batch_size=64)
    rows = {row.scenario: row for row in scenario_rows([s])}
    assert rows["SingleStream"].batch_latency_ms == 7.0
    assert rows["Offline"].batch_latency_ms == 1000.0 * 64 / 512.0  # 125 ms per batch of 64
    assert rows["Server"].batch_latency_ms is None


def test_rows_put_one_workload_scale_and_scenario_side_by_side() -> None:
    first = inference_set(inference_run(1, result("Offline"), result()), submitter="A")
    second = inference_set(inference_run(1, result(), result("Offline")), submitter="B", scale="smoke")
    third = inference_set(inference_run(1, result()), submitter="C")
    order = [(row.set.submitter, row.scenario) for row in scenario_rows([first, second, third])]
    assert order == [("B", "SingleStream"), ("B", "Offline"), ("A", "SingleStream"), ("C", "SingleStream"),
                     ("A", "Offline")]


# --- tables, figures and the page ----------------------------------------------------------------


def _cells(line: str) -> list[str]:
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line)[1:-1]]


def test_markdown_has_one_row_per_set_and_scenario_with_its_numbers() -> None:
    s = inference_set(inference_run(1, result(latency_ms=1.234, joules_per_query=0.0421),
                                    result("Offline", latency_ms=2500.0, samples_per_s=20_480.0, queries=1)),
                      submitter="Pipe | Corp")
    failed = inference_set(inference_run(1, result(latency_ms=250.0), achieved=0.41, passed=False), batch_size=64)
    lines = markdown_table(summary_of(s, failed)).splitlines()
    assert lines[0] == "| " + " | ".join(INFERENCE_HEADER) + " |"
    assert len(lines) == 2 + 3
    single = dict(zip(INFERENCE_HEADER, _cells(lines[2])))
    assert (single["submitter"], single["batch size"], single["precision"]) == ("Pipe | Corp", "256", "bf16")
    assert (single["scenario"], single["result"], single["samples/s"]) == ("SingleStream", "VALID", "100")
    assert (single["latency at the percentile"], single["p50"], single["p99"]) == ("1.23 ms (p90)", "0.617 ms",
                                                                                   "2.47 ms")
    assert single["energy per query"] == "0.0421 J (rapl)"
    assert single["accuracy"] == "r2 0.556 vs gate 0.5507: passed"
    invalid = dict(zip(INFERENCE_HEADER, _cells(lines[3])))
    assert invalid["result"] == "INVALID: accuracy gate failed in 1 of 1 runs"
    assert invalid["accuracy"] == "r2 0.41 vs gate 0.5507: FAILED"
    offline = dict(zip(INFERENCE_HEADER, _cells(lines[4])))
    assert (offline["latency at the percentile"], offline["samples/s"]) == ("2,500 ms (p99)", "20,480")
    assert offline["energy per query"] == f"not measured: {NO_METER}"


def test_inference_csv_round_trips_every_number() -> None:
    s = inference_set(inference_run(1, result(latency_ms=1.2345678, samples_per_s=812.123456789,
                                              joules_per_query=0.0123456789)),
                      inference_run(2, result(latency_ms=1.5, samples_per_s=799.5, joules_per_query=0.02)))
    rows = list(csv.DictReader(io.StringIO(render_inference_csv(summary_of(s)))))
    assert tuple(rows[0]) == INFERENCE_CSV_COLUMNS
    (row,) = rows
    expected = ScenarioRow(s, "SingleStream")
    assert float(row["latency_ms_median"]) == expected.latency_ms
    assert float(row["samples_per_s_median"]) == expected.samples_per_s
    assert float(row["joules_per_query_median"]) == expected.energy_per_query.joules
    assert (row["runs"], row["queries"], row["valid"], row["batch_size"]) == ("2", "128", "true", "256")
    assert (float(row["accuracy_achieved_median"]), row["accuracy_passed"]) == (0.556, "true")


def test_latency_against_batch_size_joins_each_systems_points_in_batch_order() -> None:
    sets = [inference_set(inference_run(1, result(latency_ms=ms), result("Offline", samples_per_s=qps)),
                          batch_size=batch, system=system)
            for batch, ms, qps, system in ((256, 9.0, 5120.0, "a100"), (64, 4.0, 3200.0, "a100"),
                                           (64, 6.0, 1600.0, "ipu"))]
    ax = latency_batch_figure(scenario_rows(sets)).axes[0]
    joined = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in ax.lines
              if not line.get_label().startswith("_")}
    assert joined["Acme HPC · a100: SingleStream p90"] == ([64, 256], [4.0, 9.0])
    assert joined["Acme HPC · a100: Offline one batch at its throughput, 1000 × batch / samples/s"] == (
        [64, 256], [20.0, 50.0])
    assert joined["Acme HPC · ipu: SingleStream p90"] == ([64], [6.0])
    assert ax.get_xscale() == "log"


def test_latency_cdf_has_one_line_per_set_on_a_log_axis_when_it_spans_decades() -> None:
    fast = inference_set(inference_run(1, result(latency_ms=1.0)))
    slow = inference_set(inference_run(1, result(latency_ms=80.0)), batch_size=64)
    ax = latency_cdf_figure(scenario_rows([fast, slow])).axes[0]
    steps = [line for line in ax.lines if line.get_drawstyle() == "steps-post"]
    assert len(steps) == 2 and ax.get_xscale() == "log"
    assert list(steps[0].get_ydata()) == [0.0, 1 / 3, 2 / 3, 1.0]
    assert ax.get_ylabel() == "fraction of queries"


def test_an_inference_only_page_has_its_table_and_figures_and_no_training_sections() -> None:
    summary = summary_of(inference_set(inference_run(1, result(), result("Offline"))))
    images = report_images(summary)
    assert [image.file for image in images.all] == [
        "latency_cdf_lstm_inference_small_SingleStream.png", "latency_cdf_lstm_inference_small_Offline.png",
        "latency_vs_batch_size_lstm_inference_small.png",
    ]
    markdown = render_markdown(summary, images)
    assert "## Time to train" not in markdown and "## Inference" in markdown
    assert all(f"]({image.file})" in markdown for image in images.all)
    page = render_html(summary, images)
    assert "<h2>Time to train</h2>" not in page
    assert page.count('src="data:image/png;base64,') == 3


def test_training_and_inference_tables_stand_side_by_side_and_training_is_unchanged() -> None:
    training = scored_set([50.0, 60.0, 70.0])
    alone = markdown_table(Summary((SUBMISSION,), (training,)))
    both = markdown_table(Summary((SUBMISSION,), (training,), (inference_set(inference_run(1, result())),)))
    assert both.startswith(alone + "\n| " + " | ".join(INFERENCE_HEADER) + " |")
    assert len(both.splitlines()) == len(alone.splitlines()) + 1 + 3


# --- a submission tree from a real run -----------------------------------------------------------


@pytest.fixture(scope="module")
def inference_submissions(tmp_path_factory) -> tuple[Path, Path, Path]:
    """One real lstm_inference smoke run, packaged into two submissions (two submitters):
    (first tree, second tree, the run's results directory). Its Offline run is sized for 50
    samples/s, so it lasts seconds even on a slow host (faster ones may find it INVALID)."""
    root = tmp_path_factory.mktemp("inference")
    env = {**os.environ, "ACCELBENCH_CONFIG_DIR": str(root / "config"),
           "ACCELBENCH_DATA_DIR": os.environ.get("ACCELBENCH_DATA_DIR", str(root / "data"))}
    key = root / "signing.pem"
    keygen = run_command(["accelbench", "keygen", "--key", str(key)], env, root)
    assert keygen.returncode == 0, keygen.stderr
    made = run_command(["accelbench", "run", "lstm_inference", "--scale", "smoke", "--runs", "1", "--seed", "7",
                        "--hparam", "offline_expected_qps=50", "--results-dir", str(root / "results"),
                        "--key", str(key)], env, root)
    results = root / "results" / "cpu" / "lstm_inference" / "smoke"
    assert (results / "run_1.json").is_file(), made.stdout + made.stderr
    trees = []
    for name, submitter in (("acme", "Acme Inference"), ("other", "Other Lab")):
        system = root / f"{name}-system.json"
        system.write_text(describe_this_machine(submitter).model_dump_json())
        package([results], [system], root / name, load_key(key))
        trees.append(root / name)
    return trees[0], trees[1], results


@pytest.mark.integration
def test_summarize_shows_the_real_runs_scenarios_and_draws_their_traces(
    inference_submissions: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    first, second, results = inference_submissions
    run = json.loads((results / "run_1.json").read_text())["inference"]
    out = tmp_path / "out"
    made = run_command(["accelbench", "summarize", str(first), str(second), "--out", str(out)], None, tmp_path)
    assert made.returncode == 0, made.stderr
    assert sorted(path.name for path in out.iterdir()) == [
        "latency_cdf_lstm_inference_smoke_Offline.png", "latency_cdf_lstm_inference_smoke_SingleStream.png",
        "latency_vs_batch_size_lstm_inference_smoke.png", "summary.html", "summary.md", "summary_inference.csv",
    ]
    assert all(path.stat().st_size > 1000 and path.read_bytes().startswith(PNG_SIGNATURE)
               for path in out.glob("*.png"))
    lines = [line for line in made.stdout.splitlines() if line.startswith(("| Acme", "| Other"))]
    assert [_cells(line)[0] + " " + _cells(line)[7] for line in lines] == [
        "Acme Inference SingleStream", "Other Lab SingleStream", "Acme Inference Offline", "Other Lab Offline"]
    for line in lines:
        cells = dict(zip(INFERENCE_HEADER, _cells(line)))
        recorded = next(s for s in run["scenarios"] if s["scenario"] == cells["scenario"])
        percentile = f"p{recorded['latency_percentile'] * 100:g}"
        assert cells["latency at the percentile"].endswith(f" ms ({percentile})")
        assert (cells["batch size"], cells["precision"], cells["queries"]) == ("256", "fp32", f"{recorded['queries']:,}")
        valid = recorded["valid"] and run["accuracy"]["passed"]
        assert cells["result"] == "VALID" if valid else cells["result"].startswith("INVALID: ")
        assert cells["accuracy"].startswith(f"r2 {run['accuracy']['achieved']:.4g} vs gate ")
    rows = list(csv.DictReader((out / "summary_inference.csv").open()))
    for row in rows:
        recorded = next(s for s in run["scenarios"] if s["scenario"] == row["scenario"])
        assert float(row["samples_per_s_median"]) == recorded["samples_per_s"]
        assert float(row["latency_ms_median"]) == recorded["latency_ns"] / 1e6
    markdown = (out / "summary.md").read_text()
    assert "![Latency against batch size: lstm_inference smoke](latency_vs_batch_size_lstm_inference_smoke.png)" \
        in markdown
    assert (out / "summary.html").read_text().count('src="data:image/png;base64,') == 3

    summary = load_summary([first])
    for row in summary.inference_rows:  # the trace, reduced, puts LoadGen's percentile where it reported it
        judged = row.latencies_ns
        assert judged[math.floor(len(judged) * row.latency_percentile)] == row.results[0].latency_ns


@pytest.mark.integration
def test_a_tampered_trace_is_refused_in_one_line(inference_submissions: tuple[Path, Path, Path],
                                                 tmp_path: Path) -> None:
    tree = shutil.copytree(inference_submissions[0], tmp_path / "tree")
    run_file = tree / SMOKE / "run_1.json"
    trace = tree / SMOKE / "run_1.loadgen" / "SingleStream" / "mlperf_log_trace.json"
    verified = SignedInferenceRunResult.model_validate_json(run_file.read_bytes())
    with trace.open("a") as handle:
        handle.write("\n")
    with pytest.raises(UserError) as err:
        load_summary([inference_submissions[1], tree])
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{run_file} does not verify, so it is not summarized: run `accelbench validate`")
    assert "mlperf_log_trace.json does not match the sha256" in message
    with pytest.raises(UserError, match=r"mlperf_log_trace\.json does not verify.*no longer matches"):
        traced_latencies_ns(run_file, verified)  # a trace changed after its run file verified
