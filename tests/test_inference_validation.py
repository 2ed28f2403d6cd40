"""`accelbench validate` on an inference submission: one real lstm_inference smoke run under MLPerf
LoadGen, packaged, is valid, and each one-defect mutation of it (INFERENCE_CASES in
tests/validation_cases.py) is reported by the check that owns that defect; and the LoadGen
log arithmetic the validator re-derives runs from (`accelbench.judging.loadgen_logs`) holds
for any latencies and any detail log."""

import json
import math
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.judging import loadgen_logs
from accelbench.judging.loadgen_logs import REPORTED_PERCENTILES, TracedSample, percentile_key
from accelbench.validation.findings import Finding, Report
from accelbench.validation.validator import validate_submission

from validation_cases import INFERENCE_CASES, INFERENCE_RUN, Tree, build_inference_submission


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """The real inference submission, built once for the module (~15 s once the data exist)."""
    return build_inference_submission(tmp_path_factory.mktemp("inference_submission"))


@pytest.fixture
def tree(pristine, tmp_path) -> Tree:
    root, key = pristine
    return Tree.copy(root, tmp_path / "submission", key)


def accelbench(*args: str) -> subprocess.CompletedProcess:
    """`accelbench ARGS...` as a user runs it, on a console wide enough that no message is folded."""
    return subprocess.run([sys.executable, "-m", "accelbench", *args], env={**os.environ, "COLUMNS": "500"},
                          capture_output=True, text=True, timeout=300, check=False)


def errors(report: Report) -> list[Finding]:
    return [f for f in report.findings if f.severity == "error"]


@pytest.mark.integration
def test_the_packaged_inference_submission_is_valid(pristine):
    report = validate_submission(pristine[0])
    assert report.findings == ()
    assert report.valid and report.exit_code == 0
    assert (report.result_sets, report.runs) == (1, 1)


@pytest.mark.integration
def test_accelbench_validate_accepts_it(pristine):
    completed = accelbench("validate", str(pristine[0]))
    assert completed.returncode == 0, completed.stdout + completed.stderr
    verdict = " ".join(completed.stdout.split())  # as one line, whatever the console's width
    assert verdict.startswith("VALID:") and "1 result set(s), 1 run(s); 0 error(s), 0 warning(s)" in verdict


@pytest.mark.integration
@pytest.mark.parametrize("case", INFERENCE_CASES, ids=[case.name for case in INFERENCE_CASES])
def test_each_inference_defect_is_found_by_its_check(case, tree):
    case.apply(tree)
    report = validate_submission(tree.root)
    assert not report.valid and report.exit_code == 1
    found = [f for f in errors(report) if f.check == case.check and case.fragment in f.message]
    assert found, [f.as_json() for f in report.findings]
    if case.alone:
        assert {f.check for f in errors(report)} == {case.check}, [f.as_json() for f in report.findings]
    assert all("\n" not in f.message for f in report.findings)


@pytest.mark.integration
def test_accelbench_verify_refuses_a_loadgen_file_changed_after_signing(tree):
    run = tree.path(INFERENCE_RUN)
    assert accelbench("verify", str(run)).returncode == 0
    next(case for case in INFERENCE_CASES if case.name == "loadgen_changed_after_signing").apply(tree)
    completed = accelbench("verify", str(run))
    assert completed.returncode != 0
    assert "mlperf_log_summary.txt does not match the sha256" in completed.stdout + completed.stderr


# --- the arithmetic, for any trace and any detail log -----------------------------------------

latency_lists = st.lists(st.integers(min_value=1, max_value=10**12), min_size=1, max_size=300)


def _percentiles_hold(recomputed: loadgen_logs.Recomputed, judged: list[int], percentile: float) -> None:
    ordered = sorted(judged)
    n = len(ordered)
    assert recomputed.latency_ns == ordered[math.floor(n * percentile)]
    for p in REPORTED_PERCENTILES:
        assert recomputed.latencies_ns[percentile_key(p)] == ordered[math.floor(n * p)]
    assert recomputed.latencies_ns["min"] == ordered[0] and recomputed.latencies_ns["max"] == ordered[-1]
    assert recomputed.latencies_ns["mean"] == sum(ordered) // n


@given(latency_lists)
def test_single_stream_recomputes_loadgens_percentiles_and_rate(latencies):
    """One sample per query, issued when the last completed: LoadGen's SingleStream."""
    samples, issued = [], 0
    for query, latency in enumerate(latencies):
        samples.append(TracedSample(query=query, index=query % 7, issued_ns=issued, latency_ns=latency))
        issued += latency
    recomputed = loadgen_logs.recompute("SingleStream", 0.9, samples)
    _percentiles_hold(recomputed, latencies, 0.9)
    assert (recomputed.queries, recomputed.samples) == (len(latencies), len(latencies))
    assert recomputed.samples_per_s == pytest.approx(len(latencies) / (sum(latencies) / 1e9), rel=1e-12)
    assert recomputed.duration_s == pytest.approx(sum(latencies) / 1e9, rel=1e-12)


@given(latency_lists)
def test_offline_recomputes_loadgens_percentiles_and_rate(latencies):
    """One query of every sample, all issued at once: throughput is samples / the longest latency."""
    samples = [TracedSample(query=0, index=i, issued_ns=0, latency_ns=latency) for i, latency in enumerate(latencies)]
    recomputed = loadgen_logs.recompute("Offline", 0.99, samples)
    _percentiles_hold(recomputed, latencies, 0.99)
    assert (recomputed.queries, recomputed.samples) == (1, len(latencies))
    assert recomputed.samples_per_s == pytest.approx(len(latencies) / (max(latencies) / 1e9), rel=1e-12)


@given(st.lists(st.lists(st.integers(min_value=1, max_value=10**12), min_size=8, max_size=8), min_size=1,
                max_size=60))
def test_multi_stream_judges_each_query_by_its_slowest_sample(queries):
    samples = [TracedSample(query=q, index=i, issued_ns=q * 10**13, latency_ns=latency)
               for q, latencies in enumerate(queries) for i, latency in enumerate(latencies)]
    recomputed = loadgen_logs.recompute("MultiStream", 0.99, samples)
    _percentiles_hold(recomputed, [max(latencies) for latencies in queries], 0.99)
    assert (recomputed.queries, recomputed.samples) == (len(queries), 8 * len(queries))


json_values = st.one_of(st.none(), st.booleans(), st.integers(min_value=-2**53, max_value=2**53),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
other_lines = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40).filter(
    lambda line: not line.startswith(loadgen_logs.DETAIL_PREFIX))  # one line each, none an entry


@given(st.lists(st.tuples(st.text(max_size=30), json_values), min_size=1, max_size=30),
       st.lists(other_lines, max_size=10))
def test_parse_detail_reads_back_every_key_it_was_given(entries, noise):
    """Random key/values written as LoadGen writes them (`:::MLLOG {json}`, between other lines):
    each key reads back its value, the last one where a key is logged twice."""
    lines = []
    for i, (key, value) in enumerate(entries):
        lines.extend(noise[i::len(entries)])
        lines.append(loadgen_logs.DETAIL_PREFIX + json.dumps(
            {"key": key, "value": value, "time_ms": 0.02, "namespace": "mlperf::logging",
             "event_type": "POINT_IN_TIME", "metadata": {"is_error": False}}))
    assert loadgen_logs.parse_detail("\n".join(lines) + "\n") == dict(entries)
