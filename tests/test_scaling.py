"""The weak-scaling report: its arithmetic, its tables and figure, and reading only verified files."""

from __future__ import annotations

import csv
import hashlib
import io
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accelbench.errors import UserError
from accelbench.report.scaling import (
    CSV_COLUMNS,
    ScalingReport,
    ScalingRun,
    aggregate,
    load_report,
    make_point,
    render_csv,
    render_markdown,
    write_report,
)
from accelbench.report.scaling_plots import render_png, scaling_figure
from accelbench.results.files import write_json_atomic
from accelbench.results.layout import find_run_files
from accelbench.results.models import (
    CacheClear,
    DatasetRecord,
    Energy,
    EventLogRef,
    Provenance,
    Quality,
    TrainingRunResult,
    SplitRecord,
    SystemRecord,
    Throughput,
    Timing,
)
from accelbench.trust.signing import sign_document

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_METER = "no power meter on this host"


def run(world_size: int = 1, *, platform: str = "cpu", device: str = "host CPU", end: float | None = 0.3,
        epoch_s: float | None = 2.0, samples_per_s: float = 100.0, joules: float | None = None,
        epochs: int = 6, lr: float | None = 1e-3) -> ScalingRun:
    note = NO_METER if joules is None else "rapl"
    return ScalingRun(platform, device, world_size, lr, end, epochs, epoch_s, samples_per_s, joules, note)


def report_of(runs: list[ScalingRun]) -> ScalingReport:
    return ScalingReport("neuron_inverter", "smoke", "fixed_epochs", "val mse", ("results/x",),
                         ("00112233aabbccdd",), aggregate(runs))


# --- the arithmetic ----------------------------------------------------------------------------------


def test_point_takes_best_and_median_loss_and_median_times() -> None:
    point = make_point([
        run(end=0.30, epoch_s=2.0, samples_per_s=100.0, lr=1e-3),
        run(end=0.20, epoch_s=4.0, samples_per_s=50.0, lr=5e-3),
        run(end=0.70, epoch_s=3.0, samples_per_s=70.0, lr=1e-3),
    ])
    assert (point.runs, point.diverged) == (3, 0)
    assert point.best_metric == 0.20
    assert point.median_metric == 0.30  # not the mean, 0.4
    assert point.learning_rates == (1e-3, 5e-3)
    assert point.epoch_s == 3.0
    assert point.samples_per_s == 70.0


def test_best_follows_the_metric_direction() -> None:
    point = make_point([run(end=0.7), run(end=0.9)], direction="at_least")
    assert point.best_metric == 0.9


def test_diverged_runs_are_counted_not_averaged() -> None:
    point = make_point([run(end=None), run(end=0.5), run(end=0.3)])
    assert (point.runs, point.diverged) == (3, 1)
    assert point.best_metric == 0.3 and point.median_metric == pytest.approx(0.4)
    all_diverged = make_point([run(end=None), run(end=None)])
    assert all_diverged.best_metric is None and all_diverged.median_metric is None


def test_energy_per_epoch_is_the_median_of_joules_over_epochs() -> None:
    point = make_point([
        run(joules=600.0, epochs=6), run(joules=1800.0, epochs=6), run(joules=900.0, epochs=3)
    ])
    assert point.energy_per_epoch_j == 300.0  # median of 100, 300, 300
    assert point.energy_per_epoch_wh == pytest.approx(300.0 / 3600.0)
    assert point.energy_source == "rapl"


def test_unmeasured_energy_is_none_with_the_reason() -> None:
    point = make_point([run(), run()])
    assert point.energy_per_epoch_j is None and point.energy_per_epoch_wh is None
    assert point.energy_source == f"not measured: {NO_METER}"
    partly = make_point([run(joules=360.0), run()])
    assert partly.energy_per_epoch_j == 60.0 and partly.energy_source == "rapl (1 of 2 runs)"


def test_efficiency_and_ideals_are_relative_to_the_smallest_n_of_each_system() -> None:
    points = aggregate([
        run(4, epoch_s=20.0, samples_per_s=400.0),
        run(2, epoch_s=40.0, samples_per_s=200.0),
        run(8, epoch_s=12.5, samples_per_s=640.0),
        run(1, platform="a100", device="A100", epoch_s=80.0, samples_per_s=10.0),
        run(4, platform="a100", device="A100", epoch_s=40.0, samples_per_s=20.0),
    ])
    by_key = {(p.platform, p.world_size): p for p in points}
    assert [(p.platform, p.world_size) for p in points] == [
        ("a100", 1), ("a100", 4), ("cpu", 2), ("cpu", 4), ("cpu", 8)
    ]
    assert by_key["cpu", 2].efficiency == 1.0
    assert by_key["cpu", 4].efficiency == 1.0
    assert by_key["cpu", 8].ideal_epoch_s == 10.0
    assert by_key["cpu", 8].efficiency == pytest.approx(0.8)  # 2 * 40 / (8 * 12.5)
    assert by_key["cpu", 8].ideal_samples_per_s == 800.0
    assert by_key["a100", 4].efficiency == 0.5  # 80 / (4 * 40)
    assert by_key["a100", 4].ideal_samples_per_s == 40.0


def test_untimed_points_have_no_efficiency() -> None:
    points = aggregate([run(1, epoch_s=None), run(2, epoch_s=1.0)])
    assert points[0].epoch_s is None and points[0].efficiency is None
    assert points[1].efficiency == 1.0  # the reference is the smallest N that has a time


def test_series_name_the_device_only_when_a_platform_ran_on_several() -> None:
    one = report_of([run(1), run(2), run(1, platform="ipu", device="GC200")])
    assert [s.label for s in one.series] == ["CPU", "IPU"]
    two = report_of([run(1, device="EPYC"), run(1, device="Xeon")])
    assert [s.label for s in two.series] == ["CPU (EPYC)", "CPU (Xeon)"]
    assert two.points[0].efficiency == two.points[1].efficiency == 1.0


# --- tables and the figure ----------------------------------------------------------------------------


def test_csv_round_trips() -> None:
    report = report_of([
        run(1, end=0.3, epoch_s=2.0, samples_per_s=100.0, lr=1e-3),
        run(1, end=0.2, epoch_s=2.2, samples_per_s=90.0, lr=2e-3, joules=720.0),
        run(2, end=None, epoch_s=1.1, samples_per_s=190.0),
    ])
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(report.points) == 2
    for row, point in zip(rows, report.points):
        assert int(row["world_size"]) == point.world_size
        assert int(row["runs"]) == point.runs and int(row["diverged"]) == point.diverged
        for column, value in [
            ("end_metric_best", point.best_metric), ("end_metric_median", point.median_metric),
            ("time_per_epoch_s", point.epoch_s), ("parallel_efficiency", point.efficiency),
            ("samples_per_s", point.samples_per_s), ("energy_per_epoch_j", point.energy_per_epoch_j),
            ("energy_per_epoch_wh", point.energy_per_epoch_wh),
        ]:
            assert (float(row[column]) if row[column] else None) == value, column
        assert tuple(float(v) for v in row["learning_rates"].split(";")) == point.learning_rates
    assert rows[0]["energy_source"] == "rapl (1 of 2 runs)"
    assert rows[1]["energy_source"] == f"not measured: {NO_METER}"
    assert rows[1]["end_metric_best"] == ""


def test_markdown_has_one_row_per_point_with_units() -> None:
    report = report_of([run(1), run(2), run(4), run(1, platform="ipu", device="GC200", joules=3600.0)])
    text = render_markdown(report)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    assert len(rows) == 1 + len(report.points)  # the header, then the points
    assert "time/epoch [s]" in rows[0] and "energy/epoch [Wh]" in rows[0] and "efficiency [%]" in rows[0]
    assert f"not measured: {NO_METER}" in text and "| 0.167 (rapl) |" in text
    assert "4 verified runs (run_N.json) from results/x; signed by key 00112233aabbccdd." in text


def assert_png(data: bytes) -> None:
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 20_000  # a drawn 2x2 figure, not an empty canvas


def test_png_of_a_seed_shaped_report() -> None:
    runs = [
        run(n, platform=platform, device=platform.upper(), end=loss, epoch_s=80.8 / n,
            samples_per_s=92_000.0 * n, joules=3600.0 * 151 * 5 if 4 <= n <= 128 else None, epochs=151)
        for platform in ("a100", "ipu")
        for n, loss in zip([1, 2, 4, 8, 16, 32, 64, 128, 256], [0.025, 0.025, 0.026, 0.027, 0.028,
                                                                 0.030, 0.032, 0.035, 0.038])
    ]
    report = report_of(runs)
    figure = scaling_figure(report)
    energy = figure.axes[3]
    assert energy.axison and len(energy.get_lines()) == 2
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == [
        "1", "2", "4", "8", "16", "32", "64", "128", "256"
    ]
    assert "151 epochs" in figure.get_suptitle() and "smoke" in figure.get_suptitle()
    assert_png(render_png(report))


def test_png_without_energy_says_so_instead_of_an_empty_axis() -> None:
    report = report_of([run(1), run(2)])
    energy = scaling_figure(report).axes[3]
    assert not energy.axison
    assert any(NO_METER in text.get_text() for text in energy.texts)
    assert_png(render_png(report))


def test_write_report_writes_three_files(tmp_path: Path) -> None:
    written = write_report(report_of([run(1), run(2)]), tmp_path / "report")
    assert [p.name for p in written] == ["scaling.csv", "scaling.md", "scaling.png"]
    assert all(p.is_file() and p.stat().st_size > 0 for p in written)


# --- reading verified run files ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def write_signed_run(directory: Path, index: int, key: Ed25519PrivateKey, *, world_size: int = 1,
                     scale: str = "smoke", achieved: float | None = 0.25,
                     epoch_s: tuple[float, ...] = (1.0, 1.5), joules: float | None = None) -> Path:
    """A signed run_N.json and its event log, as `accelbench run` writes them."""
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / f"run_{index}.mllog"
    log.write_bytes(f':::MLLOG {{"key": "run_start", "value": {index}}}\n'.encode())
    energy = (Energy(available=False, reason=NO_METER) if joules is None
              else Energy(available=True, joules=joules, meter="rapl"))
    result = TrainingRunResult(
        suite_version="0.1.0", rules_version="v1", workload="neuron_inverter", kind="train_to_target",
        scale=scale, division="closed", mode="fixed_epochs", run_index=index, seed=index,
        created_at="2024-05-01T12:00:00+00:00",
        system=SystemRecord(name=f"cpu_n{world_size}", platform="cpu", device="host CPU",
                            implementation="reference", world_size=world_size, launcher="torchrun"),
        environment=Provenance(
            hostname_sha256="0" * 64, os="Linux", kernel="6.1", python="3.10.12", cpu_model="test",
            cpu_count=2, memory_bytes=None, accelerators=[], accelerator_software={}, packages={},
            container={"inside": "no"}, suite_git_commit=None,
            suite_git_dirty=None, implementation_sha256="1" * 64, numerics_env={},
        ),
        dataset=DatasetRecord(id="neuron_inverter/smoke", generator_version="1", seed=7,
                              splits={"train": SplitRecord(samples=1024, sha256="2" * 64)}),
        hyperparameters={"learning_rate": 0.001 * world_size, "batch_size": 128},
        timing=Timing(init_s=0.5, init_budget_s=1800.0, run_s=sum(epoch_s), time_to_train_s=sum(epoch_s),
                      epoch_s=list(epoch_s), final_eval_s=None),
        quality=Quality(metric="mse", split="val", direction="at_most", target=0.28, achieved=achieved,
                        converged=False, stop_reason="epoch budget", eval_kind="true",
                        epochs=len(epoch_s), max_epochs=len(epoch_s), curve=[], train_loss=[]),
        throughput=Throughput(train_samples=2048, samples_per_s=2048 / sum(epoch_s)),
        energy=energy,
        cache_clear=CacheClear(cleared=False, detail="not root (euid 1000): only root may write /proc/sys/vm/drop_caches"),
        event_log=EventLogRef(file=log.name, sha256=hashlib.sha256(log.read_bytes()).hexdigest()),
    )
    path = directory / f"run_{index}.json"
    write_json_atomic(path, sign_document(result.model_dump(mode="json"), key))
    return path


def one_line_failure(paths: list[Path]) -> str:
    with pytest.raises(UserError) as err:
        load_report(paths)
    message = str(err.value)
    assert "\n" not in message
    return message


def test_directories_are_searched_for_verified_runs(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    write_signed_run(tmp_path / "cpu_n1" / "neuron_inverter" / "smoke", 1, key, achieved=0.30)
    write_signed_run(tmp_path / "cpu_n1" / "neuron_inverter" / "smoke", 2, key, achieved=0.26,
                     joules=120.0)
    write_signed_run(tmp_path / "cpu_n2", 1, key, world_size=2, epoch_s=(0.6, 0.8), achieved=None)
    report = load_report([tmp_path])
    assert (report.workload, report.scale, report.mode, report.metric) == (
        "neuron_inverter", "smoke", "fixed_epochs", "val mse"
    )
    assert report.runs == 3 and report.epochs == "2"
    one, two = report.points
    assert (one.world_size, one.runs, one.best_metric, one.median_metric) == (1, 2, 0.26, 0.28)
    assert one.epoch_s == 1.25 and one.energy_per_epoch_j == 60.0
    assert one.learning_rates == (0.001,)
    assert (two.world_size, two.diverged, two.epoch_s) == (2, 1, 0.7)
    assert two.efficiency == pytest.approx(1.25 / (2 * 0.7))
    assert two.energy_source == f"not measured: {NO_METER}"


def test_files_and_directories_are_collected_once_in_order(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    first = write_signed_run(tmp_path / "a", 1, key)
    second = write_signed_run(tmp_path / "b", 1, key, world_size=2)
    (tmp_path / "b" / "notes.json").write_text("{}")
    same_as_first = tmp_path / "b" / ".." / "a" / first.name
    assert find_run_files([tmp_path / "a", same_as_first, tmp_path / "b", second]) == [first, second]


def test_a_tampered_file_is_refused_by_name(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    write_signed_run(tmp_path, 1, key)
    tampered = write_signed_run(tmp_path, 2, key)
    tampered.write_bytes(tampered.read_bytes().replace(b'"achieved": 0.25', b'"achieved": 0.15'))
    message = one_line_failure([tmp_path])
    assert str(tampered) in message and "changed after signing" in message


def test_mixing_scales_is_refused_naming_both_files(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    smoke = write_signed_run(tmp_path / "a", 1, key)
    small = write_signed_run(tmp_path / "b", 1, key, scale="small")
    message = one_line_failure([tmp_path])
    assert str(smoke) in message and str(small) in message and "differ in scale" in message


def test_missing_paths_and_empty_directories_are_refused(tmp_path: Path) -> None:
    assert "no results given" in one_line_failure([])
    assert "does not exist" in one_line_failure([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    assert "no run_N.json files" in one_line_failure([tmp_path / "empty"])
