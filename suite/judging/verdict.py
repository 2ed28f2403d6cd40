"""The verdicts on a run, written once: does an eval meet the target and the rules' bounds, and
did the run converge. The harness decides with these while it runs, and the validator decides
again with the same functions from the numbers the result records; MLPerf's checkers drifted
from its rules because this was written twice.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from accelbench.rules.schema import Direction, QualityRules

Mode = Literal["to_target", "fixed_epochs"]
EvalKind = Literal["true", "pseudo"]


@dataclass(frozen=True)
class Evaluation:
    """One eval's numbers: the target metric (None: not finite) and the rules' bound and
    reported metrics."""

    value: float | None
    measurements: Mapping[str, float | None] = field(default_factory=dict)


def measured_names(rules: QualityRules) -> list[str]:
    """The metrics recorded beside the target at each eval: the bounds', then the reported ones."""
    names = [bound.metric for bound in rules.bounds] + list(rules.reported)
    return list(dict.fromkeys(names))


def meets_target(value: float | None, target: float, direction: Direction) -> bool:
    """True when `value` reaches `target`; a missing or non-finite value never does."""
    if value is None or not math.isfinite(value):
        return False
    return value <= target if direction == "at_most" else value >= target


def meets_bounds(rules: QualityRules, scale: str, measurements: Mapping[str, float | None]) -> bool:
    """Every extra bound of the rules holds for these measurements (a missing one never does)."""
    return all(
        meets_target(measurements.get(bound.metric), bound.value[scale], bound.direction)  # type: ignore[index]
        for bound in rules.bounds
    )


def unmet_bounds(rules: QualityRules, scale: str, measurements: Mapping[str, float | None]) -> list[str]:
    """Each bound these measurements break, in words, e.g. 'firing_rate 0.031 is not at most 0.015'."""
    broken = []
    for bound in rules.bounds:
        limit = bound.value[scale]  # type: ignore[index]
        value = measurements.get(bound.metric)
        if not meets_target(value, limit, bound.direction):
            shown = "missing" if value is None else f"{value:.4g}"
            broken.append(f"{bound.metric} {shown} is not {bound.direction.replace('_', ' ')} {limit:g}")
    return broken


def meets_quality(rules: QualityRules, scale: str, target: float, evaluation: Evaluation) -> bool:
    """One eval reaches the target and keeps every bound: the stop rule's test."""
    return meets_target(evaluation.value, target, rules.direction) and meets_bounds(
        rules, scale, evaluation.measurements
    )


def judge_run(
    rules: QualityRules,
    scale: str,
    target: float,
    mode: Mode,
    eval_kind: EvalKind,
    last_eval: Evaluation | None,
    final: Evaluation,
) -> bool:
    """Whether a run converged. To the target: its last eval during the run meets the quality
    (the run stops at the first that does), and a pseudo-validated run's true eval after the
    clock (`final`) must meet it too. In fixed-epoch mode: the quality the run ended at. For a
    true-eval run, `final` is its last eval."""
    if mode == "fixed_epochs":
        return meets_quality(rules, scale, target, final)
    if last_eval is None or not meets_quality(rules, scale, target, last_eval):
        return False
    return eval_kind == "true" or meets_quality(rules, scale, target, final)
