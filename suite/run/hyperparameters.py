"""Which hyperparameters a run uses: the rules' reference values at the scale, then the
submission's own choices (its module's HYPERPARAMETERS), then the user's `--hparam NAME=VALUE`
(e.g. the learning-rate scan of a weak-scaling study); the result must stay inside the
division's allowed set, or the run does not start.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from accelbench.errors import UserError
from accelbench.rules.schema import BenchmarkRules, Division, HyperparameterValue, Scale

_TRUE, _FALSE = ("true", "yes", "1"), ("false", "no", "0")


def parse_assignment(text: str, reference: Mapping[str, HyperparameterValue]) -> tuple[str, HyperparameterValue]:
    """'learning_rate=0.002' -> ('learning_rate', 0.002), typed like the reference value."""
    name, sep, raw = text.partition("=")
    name, raw = name.strip(), raw.strip()
    if not sep or not name or not raw:
        raise UserError(f"--hparam {text!r}: write NAME=VALUE, e.g. --hparam learning_rate=0.002")
    if name not in reference:
        raise UserError(
            f"--hparam {text!r}: unknown hyperparameter '{name}'; known: {', '.join(sorted(reference))}"
        )
    like = reference[name]
    try:
        if isinstance(like, bool):
            if raw.lower() not in _TRUE + _FALSE:
                raise ValueError
            return name, raw.lower() in _TRUE
        if isinstance(like, int):
            return name, int(raw)
        if isinstance(like, float):
            value = float(raw)
            if not math.isfinite(value):
                raise ValueError
            return name, value
    except ValueError:
        raise UserError(
            f"--hparam {text!r}: '{name}' takes a {type(like).__name__}, e.g. {name}={like}"
        ) from None
    return name, raw


def resolve(
    rules: BenchmarkRules,
    scale: Scale,
    division: Division,
    submission: Mapping[str, HyperparameterValue],
    assignments: Iterable[str] = (),
) -> dict[str, HyperparameterValue]:
    """The run's hyperparameters, checked against the division's constraints."""
    values = {**rules.hyperparameters.for_scale(scale), **submission}
    for text in assignments:
        name, value = parse_assignment(text, values)
        values[name] = value
    problems = rules.hyperparameters.violations(division, values, scale)
    if problems:
        raise UserError(f"hyperparameters break the {division} rules: {'; '.join(problems)}")
    return values
