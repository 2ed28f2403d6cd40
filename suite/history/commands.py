"""The results history's commands: `store import|list`, `history`, `compare`, `pipeline run`.

Registered on the `accelbench` app by cli.py; each imports the store only when it runs, so the
rest of the command line starts without SQLAlchemy.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import List, Optional

import typer

DB_HELP = "database URL: sqlite:///PATH or postgresql://USER@HOST/DB [$ACCELBENCH_DB, else SQLite in the data dir]"
store_app = typer.Typer(no_args_is_help=True, help="The results store: an index over verified result files.")
pipeline_app = typer.Typer(no_args_is_help=True, help="Continuous benchmarking: run, store, compare, publish.")


def _say(message: str) -> None:
    print(message, flush=True)


@store_app.command("import")
def store_import(
    paths: List[Path] = typer.Argument(..., help="results directories, run_N.json or pytest-benchmark JSON files"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    label: str = typer.Option("store import", help="what this import is, e.g. nightly 2026-12-03"),
    trusted_key_id: List[str] = typer.Option([], help="accept only files signed by these keys"),
) -> None:
    """Verify every file, then store the new ones in one transaction (a file already stored is
    skipped; a file that fails verification stops the import and nothing is stored)."""
    from accelbench.history.importing import import_results
    from accelbench.history.store import open_store

    with open_store(db) as store:
        def progress(done: int, total: int) -> None:
            if done == total or done % 1000 == 0:
                _say(f"verified {done}/{total} files")

        summary = import_results(store, paths, label, trusted_key_id or None, progress)
        where = f"import {summary.batch_id}" if summary.batch_id is not None else "nothing new"
        _say(f"{store.url}: {summary.added} new record(s), {summary.already_stored} already stored ({where})")


@store_app.command("list")
def store_list(db: Optional[str] = typer.Option(None, help=DB_HELP)) -> None:
    """What the store holds: one line per system, workload, scale and division."""
    from accelbench.history.queries import stored_sets
    from accelbench.history.store import open_store
    from accelbench.history.tables import stored_table

    with open_store(db) as store:
        sets = stored_sets(store)
        if not sets:
            _say(f"{store.url} is empty: add results with `accelbench store import RESULTS_DIR`")
            return
        sys.stdout.write(stored_table(sets))


def history(
    workload: str = typer.Argument(..., help="workload id, or a benchmark's full name"),
    system: str = typer.Option("cpu", help="system name, as results name it (cpu, a100, cpu_n2, ...)"),
    scale: str = typer.Option("smoke", help="smoke, small or full"),
    division: str = typer.Option("closed", help="closed, open, or benchmark (the suite's own benchmarks)"),
    metric: str = typer.Option("time_to_train_s", help="e.g. samples_per_s, latency_p90_s.SingleStream, ess_per_s"),
    by: str = typer.Option("commit", help="commit or date"),
    out: Optional[Path] = typer.Option(None, help="write the table (.md) and the plot (.png) here"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
) -> None:
    """METRIC of WORKLOAD over suite commits (or dates): each point's runs, median and range, and
    asv-style step detection naming the commit where the level changed."""
    from accelbench.errors import UserError
    from accelbench.history.history_plots import history_image
    from accelbench.history.queries import SetKey
    from accelbench.history.series import metric_series
    from accelbench.history.steps import detect_steps
    from accelbench.history.store import open_store
    from accelbench.history.tables import history_table
    from accelbench.results.files import write_outputs

    if by not in ("commit", "date"):
        raise UserError(f"--by {by!r}: use commit or date")
    with open_store(db) as store:
        series = metric_series(store, SetKey(system, workload, scale, division), metric, by)  # type: ignore[arg-type]
    steps = detect_steps([point.median for point in series.points])
    table = history_table(series, steps)
    sys.stdout.write(table)
    if out is not None:
        image = history_image(series, steps)
        written = write_outputs({out / image.file: image.png, out / image.file.replace(".png", ".md"):
                                 table.encode()}, out, "history")
        _say("wrote " + ", ".join(str(path) for path in written))


def compare(
    base: str = typer.Argument(..., help="a results path, a commit, or a store selection like commit=3f2a9c1,scale=smoke"),
    new: str = typer.Argument(..., help="the same, for the new side"),
    factor: float = typer.Option(1.10, help="a regression is worse than this ratio (1.10: 10 %)"),
    alpha: float = typer.Option(0.05, help="significance level of the rank test (or 1 - the CI's level)"),
    as_json: bool = typer.Option(False, "--json", help="print the comparison as JSON"),
    db: Optional[str] = typer.Option(None, help=DB_HELP),
    trusted_key_id: List[str] = typer.Option([], help="accept only files signed by these keys"),
) -> None:
    """Per set and metric, NEW / BASE with a bootstrap CI and a Mann-Whitney U test over the runs;
    exit 1 if any metric regressed significantly beyond --factor, so a pipeline can gate on it."""
    from accelbench.history.comparison import compare_sets, regressions
    from accelbench.history.sides import resolve_side
    from accelbench.history.store import open_store
    from accelbench.history.tables import comparison_table

    opened = []

    def store():
        if not opened:
            opened.append(open_store(db))
        return opened[0]

    try:
        comparisons = compare_sets(resolve_side("BASE", base, store, trusted_key_id or None),
                                   resolve_side("NEW", new, store, trusted_key_id or None), factor, alpha)
    finally:
        for each in opened:
            each.close()
    if as_json:
        sys.stdout.write(json.dumps([{**vars(c), "key": str(c.key)} for c in comparisons], indent=2) + "\n")
    else:
        sys.stdout.write(comparison_table(comparisons))
    worse = regressions(comparisons)
    if worse:
        _say(f"{len(worse)} significant regression(s): " + ", ".join(f"{c.key} {c.metric} {c.ratio:.3f}x"
                                                                     for c in worse))
        raise typer.Exit(1)


@pipeline_app.command("run")
def pipeline_run(
    pipeline: Path = typer.Argument(..., help="the run's PIPELINE.toml"),
    machine: Optional[Path] = typer.Option(None, help="the machine's layer [machine.toml in the config dir]"),
    db: Optional[str] = typer.Option(None, help=DB_HELP + "; overrides the files' db"),
) -> None:
    """Run the pipeline: the suite defaults, then the machine's file, then PIPELINE; run its
    workloads and benchmarks, store the results, compare them with the last accepted ones, write
    the HTML dashboard; exit 1 on a significant regression (the import is then not accepted)."""
    from accelbench.history.pipeline import run_pipeline
    from accelbench.history.pipeline_config import load_pipeline

    outcome = run_pipeline(load_pipeline(pipeline, machine, db), _say)
    if not outcome.accepted:
        raise typer.Exit(1)
