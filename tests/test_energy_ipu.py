"""IPU board power from recorded gcipuinfo attributes and gc-monitor tables (no IPU here)."""

import importlib.util
import re
import shutil
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.energy.gc_monitor import gc_monitor_poll, parse_gc_monitor
from accelbench.energy.gcipuinfo_source import gcipuinfo_poll, statuses_from_attributes
from accelbench.energy.ipu_boards import IpuBoardMeter, IpuStatus, board_meter
from accelbench.energy.ipu_power import parse_power_w
from accelbench.energy.meter import Unavailable
from accelbench.energy.selection import GCDA_MONITOR_HINT, ipu_meter

BOARD_A, BOARD_B = "0031.0002.8205621", "0031.0001.8205621"  # the two boards of one IPU-M2000

# `gc-monitor` on a 4-IPU partition, two processes with one board each, run with GCDA_MONITOR=1.
GC_MONITOR_TWO_PROCESSES = """\
+---------------+--------------------------------------------------------------------------------+
|  gc-monitor   |            Partition: p4 (gcd:0) [active] has 4 reconfigurable IPUs            |
+-------------+--------------------+--------+--------------+----------+------+----+------+-------+
|    IPU-M    |       Serial       |IPU-M SW|Server version|  ICU FW  | Type | ID | IPU# |Routing|
+-------------+--------------------+--------+--------------+----------+------+----+------+-------+
|  10.1.6.21  | 0031.0002.8205621  | 2.6.0  |    1.11.0    |  2.5.9   |M2000 | 0  |  3   |  DNC  |
|  10.1.6.21  | 0031.0002.8205621  | 2.6.0  |    1.11.0    |  2.5.9   |M2000 | 1  |  2   |  DNC  |
|  10.1.6.21  | 0031.0001.8205621  | 2.6.0  |    1.11.0    |  2.5.9   |M2000 | 2  |  1   |  DNC  |
|  10.1.6.21  | 0031.0001.8205621  | 2.6.0  |    1.11.0    |  2.5.9   |M2000 | 3  |  0   |  DNC  |
+-------------+--------------------+--------+--------------+----------+------+----+------+-------+
+------------------------------------------------------------------------+------------------------+-----------------+
|                     Attached processes in partition p4                 |          IPU           |      Board      |
+--------+-----------------------------------------+--------+------------+----+----------+--------+--------+--------+
|  PID   |                 Command                 |  Time  |    User    | ID |  Clock   |  Temp  |  Temp  | Power  |
+--------+-----------------------------------------+--------+------------+----+----------+--------+--------+--------+
| 40123  |                 python3                 |  2m7s  |  benchop   | 0  | 1850MHz  | 36.1 C | 30.4 C |118.2 W |
| 40123  |                 python3                 |  2m7s  |  benchop   | 1  | 1850MHz  | 35.7 C |        |        |
+--------+-----------------------------------------+--------+------------+----+----------+--------+--------+--------+
| 40124  |                 python3                 |  2m7s  |  benchop   | 2  | 1850MHz  | 37.0 C | 31.2 C |121.9 W |
| 40124  |                 python3                 |  2m7s  |  benchop   | 3  | 1850MHz  | 36.4 C |        |        |
+--------+-----------------------------------------+--------+------------+----+----------+--------+--------+--------+
"""
# The same without GCDA_MONITOR: the application does not read its sensors.
GC_MONITOR_SENSORS_OFF = GC_MONITOR_TWO_PROCESSES.replace("30.4 C |118.2 W", " N/A   |  N/A  ").replace(
    "31.2 C |121.9 W", " N/A   |  N/A  ")
GC_MONITOR_NO_CARD_INFO = GC_MONITOR_TWO_PROCESSES[GC_MONITOR_TWO_PROCESSES.index("+----------------------------"
                                                                                   "--------------------------------------------+"):]
GC_MONITOR_IDLE = GC_MONITOR_TWO_PROCESSES[:GC_MONITOR_TWO_PROCESSES.index("+------------------------------"
                                                                           "------------------------------------------+")] + """\
+--------------------------------------------------------------------------------------------------+
|                              No attached processes in partition p4                               |
+--------------------------------------------------------------------------------------------------+
"""


def gc_info_attributes(ipu_id, serial, power, process=None):
    """One device as gcipuinfo's getDevices() gives it (the keys `gc-info --device-info` prints)."""
    attributes = [("id", str(ipu_id)), ("target", "Fabric"), ("average board temp", "30.4 C"),
                  ("board ipu index", str(3 - ipu_id % 4)), ("board serial number", serial),
                  ("board type", "M2000"), ("clock", "1850MHz"), ("ipu power", "N/A"),
                  ("ipu utilisation", "97.12%"), ("total board power", power)]
    if process is not None:
        attributes += [("user executable", "python3"), ("user process id", str(process))]
    return attributes


RECORDED_GCIPUINFO = [
    gc_info_attributes(0, BOARD_A, "118.2 W", process=40123),
    gc_info_attributes(1, BOARD_A, "118.2 W", process=40123),
    gc_info_attributes(2, BOARD_B, "121.9 W", process=40124),
    gc_info_attributes(3, BOARD_B, "N/A", process=40124),
    [("id", "4"), ("target", "Multi IPU")],  # a 2-IPU device: no board of its own
]


def fake_gcipuinfo(devices):
    modes = []
    info = SimpleNamespace(setUpdateMode=modes.append, getDevices=lambda: devices)
    return SimpleNamespace(gcipuinfo=lambda: info, modes=modes)


@pytest.mark.parametrize(("text", "watts"), [
    ("92.3W", 92.3), ("114.7 W", 114.7), (" 12.6 W\n", 12.6), ("0W", 0.0), ("N/A", None), (" N/A ", None),
])
def test_power_strings_of_both_tools(text, watts):
    assert parse_power_w(text) == watts


@pytest.mark.parametrize("text", ["", "92.3", "W", "-5W", "92,3W", "92.3 mW", "nan W", "92.3  W", "NA",
                                  "1e3W"])
def test_other_power_strings_are_refused(text):
    with pytest.raises(ValueError, match="neither"):
        parse_power_w(text)


@given(st.integers(0, 20_000), st.sampled_from(["W", " W"]))
def test_printed_watts_read_back(tenths, unit):
    assert parse_power_w(f"{tenths // 10}.{tenths % 10}{unit}") == pytest.approx(tenths / 10)


@given(st.text(max_size=12))
def test_any_string_is_watts_or_not_available_or_refused(text):
    try:
        watts = parse_power_w(text)
    except ValueError:
        assert text.strip() != "N/A"
        return
    assert watts is None or re.fullmatch(r"\d+(\.\d+)? ?W", text.strip())


def test_gc_monitor_table_gives_each_ipu_its_board_and_process():
    assert parse_gc_monitor(GC_MONITOR_TWO_PROCESSES) == [
        IpuStatus(0, BOARD_A, 40123, 118.2), IpuStatus(1, BOARD_A, 40123, None),
        IpuStatus(2, BOARD_B, 40124, 121.9), IpuStatus(3, BOARD_B, 40124, None),
    ]


def test_gc_monitor_without_sensors_reads_not_available():
    assert [s.board_power_w for s in parse_gc_monitor(GC_MONITOR_SENSORS_OFF)] == [None] * 4


def test_gc_monitor_with_nothing_attached_lists_nothing():
    assert parse_gc_monitor(GC_MONITOR_IDLE) == []


def test_gc_monitor_without_card_info_is_refused():
    with pytest.raises(ValueError, match="without --no-card-info"):
        parse_gc_monitor(GC_MONITOR_NO_CARD_INFO)


def test_gc_monitor_row_with_a_garbled_id_is_refused():
    with pytest.raises(ValueError, match="IPU ID 'x'"):
        parse_gc_monitor(GC_MONITOR_TWO_PROCESSES.replace(" benchop   | 2  |", " benchop   | x  |"))


def test_each_process_measures_the_boards_of_its_own_ipus():
    poll = gc_monitor_poll(lambda: GC_MONITOR_TWO_PROCESSES)
    first = board_meter("gc-monitor", poll, local_rank=0, process_id=40123)
    second = board_meter("gc-monitor", poll, local_rank=1, process_id=40124)
    assert first.devices == (f"ipu:board-{BOARD_A}",)
    assert second.devices == (f"ipu:board-{BOARD_B}",)
    assert second.read()[f"ipu:board-{BOARD_B}"].power_w == 121.9


def test_when_no_ipu_names_the_process_rank_0_measures_every_board_and_says_so():
    poll = gc_monitor_poll(lambda: GC_MONITOR_TWO_PROCESSES)
    meter = board_meter("gc-monitor", poll, local_rank=0, process_id=999)
    assert isinstance(meter, IpuBoardMeter)
    assert meter.devices == (f"ipu:board-{BOARD_B}", f"ipu:board-{BOARD_A}")
    assert "all 2 board(s)" in meter.description and "unknown" in meter.description
    other = board_meter("gc-monitor", poll, local_rank=1, process_id=999)
    assert isinstance(other, Unavailable) and other.reason.startswith("measured by local rank 0")


def test_gcipuinfo_devices_give_board_power_once_per_board():
    module = fake_gcipuinfo(RECORDED_GCIPUINFO)
    poll = gcipuinfo_poll(module)
    assert module.modes == [True]
    assert poll() == [
        IpuStatus(0, BOARD_A, 40123, 118.2), IpuStatus(1, BOARD_A, 40123, 118.2),
        IpuStatus(2, BOARD_B, 40124, 121.9), IpuStatus(3, BOARD_B, 40124, None),
    ]
    meter = board_meter("gcipuinfo", poll, local_rank=0, process_id=40124)
    assert {d: r.power_w for d, r in meter.read().items()} == {f"ipu:board-{BOARD_B}": 121.9}


def test_gcipuinfo_before_any_process_attached():
    idle = [{k: v for k, v in device if k not in ("user process id", "user executable")}
            for device in RECORDED_GCIPUINFO]
    assert {s.process_id for s in statuses_from_attributes(idle)} == {None}


def test_a_failing_tool_is_unavailable_with_its_error():
    def broken():
        raise RuntimeError("IPUOF_VIPU_API_HOST is not set")

    result = board_meter("gc-monitor", broken, local_rank=0, process_id=1)
    assert result == Unavailable("gc-monitor failed: IPUOF_VIPU_API_HOST is not set")


def test_ipu_meter_prefers_gcipuinfo_and_warns_without_gcda_monitor(monkeypatch):
    monkeypatch.delenv("GCDA_MONITOR", raising=False)
    meter = ipu_meter(0, 40123, gcipuinfo_module=fake_gcipuinfo(RECORDED_GCIPUINFO),
                      gc_monitor_run=lambda: pytest.fail("gc-monitor must not run when gcipuinfo works"))
    assert meter.name == "gcipuinfo"
    assert GCDA_MONITOR_HINT in meter.description
    monkeypatch.setenv("GCDA_MONITOR", "1")
    meter = ipu_meter(0, 40123, gcipuinfo_module=fake_gcipuinfo(RECORDED_GCIPUINFO))
    assert GCDA_MONITOR_HINT not in meter.description


def test_ipu_on_this_machine_is_unavailable_for_what_is_missing():
    if importlib.util.find_spec("gcipuinfo") or shutil.which("gc-monitor"):
        pytest.skip("this machine has the Graphcore tools")
    result = ipu_meter(0, 1)
    assert isinstance(result, Unavailable)
    assert "gcipuinfo is not installed" in result.reason and "gc-monitor is not on PATH" in result.reason
