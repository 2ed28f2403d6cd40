"""mlperf_logging's own compliance checker, run over one of our event logs with MLPerf
training's common rules (ruleset 5.0.0).

The checker is used as shipped, with one adaptation that MLPerf's own layout forces: after the
common rules it queues the rules of the named benchmark (`closed_<benchmark>.yaml`), which
exist only for MLPerf's benchmarks, so for ours the common rules are the whole check and that
file is not queued. For the same reason its test that `submission_benchmark` is one of MLPerf's
benchmark names fails by design, and is reported apart from the other findings.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from mlperf_logging.compliance_checker import mlp_compliance

RULESET = "5.0.0"
COMMON_RULES = f"training_{RULESET}/common.yaml"
OUR_BENCHMARK_NAME = "submission_benchmark"


@dataclass(frozen=True)
class Verdict:
    findings: list[str]  # every message of the checker, but the benchmark name's
    benchmark_name: str | None  # the checker's message about our benchmark's name, if any
    skipped_rules: list[str]  # benchmark rule files MLPerf has none of for ours


def check_log(path: Path) -> Verdict:
    rules_dir = Path(mlp_compliance.__file__).parent
    skipped: list[str] = []
    queue = mlp_compliance.enqueue_config

    def enqueue_existing(config: str) -> None:
        if (rules_dir / config).is_file():
            queue(config)
        else:
            skipped.append(config)

    mlp_compliance.enqueue_config = enqueue_existing
    try:
        checker = mlp_compliance.make_checker("training", RULESET, quiet=False, werror=True)
        checker.check_file(os.fspath(path), COMMON_RULES)
    finally:
        mlp_compliance.enqueue_config = queue
    messages = dict(checker.overwritable)
    name = messages.pop(OUR_BENCHMARK_NAME, None)
    return Verdict(list(messages.values()) + list(checker.not_overwritable) + list(checker.warnings.values()),
                   name, skipped)
