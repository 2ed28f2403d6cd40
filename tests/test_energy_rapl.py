"""The RAPL meter against fake powercap trees: discovery, wrap-around, unreadable counters."""

import builtins
from pathlib import Path

import pytest

from accelbench.energy import rapl
from accelbench.energy.meter import Unavailable
from accelbench.energy.rapl import RaplMeter, rapl_meter

MAX_RANGE_UJ = 262143328850  # what an Intel Xeon reports in max_energy_range_uj


def make_zone(root: Path, zone: str, name: str, energy_uj: int = 0, max_range_uj: int = MAX_RANGE_UJ) -> Path:
    path = root / zone
    path.mkdir(parents=True)
    (path / "name").write_text(f"{name}\n")
    (path / "energy_uj").write_text(f"{energy_uj}\n")
    (path / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
    return path


@pytest.fixture
def two_sockets(tmp_path):
    """Two packages with core and DRAM sub-domains, plus the zones that must be skipped."""
    root = tmp_path / "powercap"
    make_zone(root, "intel-rapl:0", "package-0", 1_000_000)
    make_zone(root, "intel-rapl:0:0", "core", 500)
    make_zone(root, "intel-rapl:0:1", "dram", 2_000)
    make_zone(root, "intel-rapl:1", "package-1", 7_000_000)
    make_zone(root, "intel-rapl:1:0", "dram", 3_000)
    make_zone(root, "intel-rapl:2", "psys", 9_000_000)
    make_zone(root, "intel-rapl-mmio:0", "package-0", 1_000_000)
    (root / "intel-rapl").mkdir()  # the control type itself, not a zone
    return root


def test_packages_and_dram_are_found_and_overlapping_zones_skipped(two_sockets):
    meter = rapl_meter(two_sockets)
    assert isinstance(meter, RaplMeter)
    assert meter.devices == ("rapl:package-0", "rapl:package-0/dram", "rapl:package-1", "rapl:package-1/dram")
    assert meter.name == "rapl"
    reading = meter.read()
    assert reading["rapl:package-1"].energy_j == pytest.approx(7.0)
    assert reading["rapl:package-0/dram"].energy_j == pytest.approx(0.002)
    assert all(r.power_w is None for r in reading.values())


def test_a_decreasing_counter_is_a_wrap_and_adds_the_range(tmp_path):
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", MAX_RANGE_UJ - 500)
    meter = rapl_meter(tmp_path)
    first = meter.read()["rapl:package-0"].energy_j
    (zone / "energy_uj").write_text("300\n")
    wrapped = meter.read()["rapl:package-0"].energy_j
    (zone / "energy_uj").write_text("1300\n")
    after = meter.read()["rapl:package-0"].energy_j
    assert wrapped - first == pytest.approx(800e-6, abs=1e-6)  # 500 up to the range, then 300
    assert after - wrapped == pytest.approx(1000e-6)


def test_several_wraps_over_a_long_run_keep_counting(tmp_path):
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", 0, max_range_uj=999)  # counts 0..999
    meter = rapl_meter(tmp_path)
    start = meter.read()["rapl:package-0"].energy_j
    raw_and_true_total_uj = [(600, 600), (200, 1200), (800, 1800), (100, 2100), (900, 2900), (0, 3000)]
    for raw, true_total in raw_and_true_total_uj:
        (zone / "energy_uj").write_text(str(raw))
        assert (meter.read()["rapl:package-0"].energy_j - start) * 1e6 == pytest.approx(true_total)


def test_permission_denied_is_unavailable_with_the_fix(two_sockets, monkeypatch):
    def guarded_open(path, *args, **kwargs):
        if Path(path).name == "energy_uj":
            raise PermissionError(13, "Permission denied", str(path))
        return builtins.open(path, *args, **kwargs)

    monkeypatch.setattr(rapl, "open", guarded_open, raising=False)
    result = rapl_meter(two_sockets)
    assert isinstance(result, Unavailable)
    assert "energy_uj is not readable by this user (permission denied)" in result.reason
    assert "run as root" in result.reason


def test_a_counter_that_is_not_a_file_is_unavailable(tmp_path):
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0")
    (zone / "energy_uj").unlink()
    (zone / "energy_uj").mkdir()
    result = rapl_meter(tmp_path)
    assert isinstance(result, Unavailable)
    assert "cannot be read" in result.reason and "energy_uj" in result.reason


def test_a_garbled_counter_is_unavailable(tmp_path):
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0")
    (zone / "energy_uj").write_text("n/a\n")
    result = rapl_meter(tmp_path)
    assert isinstance(result, Unavailable)
    assert "not a whole number" in result.reason


@pytest.mark.parametrize("layout", ["missing", "empty", "psys only"])
def test_no_package_domain_is_unavailable(tmp_path, layout):
    root = tmp_path / "powercap"
    if layout != "missing":
        root.mkdir()
    if layout == "psys only":
        make_zone(root, "intel-rapl:0", "psys")
    result = rapl_meter(root)
    assert isinstance(result, Unavailable)
    assert result.reason == f"no {root}/intel-rapl:* package domains on this machine"


def test_a_counter_lost_mid_run_raises_for_the_sampler_to_report(tmp_path):
    zone = make_zone(tmp_path, "intel-rapl:0", "package-0", 10)
    meter = rapl_meter(tmp_path)
    meter.read()
    (zone / "energy_uj").unlink()
    with pytest.raises(FileNotFoundError):
        meter.read()
