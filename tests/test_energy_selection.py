"""Which meter a process gets: what is true on this machine, and the rules for ranks."""

import importlib.util
import shutil
from pathlib import Path

import pytest
import torch

from accelbench.energy.meter import Unavailable
from accelbench.energy.rapl import POWERCAP, RaplMeter
from accelbench.energy.selection import RAPL_ON_RANK_0, choose_meter


def readable(path: Path) -> bool:
    try:
        int(path.read_bytes())
    except (OSError, ValueError):
        return False
    return True


def test_cpu_on_this_machine_matches_the_powercap_tree():
    packages = [zone for zone in POWERCAP.glob("intel-rapl:*")
                if zone.name.count(":") == 1 and (zone / "name").read_text().startswith("package-")]
    result = choose_meter("cpu", 0)
    if not packages:
        assert result == Unavailable(f"no {POWERCAP}/intel-rapl:* package domains on this machine")
    elif all(readable(zone / "energy_uj") for zone in packages):
        assert isinstance(result, RaplMeter)
        assert {f"rapl:{(zone / 'name').read_text().strip()}" for zone in packages} <= set(result.devices)
    else:
        assert isinstance(result, Unavailable) and "RAPL" in result.reason


def test_cpu_is_measured_by_local_rank_0_only(tmp_path):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    files = (("name", "package-0"), ("energy_uj", "123456"), ("max_energy_range_uj", "262143328850"))
    for name, value in files:
        (zone / name).write_text(value)
    assert isinstance(choose_meter("cpu", 0, powercap_root=tmp_path), RaplMeter)
    assert choose_meter("cpu", 1, powercap_root=tmp_path) == Unavailable(RAPL_ON_RANK_0)


def test_a100_without_a_gpu_is_unavailable_with_the_reason():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    result = choose_meter("a100", 0)
    assert result == Unavailable("torch sees no CUDA device, so this process has no GPU to measure")


def test_ipu_without_the_poplar_sdk_is_unavailable_with_the_reason():
    if importlib.util.find_spec("gcipuinfo") or shutil.which("gc-monitor"):
        pytest.skip("this machine has the Graphcore tools")
    result = choose_meter("ipu", 0)
    assert isinstance(result, Unavailable) and result.reason.startswith("no IPU power source: ")


def test_unknown_platforms_and_ranks_are_refused():
    with pytest.raises(ValueError, match="use one of cpu, a100, ipu"):
        choose_meter("tpu", 0)
    with pytest.raises(ValueError, match="negative"):
        choose_meter("cpu", -1)
