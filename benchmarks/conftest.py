"""What the suite's own benchmarks share: their options, an isolated workspace, and the ratio
each one's goal is stated in.

    pytest benchmarks --benchmark-only --benchmark-json=bench.json [--bench-scale smoke]

pytest-benchmark times each benchmark's rounds; a goal is a ratio measured in the same run (this
machine is shared and noisy, so an absolute time means little), recorded with `goal_ratio` into
the benchmark's `extra_info` (so it is in the JSON `accelbench store import` reads) and printed in
one table at the end of the session.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("accelbench benchmarks")
    group.addoption("--bench-scale", default="small", choices=("smoke", "small", "full"),
                    help="the rules' scale a benchmark measures at (default small: the README's figures; smoke: "
                         "the smallest honest size, seconds; full: the largest a benchmark defines)")
    group.addoption("--bench-device", default="cpu", help="cpu or cuda, for the benchmarks that run on a GPU")
    group.addoption("--bench-db", default=None, help="the results store's benchmark: a database URL [a new SQLite file]")
    group.addoption("--bench-threads", type=int, default=None,
                    help="CPU threads for every framework, the process pinned to that many of its CPUs "
                         "(default: all the CPUs this process may use)")
    group.addoption("--bench-runs-dir", default=None,
                    help="bench_validate: a results directory of real smoke runs to build its submission from "
                         "(default: train them first)")


def pytest_configure(config: pytest.Config) -> None:
    """--bench-threads holds for the whole session, set before any framework starts its thread pools."""
    threads = config.getoption("--bench-threads", default=None)
    if threads:
        import torch

        allowed = sorted(os.sched_getaffinity(0))
        if threads < len(allowed):
            os.sched_setaffinity(0, allowed[:threads])  # XLA (TensorFlow's and JAX's) sizes itself by the CPUs it sees
        torch.set_num_threads(threads)
        torch.set_num_interop_threads(threads)


@dataclass(frozen=True)
class GoalRatio:
    benchmark: str
    name: str  # what over what, e.g. "harness / bare loop"
    value: float
    goal: str  # e.g. "< 1.02"
    met: bool | None  # None: the ratio is reported, with no pass mark


RATIOS_KEY = pytest.StashKey[list]()


@pytest.fixture
def bench_scale(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--bench-scale")


@pytest.fixture
def bench_device(request: pytest.FixtureRequest) -> str:
    return request.config.getoption("--bench-device")


@pytest.fixture
def bench_threads(request: pytest.FixtureRequest) -> int:
    """The CPU threads each framework gets: --bench-threads, else every CPU this process may use."""
    return request.config.getoption("--bench-threads") or len(os.sched_getaffinity(0))


@pytest.fixture
def bench_runs_dir(request: pytest.FixtureRequest) -> Path | None:
    folder = request.config.getoption("--bench-runs-dir")
    return Path(folder) if folder else None


@pytest.fixture
def tensorflow(bench_threads):
    """TensorFlow with bench_threads intra- and inter-op threads, set before its runtime starts (a benchmark that
    ran earlier in the session set the same); skipped where it is not installed."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's C++ start-up lines off the console
    tf = pytest.importorskip("tensorflow", reason="tensorflow is not installed: pip install -e '.[tf]'")
    threading = tf.config.threading
    if threading.get_intra_op_parallelism_threads() != bench_threads:
        threading.set_intra_op_parallelism_threads(bench_threads)
    if threading.get_inter_op_parallelism_threads() != bench_threads:
        threading.set_inter_op_parallelism_threads(bench_threads)
    return tf


@pytest.fixture
def torch_device(bench_device: str):
    """--bench-device as a torch device (cuda means the current GPU); skipped where torch sees no GPU."""
    import torch

    device = torch.device(bench_device)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            pytest.skip(f"--bench-device {bench_device}: torch {torch.__version__} sees no CUDA GPU here; "
                        "run on an A100-class machine, or with --bench-device cpu")
        if device.index is None:
            device = torch.device("cuda", torch.cuda.current_device())
    return device


@pytest.fixture
def bench_workspace(tmp_path, monkeypatch) -> dict[str, str]:
    """Config and data dirs under tmp_path unless the caller set them (a warm dataset cache saves
    minutes); returns the environment for subprocesses."""
    for variable, folder in (("ACCELBENCH_CONFIG_DIR", "config"), ("ACCELBENCH_DATA_DIR", "data")):
        if not os.environ.get(variable):
            monkeypatch.setenv(variable, str(tmp_path / folder))
    return dict(os.environ)


@pytest.fixture
def goal_ratio(request: pytest.FixtureRequest, benchmark):
    """record(name, value, goal, met): the ratio this benchmark's goal is stated in."""

    def record(name: str, value: float, goal: str, met: bool | None = None) -> GoalRatio:
        ratio = GoalRatio(request.node.name, name, float(value), goal, met)
        benchmark.extra_info.update(ratio=ratio.value, ratio_name=name, goal=goal, goal_met=met)
        request.config.stash.setdefault(RATIOS_KEY, []).append(ratio)
        return ratio

    return record


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    ratios = config.stash.get(RATIOS_KEY, [])
    if not ratios:
        return
    terminalreporter.section("goal ratios (measured in this run)")
    for ratio in ratios:
        mark = {True: "met", False: "NOT met", None: "reported"}[ratio.met]
        terminalreporter.write_line(
            f"{ratio.benchmark}: {ratio.name} = {ratio.value:.4g} (goal {ratio.goal}: {mark})")


def pytest_benchmark_update_json(config: pytest.Config, benchmarks, output_json: dict) -> None:
    """What `accelbench store import` keys the file by, beside pytest-benchmark's machine and commit."""
    from accelbench import __version__
    from accelbench.results.provenance import package_versions

    output_json["accelbench"] = {
        "scale": config.getoption("--bench-scale"), "device": config.getoption("--bench-device"),
        "suite_version": __version__, "packages": package_versions(),
    }
