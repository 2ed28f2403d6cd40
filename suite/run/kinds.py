"""Which harness loop runs each kind of workload the rules name. A new kind adds its contract in
`accelbench.contracts` and its loop beside `training.py`, `inference.py` and `sampling.py`, and
one branch here."""

from __future__ import annotations

from accelbench.errors import UserError
from accelbench.judging.verdict import Mode
from accelbench.rules.schema import BenchmarkRules, Scale
from accelbench.run.inference import InferenceHarness
from accelbench.run.sampling import SamplingHarness
from accelbench.run.training import TrainingHarness

IMPLEMENTATION_MODULES = {"train_to_target": "training", "inference": "inference", "sampling": "sampling"}
"""The reference implementation's module per kind: accelbench.reference.<family>.<module>."""


def harness_for(rules: BenchmarkRules, scale: Scale, mode: Mode) -> TrainingHarness | InferenceHarness | SamplingHarness:
    """The loop for the rules' kind; one line if this suite cannot run that kind yet."""
    if rules.kind == "train_to_target":
        return TrainingHarness(rules, scale, mode)
    if rules.kind == "inference":
        return InferenceHarness(rules, scale, mode)
    if rules.kind == "sampling":
        return SamplingHarness(rules, scale, mode)
    raise UserError(
        f"{rules.workload}: its rules are of kind '{rules.kind}', which this version of the suite "
        "has no harness for; use a suite version that runs it"
    )
