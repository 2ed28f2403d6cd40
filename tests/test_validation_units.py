"""The validator's parts on their own: the reference convergence statistic, the MLLOG parser and
the strict, capped JSON reader."""

import json

import pytest

from accelbench.validation.event_log import MAX_EVENTS, parse_events
from accelbench.validation.files import MAX_ENTRIES, SubmissionFiles, json_depth
from accelbench.validation.findings import Findings
from accelbench.validation.reference_convergence import ALPHA, reference_convergence

MLPERF_REFERENCE = [16, 14, 16, 17, 16, 16, 15, 16, 15, 16]  # MLPerf's "RCP Examples" appendix


def test_mlperf_worked_example():
    """MLPerf: reference mean 15.75, sd 0.43, max speedup 3.53%, min mean 15.21; S1 passes."""
    test = reference_convergence(MLPERF_REFERENCE, [15, 15, 15, 16, 16])
    assert test.reference_mean == 15.75 and test.reference_std == pytest.approx(0.433, abs=1e-3)
    assert (test.reference_n, test.submission_n) == (8, 3)
    assert test.bound == pytest.approx(15.21, abs=0.005)
    assert test.reference_mean / test.bound - 1 == pytest.approx(0.0353, abs=1e-4)
    assert test.submission_mean == pytest.approx(15.333, abs=1e-3) and not test.too_fast


@pytest.mark.parametrize("epochs", [[14, 14, 14, 15, 15], [15, 15, 15, 15, 16], [16, 16, 17, 17, 18],
                                    [15, 15, 16, 16, 16]])
def test_the_bound_is_where_the_t_test_turns_significant(epochs):
    test = reference_convergence(MLPERF_REFERENCE, epochs)
    assert test.too_fast == (test.p_value < ALPHA)
    assert f"p={test.p_value:.3g}" in test.describe() and "n=8" in test.describe()


def test_a_reference_without_spread_allows_no_speedup():
    assert reference_convergence([6, 6, 6, 6, 7], [5, 5, 6]).too_fast is True
    test = reference_convergence([6, 6, 6, 6, 7], [6, 6, 6])
    assert (test.too_fast, test.bound, test.p_value) == (False, 6.0, 1.0)


def test_non_converged_runs():
    with_failure = reference_convergence([6, -1, 6, 6, 7, 6], [6, 6, 6])
    assert with_failure == reference_convergence([6, 6, 6, 7, 6], [6, 6, 6])
    # a run that did not converge counts as the slowest and is dropped, as in the score
    assert reference_convergence([6, 6, 6, 6, 7], [None, 4, 4]).submission_mean == 4
    assert reference_convergence([6, 6, 6, 6, 7], [None, None, 4]) is None
    assert reference_convergence([6], [5]) is None  # no degree of freedom left


def mllog(key, time_ms=1, **metadata):
    return ":::MLLOG " + json.dumps({"namespace": "", "time_ms": time_ms, "event_type": "POINT_IN_TIME",
                                     "key": key, "value": None, "metadata": metadata})


def parsed(text):
    findings = Findings()
    return parse_events(text, "run_1.mllog", findings), [f.message for f in findings.items]


def test_events_parse():
    events, problems = parsed(mllog("run_start", 5) + "\n" + mllog("run_stop", 9, status="success") + "\n")
    assert problems == [] and [(e.line, e.key, e.time_ms) for e in events] == [(1, "run_start", 5), (2, "run_stop", 9)]
    assert events[1].metadata == {"status": "success"}


@pytest.mark.parametrize("line, problem", [
    ("print('hello')", "line 2 is not an MLLOG event"),
    (":::MLLOG __import__('os').system('true')", "line 2 is not valid JSON"),
    (':::MLLOG {"time_ms": NaN, "event_type": "POINT_IN_TIME", "key": "x"}', "NaN is not JSON"),
    (':::MLLOG {"time_ms": 1, "event_type": "POINT_IN_TIME", "key": "x", "key": "y"}', 'duplicate key "key"'),
    (':::MLLOG {"time_ms": "1", "event_type": "POINT_IN_TIME", "key": "x"}', "integer time_ms"),
    (':::MLLOG {"time_ms": 1, "event_type": "ELSEWHEN", "key": "x"}', "an event_type of"),
    (":::MLLOG " + "[" * 100 + "]" * 100, "not a JSON object of an event"),
    (":::MLLOG " + "[" * 100_000, "line 2 nests too deeply"),
])
def test_a_line_that_is_not_an_event_spoils_the_log(line, problem):
    events, problems = parsed(mllog("seed") + "\n" + line + "\n" + line)
    assert events is None and len(problems) == 1
    assert problem in problems[0] and "(and 1 more bad lines)" in problems[0]


def test_a_log_with_too_many_lines_is_not_parsed():
    events, problems = parsed("x\n" * (MAX_EVENTS + 1))
    assert events is None and problems == [f"has {MAX_EVENTS + 1} lines; a run logs at most {MAX_EVENTS}"]


def test_json_depth():
    assert json_depth(1) == 0 and json_depth([]) == 1 and json_depth({"a": [1, {"b": []}]}) == 4


@pytest.mark.parametrize("text, check, message", [
    ('{"a": 1e999}', "file.json", "overflows a double"),
    ('{"a": ' + "9" * 5000 + "}", "file.json", "is not valid JSON"),
    ("[1, 2]", "file.json", "holds a JSON list, not an object"),
    ('{"a": Infinity}', "file.json", "Infinity is not JSON"),
    ('{"a": ' * 65 + "1" + "}" * 65, "file.depth", "deeper than 64"),
    ('{"a": 1', "file.json", "at line 1 column 8"),
])
def test_strict_json(tmp_path, text, check, message):
    (tmp_path / "doc.json").write_text(text)
    findings = Findings()
    assert SubmissionFiles(tmp_path, findings).read_json("doc.json") is None
    assert [(f.check, f.path) for f in findings.items] == [(check, "doc.json")]
    assert message in findings.items[0].message


def test_a_file_is_read_once_and_reported_once(tmp_path):
    (tmp_path / "doc.json").write_bytes(b"\xff")
    findings = Findings()
    files = SubmissionFiles(tmp_path, findings)
    assert files.read_json("doc.json") is None and files.read_json("doc.json") is None
    assert [f.check for f in findings.items] == ["file.utf8"]


def test_a_tree_of_too_many_entries_is_not_listed_to_the_end(tmp_path):
    (tmp_path / "many").mkdir()
    for index in range(MAX_ENTRIES + 1):
        (tmp_path / "many" / f"f{index}").touch()
    findings = Findings()
    SubmissionFiles(tmp_path, findings)
    assert [(f.check, f.path) for f in findings.items] == [("file.tree", "many")]
