"""`accelbench pipeline run`: one entry point a CI job (or a person) runs the same way anywhere.

Each set is run by `accelbench run` in its own process (behind the machine's launcher: srun,
torchrun, or nothing), the suite's own benchmarks by pytest-benchmark; then everything the run
wrote is verified and stored as one import, compared set by set with the last accepted import
holding that set, and the dashboard is rewritten. The import is accepted only if every set ran
and nothing regressed, so a regression stays the thing compared against until it is fixed.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from accelbench.errors import UserError
from accelbench.history.baselines import accept, last_accepted, sets_in_batch
from accelbench.history.comparison import MetricComparison, compare_sets, regressions
from accelbench.history.dashboard import write_dashboard
from accelbench.history.importing import import_results
from accelbench.history.pipeline_config import PipelineConfig
from accelbench.history.queries import Selection, select_values, with_batch
from accelbench.history.store import Store, open_store
from accelbench.history.tables import comparison_table
from accelbench.results.files import write_outputs

LOG_TAIL_LINES = 5


@dataclass(frozen=True)
class PipelineOutcome:
    run_dir: Path
    batch_id: int | None
    failures: tuple[str, ...]  # sets or benchmarks whose command failed
    comparisons: tuple[MetricComparison, ...]
    regressions: tuple[MetricComparison, ...]
    accepted: bool
    dashboard: Path


def run_commands(config: PipelineConfig, results: Path) -> list[tuple[str, list[str]]]:
    """(what, command) for every set of the pipeline, then its benchmarks."""
    commands = []
    for workload in config.workloads:
        for scale in config.scales:
            command = [*config.launcher, sys.executable, "-m", "accelbench", "run", workload, "--device",
                       config.device, "--scale", scale, "--results-dir", str(results / "results")]
            command += ["--runs", str(config.runs)] if config.runs is not None else []
            command += ["--seed", str(config.seed)] if config.seed is not None else []
            for override in config.hyperparameters.get(workload, []):
                command += ["--hparam", override]
            commands.append((f"{workload} {scale}", command))
    if config.benchmarks.run:
        commands.append(("benchmarks", [
            sys.executable, "-m", "pytest", *config.benchmarks.paths, "--benchmark-only", "-p", "no:cacheprovider",
            f"--benchmark-json={results / 'benchmarks.json'}", f"--bench-scale={config.benchmarks.scale}",
            *config.benchmarks.pytest_args,
        ]))
    return commands


def _run_logged(what: str, command: list[str], log: Path, env: dict[str, str], say: Callable[[str], None]) -> bool:
    say(f"{what}: {shlex.join(command)}")
    started = time.perf_counter()
    try:
        with log.open("w") as handle:
            status = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env=env,
                                    check=False).returncode
    except OSError as err:
        raise UserError(f"cannot start {command[0]!r} for {what} ({err.strerror}): check the launcher") from None
    seconds = time.perf_counter() - started
    if status == 0:
        say(f"{what}: done in {seconds:.0f} s (log {log})")
        return True
    tail = log.read_text(errors="replace").strip().splitlines()[-LOG_TAIL_LINES:]
    say(f"{what}: FAILED with exit code {status} after {seconds:.0f} s (log {log}):\n  " + "\n  ".join(tail))
    return False


def compare_with_baselines(store: Store, batch_id: int, config: PipelineConfig,
                           say: Callable[[str], None]) -> list[MetricComparison]:
    found: list[MetricComparison] = []
    for key in sets_in_batch(store, batch_id):
        baseline = last_accepted(store, key, before=batch_id)
        if baseline is None:
            say(f"{key}: no accepted run to compare with; this one is its first baseline")
            continue
        chosen = Selection(system=key.system, workload=key.workload, scale=key.scale, division=key.division)
        found += compare_sets(select_values(store, with_batch(chosen, baseline)),
                              select_values(store, with_batch(chosen, batch_id)), config.gate.factor, config.gate.alpha)
        say(f"{key}: compared with import {baseline}")
    return found


def run_pipeline(config: PipelineConfig, say: Callable[[str], None]) -> PipelineOutcome:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    run_dir = config.results_dir / f"{config.name}-{stamp}"
    logs = run_dir / "logs"
    with open_store(config.db) as store:  # first: a store that cannot be reached fails before hours of runs
        logs.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **config.environment}
        failures = []
        for what, command in run_commands(config, run_dir):
            if not _run_logged(what, command, logs / f"{what.replace(' ', '_')}.log", env, say):
                failures.append(what)
        written = [path for path in (run_dir / "results", run_dir / "benchmarks.json") if path.exists()]
        if not written:
            raise UserError(f"{config.name}: no command wrote any result ({', '.join(failures)} failed): "
                            f"read the logs in {logs}")
        imported = import_results(store, written, label=f"{config.name} {stamp}")
        say(f"stored {imported.added} record(s) in {store.url} as import {imported.batch_id}")
        comparisons = compare_with_baselines(store, imported.batch_id, config, say) if imported.batch_id else []
        worse = regressions(comparisons)
        accepted = imported.batch_id is not None and not failures and not worse
        if accepted:
            accept(store, imported.batch_id)  # type: ignore[arg-type]
        verdict = ("accepted" if accepted else "NOT accepted: " + "; ".join(
            [*(f"{what} failed" for what in failures), *(f"{c.key} {c.metric} regressed {c.ratio:.3f}x" for c in worse)]))
        report = f"# {config.name} {stamp}: {verdict}\n\n" + (comparison_table(comparisons) if comparisons else "")
        write_outputs({run_dir / "comparison.md": report.encode()}, run_dir, "comparison")
        dashboard = write_dashboard(store, config.dashboard_dir, f"{config.name} {stamp}: {verdict}", comparisons)
    if comparisons:
        say(comparison_table(comparisons).rstrip())
    say(f"{config.name}: import {imported.batch_id} {verdict}; dashboard {dashboard}")
    return PipelineOutcome(run_dir, imported.batch_id, tuple(failures), tuple(comparisons), tuple(worse), accepted,
                           dashboard)
