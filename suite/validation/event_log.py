"""The run's MLLOG event log, read back and held against the result it belongs to.

The log and the result are written by the same harness from the same run, so they must tell
the same story: one init and one run interval, one epoch_stop per epoch, the eval values of the
curve in order, the samples trained, the seed, and the run's duration. Lines are parsed as
strict JSON (never evaluated); a line that is not an event makes the log unusable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from accelbench.judging.verdict import Evaluation, meets_quality
from accelbench.results.models import TrainingRunResult
from accelbench.rules.schema import BenchmarkRules
from accelbench.run.events import FINAL_EVAL_ACCURACY
from accelbench.trust.verification import refuse_constant, refuse_duplicates
from accelbench.validation.files import MAX_JSON_DEPTH, json_depth
from accelbench.validation.findings import Findings, shown

MLLOG_PREFIX = ":::MLLOG "
EVENT_TYPES = ("INTERVAL_START", "INTERVAL_END", "POINT_IN_TIME")
MAX_EVENTS = 100_000  # a full-scale run of 151 epochs logs about 1,000

# time_ms is time.time() truncated to the millisecond (up to 1 ms lost at each end); the harness
# reads perf_counter just after writing run_start and just before writing run_stop, so a
# scheduler delay between the two reads (tens of ms on a loaded host) separates them; and NTP
# may slew the wall clock by up to 500 ppm. 50 ms + 0.1 % covers all three, and is far below
# any change to a duration that would move a score.
TIME_TOLERANCE_S = 0.05
TIME_TOLERANCE_RELATIVE = 1e-3


@dataclass(frozen=True)
class Event:
    line: int
    time_ms: int
    event_type: str
    key: str
    value: object
    metadata: dict


def _event(number: int, line: str) -> Event | str:
    """The event on one line, or why it is not one."""
    if not line.startswith(MLLOG_PREFIX):
        return f"line {number} is not an MLLOG event (it must start with {MLLOG_PREFIX.strip()})"
    try:
        doc = json.loads(line[len(MLLOG_PREFIX):], object_pairs_hook=refuse_duplicates,
                         parse_constant=refuse_constant)
    except RecursionError:
        return f"line {number} nests too deeply"
    except ValueError as err:
        return f"line {number} is not valid JSON ({err})"
    if not isinstance(doc, dict) or json_depth(doc) > MAX_JSON_DEPTH:
        return f"line {number} is not a JSON object of an event"
    time_ms, event_type, key = doc.get("time_ms"), doc.get("event_type"), doc.get("key")
    metadata = doc.get("metadata") if doc.get("metadata") is not None else {}
    if type(time_ms) is not int or event_type not in EVENT_TYPES or not isinstance(key, str) \
            or not isinstance(metadata, dict):
        return (f"line {number}: an event needs an integer time_ms, an event_type of "
                f"{', '.join(EVENT_TYPES)}, a string key and an object metadata")
    return Event(number, time_ms, event_type, key, doc.get("value"), metadata)


def parse_events(text: str, relative: str, findings: Findings) -> list[Event] | None:
    """Every event of the log, or None (with a finding) when any line is not one."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if len(lines) > MAX_EVENTS:
        findings.error("log.parse", relative, f"has {len(lines)} lines; a run logs at most {MAX_EVENTS}")
        return None
    events, problems = [], []
    for number, line in enumerate(lines, start=1):
        parsed = _event(number, line)
        (problems if isinstance(parsed, str) else events).append(parsed)
    if problems:
        more = f" (and {len(problems) - 1} more bad lines)" if len(problems) > 1 else ""
        findings.error("log.parse", relative, problems[0] + more)
        return None
    return events


def _within_tolerance(logged_s: float, recorded_s: float) -> bool:
    return abs(logged_s - recorded_s) <= TIME_TOLERANCE_S + TIME_TOLERANCE_RELATIVE * abs(recorded_s)


class _LogCheck:
    """The comparisons of one log with one result; each failure is one finding."""

    def __init__(self, events: list[Event], result: TrainingRunResult, rules: BenchmarkRules | None, relative: str,
                 findings: Findings):
        self.events, self.result, self.rules = events, result, rules
        self.relative, self.findings = relative, findings

    def error(self, check: str, message: str) -> None:
        self.findings.error(check, self.relative, message)

    def all_of(self, key: str) -> list[Event]:
        return [e for e in self.events if e.key == key]

    def single(self, key: str) -> Event | None:
        found = self.all_of(key)
        if len(found) != 1:
            self.error("log.events", f"has {len(found)} {key} events; a run logs exactly one")
            return None
        return found[0]

    def run(self) -> None:
        init_start, init_stop = self.single("init_start"), self.single("init_stop")
        run_start, run_stop = self.single("run_start"), self.single("run_stop")
        marks = [e for e in (init_start, init_stop, run_start, run_stop) if e is not None]
        if len(marks) == 4:
            self.check_order(marks)
            timing = self.result.timing
            self.check_duration("init_stop - init_start", init_start, init_stop, "timing.init_s", timing.init_s)
            self.check_duration("run_stop - run_start", run_start, run_stop, "timing.run_s", timing.run_s)
        if run_stop is not None:
            self.check_status(run_stop)
            logged = run_stop.metadata.get("epoch_num")
            if logged != self.result.quality.epochs:
                self.error("log.epochs", f"run_stop epoch_num is {shown(logged)} but quality.epochs is "
                           f"{self.result.quality.epochs}")
        self.check_epochs()
        self.check_evals()
        self.check_seed()
        self.check_cache_clear()

    def check_order(self, marks: list[Event]) -> None:
        lines = [e.line for e in marks]
        times = [e.time_ms for e in marks]
        if lines != sorted(lines) or times != sorted(times):
            self.error("log.events", "init_start, init_stop, run_start and run_stop are out of order")

    def check_duration(self, what: str, start: Event, stop: Event, field: str, recorded_s: float) -> None:
        logged_s = (stop.time_ms - start.time_ms) / 1000
        if not _within_tolerance(logged_s, recorded_s):
            self.error("log.time",
                       f"{what} is {logged_s:.3f} s but the result's {field} is {recorded_s:.3f} s "
                       f"(tolerance {TIME_TOLERANCE_S} s + {TIME_TOLERANCE_RELATIVE:.1%})")

    def check_status(self, run_stop: Event) -> None:
        status = run_stop.metadata.get("status")
        if status not in ("success", "aborted"):
            self.error("log.status", f"run_stop status is {shown(status)}, not success or aborted")
            return
        quality = self.result.quality
        if self.result.mode != "to_target" or self.rules is None:
            return
        last = quality.curve[-1] if quality.curve else None
        target = self.rules.quality.target[self.result.scale]
        met = last is not None and meets_quality(
            self.rules.quality, self.result.scale, target, Evaluation(last.value, last.measurements))
        expected = "success" if met else "aborted"
        if status != expected:
            value = None if last is None else last.value
            self.error("log.status", f"run_stop status is {status} but the last eval ({shown(value)}) "
                       f"against the rules' target {target} and bounds says {expected}")

    def check_epochs(self) -> None:
        stops = self.all_of("epoch_stop")
        quality, throughput = self.result.quality, self.result.throughput
        if len(stops) != quality.epochs:
            self.error("log.epochs", f"has {len(stops)} epoch_stop events but quality.epochs is {quality.epochs}")
            return
        numbers = [e.metadata.get("epoch_num") for e in stops]
        if numbers != list(range(1, len(stops) + 1)):
            self.error("log.epochs", f"epoch_stop epoch_num runs {shown(numbers)}, not 1..{len(stops)}")
        samples = stops[-1].metadata.get("samples_count") if stops else 0
        if samples != throughput.train_samples:
            self.error("log.samples", f"the last epoch_stop samples_count is {shown(samples)} but "
                       f"throughput.train_samples is {throughput.train_samples}")

    def check_evals(self) -> None:
        quality = self.result.quality
        logged = [(e.metadata.get("epoch_num"), e.value, e.metadata.get("measurements", {}))
                  for e in self.all_of("eval_accuracy")]
        recorded = [(p.epoch, p.value, p.measurements) for p in quality.curve]
        if logged != recorded:
            first = next((i for i, (a, b) in enumerate(zip(logged, recorded)) if a != b),
                         min(len(logged), len(recorded)))
            self.error("log.evals", f"eval_accuracy events differ from quality.curve at eval {first + 1} "
                       f"(log has {len(logged)} evals, the curve {len(recorded)})")
        finals = self.all_of(FINAL_EVAL_ACCURACY)
        expects_final = quality.eval_kind == "pseudo" and bool(quality.curve) and quality.curve[-1].value is not None
        if not expects_final and finals:
            self.error("log.evals", f"has a {FINAL_EVAL_ACCURACY} event but the run's evals were true evals")
        elif expects_final and (len(finals) != 1 or finals[0].value != quality.achieved
                                or finals[0].metadata.get("measurements", {}) != quality.measurements):
            got = [e.value for e in finals]
            self.error("log.evals", f"{FINAL_EVAL_ACCURACY} events {shown(got)} do not match "
                       f"quality.achieved {shown(quality.achieved)}")

    def check_cache_clear(self) -> None:
        """MLPerf's cache_clear, as the result records it: whether the page cache was dropped."""
        event = self.single("cache_clear")
        recorded = self.result.cache_clear
        if event is not None and (event.value is not recorded.cleared
                                  or event.metadata.get("detail") != recorded.detail):
            self.error("log.cache_clear", f"the cache_clear event logs {shown(event.value)} "
                       f"({shown(event.metadata.get('detail'))}) but the result's cache_clear is "
                       f"{shown(recorded.cleared)} ({shown(recorded.detail)})")

    def check_seed(self) -> None:
        seed = self.single("seed")
        if seed is not None and (type(seed.value) is not int or seed.value != self.result.seed):
            self.error("log.seed", f"the seed event logs {shown(seed.value)} but the result's seed is {self.result.seed}")


def check_event_log(events: list[Event], result: TrainingRunResult, rules: BenchmarkRules | None, relative: str,
                    findings: Findings) -> None:
    """Findings for every way the log `relative` and its result (judged by `rules`, when the
    submission's rules are known) disagree."""
    _LogCheck(events, result, rules, relative, findings).run()
