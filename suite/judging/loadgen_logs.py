"""Reading MLPerf LoadGen's logs, and the numbers of a run re-derived from them: the harness
reports a run through these functions and the validator re-checks it through the same ones.

LoadGen writes, per run, `mlperf_log_summary.txt` (its human-readable verdict),
`mlperf_log_detail.txt` (one `:::MLLOG {json}` line per setting and result),
`mlperf_log_accuracy.json` (in accuracy mode: each response's bytes by sample index) and, with
tracing on, `mlperf_log_trace.json` (a Chrome trace; one `Sample` event per sample with its
latency). The detail log does not list per-sample latencies, so percentiles and throughput are
recomputed from the trace, the way LoadGen computes them (loadgen/results.cc): latencies sorted,
the p-th percentile at index floor(count x p); Offline throughput is samples / the longest
latency; SingleStream and MultiStream report queries / summed query latency (LoadGen's "QPS
w/o loadgen overhead"); Server its completed samples per second.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

DETAIL_PREFIX = ":::MLLOG "
KEPT = {"AccuracyOnly": ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_accuracy.json"),
        "PerformanceOnly": ("mlperf_log_summary.txt", "mlperf_log_detail.txt", "mlperf_log_trace.json")}
"""The LoadGen files a run keeps, by test mode (the rest LoadGen writes empty)."""
REPORTED_PERCENTILES = (0.5, 0.9, 0.95, 0.97, 0.99, 0.999)
_SAMPLE_EVENT = re.compile(r'^\{"name":"Sample".*"ph":"b"')


class LogError(ValueError):
    """A LoadGen log that cannot be read as one; the message says what is wrong with it."""


def parse_detail(text: str) -> dict[str, object]:
    """The detail log's key -> value (the last value of a key logged twice)."""
    values: dict[str, object] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.startswith(DETAIL_PREFIX):
            continue
        try:
            entry = json.loads(line[len(DETAIL_PREFIX):])
            values[str(entry["key"])] = entry["value"]
        except (ValueError, KeyError, TypeError) as err:
            raise LogError(f"line {number} is not a LoadGen MLLOG entry ({err})") from None
    if not values:
        raise LogError("no ':::MLLOG' entries: not a LoadGen detail log")
    return values


def summary_verdict(text: str) -> str | None:
    """'VALID' or 'INVALID' from the summary's `Result is :` line; None if it has none."""
    match = re.search(r"^Result is\s*:\s*(VALID|INVALID)\s*$", text, re.MULTILINE)
    return match.group(1) if match else None


@dataclass(frozen=True)
class TracedSample:
    query: int  # LoadGen's query sequence number
    index: int  # the QSL sample index answered
    issued_ns: int  # when the sample was issued, from the test's start (trace timestamp)
    latency_ns: int  # scheduled start to completion, as LoadGen measured it


def parse_trace(text: str) -> list[TracedSample]:
    """Every sample of a performance run, from LoadGen's trace (its other events are skipped;
    LoadGen's trace is one event per line, not always valid JSON as a whole)."""
    samples = []
    for number, line in enumerate(text.splitlines(), 1):
        if not _SAMPLE_EVENT.match(line):
            continue
        try:
            event = json.loads(line.rstrip().rstrip(","))
            args = event["args"]
            samples.append(TracedSample(
                query=int(args["query_seq"]), index=int(args["sample_idx"]),
                issued_ns=round(float(event["ts"]) * 1000), latency_ns=int(args["complete_ns"]),
            ))
        except (ValueError, KeyError, TypeError) as err:
            raise LogError(f"line {number}: a Sample event without its latency ({err})") from None
    if not samples:
        raise LogError("no Sample events: not the trace of a LoadGen performance run")
    return samples


@dataclass(frozen=True)
class Recomputed:
    """A performance run's numbers, recomputed from its trace."""

    queries: int
    samples: int
    latency_ns: int  # at the scenario's percentile
    latencies_ns: dict[str, int]
    samples_per_s: float
    duration_s: float


def percentile_key(percentile: float) -> str:
    """'p90', 'p99', 'p99.9' for LoadGen's percentiles."""
    return f"p{percentile * 100:g}"


def judged_latencies_ns(scenario: str, samples: Sequence[TracedSample]) -> tuple[int, ...]:
    """The latencies LoadGen's percentiles are taken over, sorted: per query for MultiStream (a
    query is done when its slowest sample is), else per sample (a SingleStream or Server query
    holds one sample; Offline's one query holds them all)."""
    if scenario != "MultiStream":
        return tuple(sorted(sample.latency_ns for sample in samples))
    per_query: dict[int, int] = {}
    for sample in samples:
        per_query[sample.query] = max(per_query.get(sample.query, 0), sample.latency_ns)
    return tuple(sorted(per_query.values()))


def recompute(scenario: str, percentile: float, samples: Sequence[TracedSample]) -> Recomputed:
    """The run's latencies and throughput as LoadGen computes them, from its trace."""
    sample_latency = np.array(judged_latencies_ns("SingleStream", samples), dtype=np.int64)
    query_latency = np.array(judged_latencies_ns("MultiStream", samples), dtype=np.int64)
    judged = query_latency if scenario == "MultiStream" else sample_latency
    count = len(judged)
    done_ns = max(s.issued_ns + s.latency_ns for s in samples) - min(s.issued_ns for s in samples)
    if scenario == "Offline":
        samples_per_s = len(sample_latency) / (sample_latency[-1] / 1e9)
    elif scenario == "Server":
        samples_per_s = (len(sample_latency) - 1) / (done_ns / 1e9) if len(sample_latency) > 1 else 0.0
    else:
        samples_per_s = len(sample_latency) / (float(query_latency.sum()) / 1e9)
    latencies = {"min": int(judged[0]), "mean": int(judged.sum() // count), "max": int(judged[-1])}
    latencies.update({percentile_key(p): int(judged[int(count * p)]) for p in REPORTED_PERCENTILES})
    return Recomputed(
        queries=len(query_latency), samples=len(sample_latency), latency_ns=int(judged[int(count * percentile)]),
        latencies_ns=latencies, samples_per_s=float(samples_per_s), duration_s=done_ns / 1e9,
    )


def reported_latencies(detail: Mapping[str, object], scenario: str) -> dict[str, int]:
    """The latencies the detail log reports (per query for MultiStream), by our keys."""
    per_query = scenario == "MultiStream"
    reported = {}
    for name in ("min", "mean", "max"):
        reported[name] = _integer(detail, f"result_{name}_query_latency_ns" if per_query else f"result_{name}_latency_ns")
    for p in REPORTED_PERCENTILES:
        kind = "per_query_latency_ns" if per_query else "latency_ns"
        reported[percentile_key(p)] = _integer(detail, f"result_{p * 100:.2f}_percentile_{kind}")
    return reported


def _integer(detail: Mapping[str, object], key: str) -> int:
    return int(_number(detail, key))


def reported_samples_per_s(detail: Mapping[str, object], scenario: str) -> float | None:
    """The throughput the detail log reports, in samples per second (MultiStream reports none)."""
    key = {"Offline": "result_samples_per_second", "Server": "result_completed_samples_per_sec",
           "SingleStream": "result_qps_without_loadgen_overhead"}.get(scenario)
    return None if key is None else _number(detail, key)


def _number(detail: Mapping[str, object], key: str) -> float:
    value = detail.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise LogError(f"the detail log has no number '{key}'")
    return float(value)


def prediction_width(targets: np.ndarray, dataset_parameters: Mapping[str, object]) -> int:
    """Values in one sample's prediction: a regression's target width, or a classifier's class
    count (its targets are one label per sample)."""
    if targets.ndim == 2:
        return int(targets.shape[1])
    return int(dataset_parameters["classes"])  # type: ignore[call-overload]


def accuracy_outputs(text: str, samples: int, outputs: int) -> np.ndarray:
    """(samples, outputs) float32 predictions from an accuracy log whose responses are float32
    little-endian rows; every sample must be answered once, and with `outputs` values."""
    try:
        entries = json.loads(text)
    except ValueError as err:
        raise LogError(f"not JSON ({err})") from None
    if not isinstance(entries, list):
        raise LogError("not a list of responses")
    predictions = np.full((samples, outputs), np.nan, dtype=np.float32)
    seen = np.zeros(samples, dtype=bool)
    for entry in entries:
        try:
            index, data = int(entry["qsl_idx"]), bytes.fromhex(entry["data"])
        except (ValueError, KeyError, TypeError) as err:
            raise LogError(f"a response without qsl_idx and hex data ({err})") from None
        if not 0 <= index < samples:
            raise LogError(f"qsl_idx {index} is outside the eval split's {samples} samples")
        if len(data) != 4 * outputs:
            raise LogError(f"sample {index} answered with {len(data)} bytes, not {outputs} float32")
        if seen[index]:
            raise LogError(f"sample {index} is answered twice")
        predictions[index], seen[index] = np.frombuffer(data, dtype="<f4"), True
    if not seen.all():
        raise LogError(f"{int((~seen).sum())} of {samples} eval samples have no response: not a whole accuracy run")
    return predictions


def eval_targets_sha256(targets: np.ndarray) -> str:
    """The content hash the rules record for an eval split's targets (float32, little-endian)."""
    from accelbench.data.manifest import content_sha256

    return content_sha256([("targets", np.ascontiguousarray(targets, dtype="<f4"))])


def close(a: float, b: float, rel: float = 1e-3) -> bool:
    """Two throughputs or durations agree (the logs round them)."""
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)
