"""Calibration records: what a set of reference runs says about a target, in rule-file form.

The rule file keeps, beside each target, the runs that support it (device, date, seeds,
epochs to target), so a reviewer can see whether a target was set on the hardware it claims.
"""

from __future__ import annotations

import datetime
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

from accelbench.errors import UserError
from accelbench.results.models import SignedTrainingRunResult
from accelbench.rules.schema import CalibrationRecord


def calibration_record(runs: Sequence[SignedTrainingRunResult], directory: Path, command: str = ""
                       ) -> tuple[CalibrationRecord, str]:
    """A record from the verified runs of one set (read from `directory`); non-converged runs
    count too."""
    kinds = {(r.workload, r.scale, r.system.name) for r in runs}
    if len(kinds) != 1:
        raise UserError(f"{directory}: runs mix workloads/scales/systems {sorted(kinds)}: "
                        "calibrate one set at a time")
    fixed = [r for r in runs if r.mode != "to_target"]
    if fixed:
        raise UserError(f"{directory}/run_{fixed[0].run_index}.json: a fixed-epoch (scaling) run says "
                        "nothing about epochs to the target: calibrate with runs made in --mode=to_target")
    batches = {r.global_batch_size for r in runs}
    if len(batches) != 1:
        raise UserError(f"{directory}: runs trained at different global batch sizes {sorted(batches)}: "
                        "calibrate one set at a time")
    converged = [r for r in runs if r.quality.converged]
    if not converged:
        raise UserError(f"{directory}: no run reached its target: nothing to calibrate")
    first = runs[0]
    cpu = first.environment.cpu_model
    device = first.environment.accelerators[0] if first.environment.accelerators else f"cpu: {cpu}"
    record = CalibrationRecord(
        status="calibrated",
        device=f"{device} ({first.environment.cpu_count} cores)",
        date=datetime.date.fromisoformat(first.created_at[:10]),
        runs=len(runs),
        seeds=[r.seed for r in runs],
        epochs_to_target=[r.quality.epochs if r.quality.converged else -1 for r in runs],
        mean_epochs_to_target=round(statistics.mean(r.quality.epochs for r in converged), 2),
        time_to_target_s=[round(r.timing.time_to_train_s, 1) for r in runs],
        final_metric=[round(r.quality.achieved, 5) if r.quality.achieved is not None else -1.0
                      for r in runs],
        global_batch_size=batches.pop(),
        command=command,
        notes=f"{len(converged)} of {len(runs)} runs reached {first.quality.target} "
              f"(-1 marks a run that did not); torch {first.environment.packages.get('torch', '?')}",
    )
    return record, first.scale


def record_as_toml(record: CalibrationRecord, scale: str) -> str:
    lines = [f"[calibration.{scale}]"]
    for name, value in record.model_dump(mode="json").items():
        lines.append(f"{name} = {value if name == 'date' else json.dumps(value)}")  # TOML date is bare
    return "\n".join(lines)
