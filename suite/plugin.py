"""The suite's pytest hooks: `pytest suite --device=cpu --scale=small` runs the benchmarks.

They are the suite's own, not an installed plugin: suite/conftest.py imports them, and pytest
loads that conftest only when it collects the suite (its folder is on the command line), so
installing accelbench adds no options to any other pytest session. Collecting plans every
selected set and checks its options, but writes nothing: no key, no results directory, no data
(`pytest suite --collect-only` leaves the machine as it was). Hooks stay thin: options are checked here and turned into one-line usage errors; the work is
done by `accelbench.run.runner`. A benchmark module names its workload in `WORKLOAD`, takes the
`benchmark_set` fixture, and gets one `run_index` test per run plus a score test (deselected
in `--mode=fixed_epochs`, whose runs are compared by `accelbench scaling`, not scored).
Under torchrun (`torchrun --nproc_per_node=N -m pytest suite ...`) every rank runs the same
tests in lockstep; rank 0 prints the progress and the summary.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from accelbench.errors import UserError

_SETS_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("accelbench", "accelbench benchmark suite")
    group.addoption("--device", default="cpu", help="cpu (reference), a100 or ipu [cpu]")
    group.addoption("--scale", default="smoke", help="smoke, small or full [smoke]")
    group.addoption("--runs", type=int, default=None, help="runs per workload [the rules' minimum]")
    group.addoption("--results-dir", default="results", type=Path, help="where results go [results]")
    group.addoption("--seed", type=int, default=None, help="seed of the first run [random]")
    group.addoption("--key", type=Path, default=None, help="Ed25519 signing key [user config dir]")
    group.addoption("--data-dir", type=Path, default=None, help="dataset cache [user cache dir]")
    group.addoption(
        "--mode", default="to_target",
        help="to_target (scored) or fixed_epochs (the rules' weak-scaling epochs) [to_target]",
    )
    group.addoption(
        "--hparam", action="append", default=[], metavar="NAME=VALUE",
        help="override a hyperparameter within the division's rules, e.g. learning_rate=0.002",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_SETS_KEY] = {}


def _workload(item: pytest.Item) -> str | None:
    module = getattr(item, "module", None)
    return getattr(module, "WORKLOAD", None) if module is not None else None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "run_index" not in metafunc.fixturenames:
        return
    runs = metafunc.config.getoption("runs")
    if runs is None:
        from accelbench.rules.loader import load_rules

        try:
            rules = load_rules(metafunc.module.WORKLOAD)
            runs = rules.runs.minimum[metafunc.config.getoption("scale")]
        except (UserError, KeyError):
            runs = 1  # the plan below reports the bad option as a usage error
    metafunc.parametrize("run_index", range(1, max(runs, 1) + 1), ids=lambda i: f"run{i}")


@pytest.hookimpl(trylast=True)  # after -k/-m have deselected: plan only what will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Plan every selected benchmark before anything runs, so bad options fail at once."""
    workloads = sorted({w for w in map(_workload, items) if w})
    if not workloads:
        return
    from accelbench.run.plan import plan_benchmark
    from accelbench.run.runner import BenchmarkSet

    sets = config.stash[_SETS_KEY]
    report = _live_reporter(config)
    if config.getoption("mode") == "fixed_epochs":
        workloads = _with_scaling_rules(config, items, workloads, report)
    for workload in workloads:
        try:
            plan = plan_benchmark(
                workload,
                device=config.getoption("device"),
                scale=config.getoption("scale"),
                runs=config.getoption("runs"),
                seed=config.getoption("seed"),
                results_root=config.getoption("results_dir"),
                key_path=config.getoption("key"),
                data_dir=config.getoption("data_dir"),
                mode=config.getoption("mode"),
                hparams=config.getoption("hparam"),
            )
        except UserError as err:
            raise pytest.UsageError(str(err)) from None
        sets[workload] = BenchmarkSet(plan, report=report)
    if config.getoption("mode") == "fixed_epochs":
        scored = [item for item in items if item.name == "test_score" and _workload(item)]
        if scored:
            config.hook.pytest_deselected(items=scored)
            items[:] = [item for item in items if item not in scored]


def _with_scaling_rules(config: pytest.Config, items: list[pytest.Item], workloads: list[str], report) -> list[str]:
    """The fixed-epoch study runs the workloads whose rules define one; the others are
    deselected, with a line that says so."""
    from accelbench.rules.loader import load_rules

    without = []
    for workload in workloads:
        try:
            if load_rules(workload).scaling is None:
                without.append(workload)
        except UserError:
            pass  # the plan reports a bad rule file as a usage error
    if without:
        report(f"--mode=fixed_epochs: {', '.join(without)} define(s) no weak-scaling study; deselected")
        dropped = [item for item in items if _workload(item) in without]
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if item not in dropped]
    return [w for w in workloads if w not in without]


def _live_reporter(config: pytest.Config):
    """Print progress lines as they happen, even while pytest captures the test's output."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")

    def report(line: str) -> None:
        if reporter is None:
            print(line)
            return
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    return report


@pytest.hookimpl(wrapper=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function):
    """A bad input met during a run (e.g. a corrupt dataset) fails the test in one line."""
    try:
        return (yield)
    except UserError as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture
def benchmark_set(request: pytest.FixtureRequest):
    """The set of runs of the requesting module's workload, shared by its tests."""
    try:
        return request.config.stash[_SETS_KEY][request.module.WORKLOAD]
    except (KeyError, AttributeError):
        pytest.fail("benchmark_set needs a module-level WORKLOAD collected by `pytest suite`")


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    for bench in config.stash.get(_SETS_KEY, {}).values():
        if bench.results and bench.plan.world.primary:
            from accelbench.run.console import render

            terminalreporter.write_sep("=", f"accelbench: {bench.plan.rules.workload}")
            terminalreporter.write(render(bench.ordered_results(), bench.last_score))
