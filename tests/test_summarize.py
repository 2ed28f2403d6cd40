"""`accelbench summarize`: the arithmetic by hand, the tables and the page, and reading only
verified submission trees, end to end on real smoke runs."""

from __future__ import annotations

import base64
import csv
import io
import json
import math
import re
import shutil
from pathlib import Path

import pytest

from accelbench.energy.trace import trace_energy_j
from accelbench.errors import UserError
from accelbench.judging.scoring import olympic_score
from accelbench.report.summarize import (
    RunSummary,
    SetSummary,
    SubmissionInfo,
    Summary,
    Verdict,
    confidence_interval,
    load_summary,
    write_summary,
)
from accelbench.report.summary_html import render_html
from accelbench.report.summary_plots import (
    convergence_figure,
    power_figure,
    report_images,
)
from accelbench.report.summary_tables import CSV_COLUMNS, HEADER, markdown_table, render_csv
from accelbench.results.files import write_json_atomic
from accelbench.results.models import CurvePoint, SignedBenchmarkScore
from accelbench.submission.layout import MANIFEST
from accelbench.submission.packaging import package
from accelbench.submission.systems import describe_this_machine
from accelbench.trust.keys import load_key

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
NO_METER = "no power meter on this host"
HOSTILE = '<script>alert("pwned")</script>'
T_975_2_DOF = 4.3026527  # Student t, 97.5th percentile, 2 degrees of freedom (from a table)


# --- hand-built sets, for the arithmetic ---------------------------------------------------------


def run(index: int, time_s: float, *, converged: bool = True, dropped: bool = False,
        energy_j: float | None = None, achieved: float | None = 0.25,
        trace: tuple[tuple[float, float], ...] = ()) -> RunSummary:
    curve = (CurvePoint(epoch=1, value=0.40, elapsed_s=time_s / 3),
             CurvePoint(epoch=2, value=0.30, elapsed_s=2 * time_s / 3),
             CurvePoint(epoch=3, value=achieved, elapsed_s=time_s))
    return RunSummary(
        file=f"run_{index}.json", seed=100 + index, converged=converged, dropped=dropped,
        time_to_train_s=time_s, achieved=achieved, curve=curve, epoch_s=(time_s / 3,) * 3,
        samples_per_s=1000.0 + index, energy_j=energy_j,
        energy_note="rapl" if energy_j is not None else NO_METER, power_trace=trace,
    )


def scored_set(times: list[float | None], *, energies: list[float | None] | None = None,
               submitter: str = "Acme HPC", minimum_runs: int = 3, max_non_converged: int = 1,
               traces: dict[int, tuple[tuple[float, float], ...]] | None = None) -> SetSummary:
    """A to-target set whose drops and verdict come from the real olympic scorer; None marks a
    run that did not converge (it ran 120 s before stopping)."""
    score = olympic_score(times, minimum_runs, max_non_converged)
    energies = energies or [None] * len(times)
    runs = tuple(
        run(i + 1, 120.0 if t is None else t, converged=t is not None, dropped=i in score.dropped,
            energy_j=energies[i], achieved=0.25 if t is not None else 0.31,
            trace=(traces or {}).get(i + 1, ()))
        for i, t in enumerate(times)
    )
    return SetSummary(
        submitter=submitter, division="closed", system="a100_n2", platform="a100",
        device="NVIDIA A100-SXM4-40GB", world_size=2, workload="neuron_inverter", scale="small",
        mode="to_target", metric="val mse", direction="at_most", target=0.28, runs=runs,
        verdict=Verdict(score.value_s, score.valid, score.reason),
    )


def fixed_epoch_set() -> SetSummary:
    runs = tuple(run(i, t, converged=False) for i, t in ((1, 30.0), (2, 36.0), (3, 33.0)))
    return SetSummary(
        submitter="Acme HPC", division="closed", system="cpu_n4", platform="cpu", device="host CPU",
        world_size=4, workload="neuron_inverter", scale="small", mode="fixed_epochs",
        metric="val mse", direction="at_most", target=0.28, runs=runs, verdict=None,
    )


def summary_of(*sets: SetSummary) -> Summary:
    info = SubmissionInfo("subs/acme", sets[0].submitter, "closed", "v1", "2024-05-01T12:00:00+00:00",
                          "00112233aabbccdd")
    return Summary((info,), sets)


# --- the arithmetic ------------------------------------------------------------------------------


def test_confidence_interval_is_student_t_over_the_values() -> None:
    # mean 65, sample standard deviation sqrt((25 + 1 + 16) / 2) = sqrt(21)
    low, high = confidence_interval([60.0, 66.0, 69.0])
    half = T_975_2_DOF * math.sqrt(21) / math.sqrt(3)
    assert (low, high) == pytest.approx((65 - half, 65 + half), rel=1e-8)
    assert type(low) is float  # a numpy scalar would not print as a plain number in the CSV
    assert confidence_interval([60.0]) is None
    assert confidence_interval([]) is None


def test_interval_covers_only_the_runs_the_olympic_mean_keeps() -> None:
    summary = scored_set([50.0, 55.0, 60.0, 65.0, 90.0])  # 50 and 90 are dropped
    assert [r.file for r in summary.runs if r.dropped] == ["run_1.json", "run_5.json"]
    assert summary.verdict.score_s == pytest.approx(60.0)
    half = T_975_2_DOF * 5.0 / math.sqrt(3)  # kept 55, 60, 65: standard deviation 5
    assert summary.confidence_interval_s == pytest.approx((60 - half, 60 + half))


def test_a_non_converged_run_counts_as_the_slowest_and_is_dropped() -> None:
    summary = scored_set([50.0, 55.0, None, 60.0, 65.0],
                         energies=[900.0, 1000.0, 4000.0, 1100.0, 1300.0])
    assert summary.converged == 4
    assert [r.file for r in summary.kept] == ["run_2.json", "run_4.json", "run_5.json"]
    assert summary.verdict == Verdict(60.0, True, "ok")
    half = T_975_2_DOF * 5.0 / math.sqrt(3)
    assert summary.confidence_interval_s == pytest.approx((60 - half, 60 + half))
    energy = summary.energy
    assert energy.joules == pytest.approx((1000.0 + 1100.0 + 1300.0) / 3)  # not the dropped 4000
    assert energy.note == "rapl"
    assert summary.end_metric == 0.25  # median of 0.25, 0.25, 0.31, 0.25, 0.25


def test_two_non_converged_runs_invalidate_the_set_and_its_interval() -> None:
    summary = scored_set([50.0, None, None, 60.0, 65.0], energies=[1.0] * 5)
    assert summary.verdict.score_s is None and not summary.verdict.valid
    assert summary.confidence_interval_s is None
    assert summary.energy.joules is None
    assert summary.energy.note == f"not valid: {summary.verdict.reason}"
    cells = dict(zip(HEADER, _row_cells(summary)))
    assert cells["runs (converged)"] == "5 (3 converged)"
    assert cells["time to train"].startswith("not valid: 2 of 5 runs did not converge")
    assert cells["95% CI of the mean"] == "n/a (a kept run did not converge)"


def test_energy_is_not_averaged_over_fewer_runs_than_the_time() -> None:
    summary = scored_set([50.0, 55.0, 60.0, 65.0], energies=[900.0, None, 1100.0, 1200.0])
    assert summary.energy.joules is None
    assert summary.energy.note == f"not measured: {NO_METER}"


def test_fixed_epoch_sets_show_time_per_epoch_and_point_to_scaling() -> None:
    summary = fixed_epoch_set()
    assert summary.time_per_epoch_s == 11.0  # median of the runs' mean epochs 10, 12, 11
    assert summary.confidence_interval_s is None
    cells = dict(zip(HEADER, _row_cells(summary)))
    assert cells["time to train"] == "fixed epochs: 11.0 s per epoch; see `accelbench scaling`"
    assert cells["runs (converged)"] == "3 (fixed epochs)"
    assert "accelbench scaling" in cells["energy to train"]


# --- tables --------------------------------------------------------------------------------------


def _row_cells(summary: SetSummary) -> list[str]:
    row = markdown_table(summary_of(summary)).splitlines()[2]
    return [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row)[1:-1]]


def test_markdown_has_one_row_per_set_with_its_numbers() -> None:
    three = scored_set([50.0, 60.0, 70.0], submitter="Pipe | Corp")
    five = scored_set([50.0, 55.0, 60.0, 65.0, 90.0], energies=[1e5] * 5)
    lines = markdown_table(summary_of(three, five, fixed_epoch_set())).splitlines()
    assert len(lines) == 2 + 3
    assert lines[0] == "| " + " | ".join(HEADER) + " |"
    assert all(line.count(" | ") == len(HEADER) - 1 for line in lines[2:])
    assert lines[2].startswith("| Pipe \\| Corp | a100_n2 | a100 (NVIDIA A100-SXM4-40GB) | 2 | ")
    assert "| 60.0 s | n/a (1 kept run) | val mse 0.25 (target ≤ 0.28) |" in lines[2]
    assert f"| not measured: {NO_METER} | 1,002 |" in lines[2]
    half = T_975_2_DOF * 5.0 / math.sqrt(3)
    assert f"| 60.0 s | {60 - half:,.1f} – {60 + half:,.1f} s |" in lines[3]
    assert "| 100 kJ (rapl) |" in lines[3]
    assert "fixed epochs" in lines[4]


def test_csv_round_trips_every_number() -> None:
    sets = (scored_set([50.0, 55.0, None, 60.0, 65.4321], submitter='Acme, "HPC"',
                       energies=[1.5e5, 1.25e5, None, 1.0e5, 0.987654321e5]),
            scored_set([50.0, None, None]), fixed_epoch_set())
    rows = list(csv.DictReader(io.StringIO(render_csv(summary_of(*sets)))))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == 3
    first, invalid, fixed = rows
    low, high = sets[0].confidence_interval_s
    assert first["submitter"] == 'Acme, "HPC"'
    assert float(first["time_to_train_s"]) == sets[0].verdict.score_s
    assert (float(first["ci95_low_s"]), float(first["ci95_high_s"])) == (low, high)
    assert float(first["energy_to_train_j"]) == sets[0].energy.joules
    assert (first["valid"], first["runs"], first["converged"]) == ("true", "5", "4")
    assert first["dropped_runs"] == "run_1.json;run_3.json"
    assert float(first["samples_per_s_median"]) == sets[0].samples_per_s
    assert (invalid["valid"], invalid["time_to_train_s"], invalid["ci95_low_s"]) == ("false", "", "")
    assert invalid["verdict"] == sets[1].verdict.reason
    assert (fixed["mode"], fixed["valid"], fixed["time_to_train_s"]) == ("fixed_epochs", "", "")
    assert float(fixed["time_per_epoch_s"]) == 11.0


# --- figures and the page ------------------------------------------------------------------------


def test_convergence_plot_marks_the_target_point_and_dashes_dropped_runs() -> None:
    summary = scored_set([50.0, 60.0, 70.0])
    by_epoch = convergence_figure(summary).axes[0]
    curves = [line for line in by_epoch.lines if line.get_marker() == "o"]
    assert [line.get_linestyle() for line in curves] == ["--", "-", "--"]  # runs 1 and 3 dropped
    stars = [line for line in by_epoch.lines if line.get_marker() == "*"]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in stars] == [(3, 0.25)] * 3
    target = [line for line in by_epoch.lines if line.get_linestyle() == ":"]
    assert list(target[0].get_ydata()) == [0.28, 0.28]


def test_power_trace_energy_sums_its_steps() -> None:
    trace = ((1.0, 200.0), (3.0, 300.0))  # 200 W for the first second, then 300 W for two
    assert trace_energy_j(trace) == 200.0 + 600.0
    legend = power_figure("Power", {"run_1": trace}).axes[0].get_legend().get_texts()
    assert legend[0].get_text() == "run_1: mean 267 W, 800 J over 3.0 s"


def data_uri_pngs(page: str) -> list[bytes]:
    return [base64.b64decode(data) for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


def assert_self_contained(page: str) -> None:
    assert not re.search(r"<script", page, re.IGNORECASE)
    assert not re.search(r"\b(src|href)\s*=\s*(?![\"']?data:image/png;base64,)", page, re.IGNORECASE)
    assert "http" not in page.replace("http-equiv", "")
    assert "<link" not in page.lower() and "@import" not in page
    images = data_uri_pngs(page)
    assert images and all(png.startswith(PNG_SIGNATURE) for png in images)
    assert page.count("<img") == len(images)


def test_html_is_self_contained_and_escapes_file_strings() -> None:
    hostile = '<script>alert("x")</script> & $\\alpha$'
    summary = summary_of(scored_set([50.0, 60.0, 70.0], submitter=hostile), fixed_epoch_set())
    images = report_images(summary)
    page = render_html(summary, images)
    assert_self_contained(page)
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; $\\alpha$" in page
    assert len(data_uri_pngs(page)) == 1 + 2  # time bars, two convergence plots
    assert "no power traces in these results" in page
    assert f"No energy to train in these results: not measured: {NO_METER}" in page


def test_power_profiles_and_energy_bars_appear_when_results_have_them() -> None:
    trace = tuple((t, 250.0 + 10 * (t % 2)) for t in range(0, 60, 1))
    measured = scored_set([50.0, 60.0, 70.0], energies=[1.2e4, 1.3e4, 1.5e4],
                          traces={1: trace, 2: trace[:50]})
    images = report_images(summary_of(measured))
    assert images.energy_to_train is not None and images.energy_to_train.png.startswith(PNG_SIGNATURE)
    assert [image.file for image in images.power] == ["power_01_a100_n2_neuron_inverter_small.png"]
    page = render_html(summary_of(measured), images)
    assert_self_contained(page)
    assert "no power traces" not in page
    assert len(data_uri_pngs(page)) == 4  # time, energy, power, convergence


# --- submission trees from real runs -------------------------------------------------------------


@pytest.fixture(scope="session")
def smoke_set(smoke_runs) -> Path:
    """The directory of the session's three real, signed smoke runs and their score."""
    return smoke_runs[2]


@pytest.fixture(scope="session")
def submissions(smoke_runs, tmp_path_factory) -> tuple[Path, Path]:
    """Two packaged submissions of the same real runs; the second's submitter is an injection
    attempt."""
    _, _, results, key = smoke_runs
    root = tmp_path_factory.mktemp("submissions")
    trees = []
    for name, submitter in (("acme", "Acme HPC"), ("hostile", HOSTILE)):
        system = root / f"{name}-system.json"
        system.write_text(describe_this_machine(submitter).model_dump_json())
        package([results], [system], root / name, load_key(key))
        trees.append(root / name)
    return trees[0], trees[1]


@pytest.mark.integration
def test_end_to_end_on_real_smoke_runs(smoke_set: Path, submissions: tuple[Path, Path],
                                       tmp_path: Path) -> None:
    summary = load_summary(list(submissions))
    score = SignedBenchmarkScore.model_validate_json((smoke_set / "score.json").read_bytes())
    runs = [json.loads(path.read_text()) for path in sorted(smoke_set.glob("run_*.json"))]
    assert [s.submitter for s in summary.sets] == ["Acme HPC", HOSTILE]
    acme = summary.sets[0]
    assert (acme.system, acme.platform, acme.world_size, acme.scale) == ("cpu", "cpu", 1, "smoke")
    assert acme.verdict == Verdict(score.score_s, score.valid, score.reason)
    assert sorted(run.file for run in acme.runs if run.dropped) == sorted(score.dropped)
    assert len(acme.kept) == 1 and acme.confidence_interval_s is None  # 3 runs keep 1
    assert acme.end_metric == sorted(r["quality"]["achieved"] for r in runs)[1]
    assert acme.samples_per_s == sorted(r["throughput"]["samples_per_s"] for r in runs)[1]
    assert acme.energy.note == f"not measured: {runs[0]['energy']['reason']}"

    written = write_summary(summary, tmp_path / "out")
    assert sorted(path.name for path in written) == [
        "convergence_01_cpu_neuron_inverter_smoke.png", "convergence_02_cpu_neuron_inverter_smoke.png",
        "summary.csv", "summary.html", "summary.md", "time_to_train.png",
    ]
    assert all(path.read_bytes().startswith(PNG_SIGNATURE) for path in written if path.suffix == ".png")
    page = (tmp_path / "out" / "summary.html").read_text()
    assert_self_contained(page)
    assert HOSTILE not in page and "&lt;script&gt;alert(&quot;pwned&quot;)&lt;/script&gt;" in page
    assert len(data_uri_pngs(page)) == 3
    assert "no power traces in these results" in page
    rows = list(csv.DictReader((tmp_path / "out" / "summary.csv").open()))
    assert [row["submitter"] for row in rows] == ["Acme HPC", HOSTILE]
    assert float(rows[0]["time_to_train_s"]) == score.score_s
    markdown = (tmp_path / "out" / "summary.md").read_text()
    assert markdown.count(f"| {seconds_text(score.score_s)} | n/a (1 kept run) |") == 2


def seconds_text(value: float) -> str:
    return f"{value:,.1f} s"


def tamper(path: Path, change) -> None:
    """Change a value and rewrite the file in accelbench's own layout, so only the signature
    (or a recorded hash) can catch it."""
    doc = json.loads(path.read_text())
    change(doc)
    write_json_atomic(path, doc)


SMOKE = "results/cpu/neuron_inverter/smoke"
TAMPERING = {
    "run": (f"{SMOKE}/run_2.json", lambda tree: tamper(tree / f"{SMOKE}/run_2.json",
                                                       lambda doc: doc.update(seed=doc["seed"] + 1))),
    "event log": (f"{SMOKE}/run_1.json", lambda tree: (tree / f"{SMOKE}/run_1.mllog").open("a").write("x\n")),
    "score": (f"{SMOKE}/score.json", lambda tree: tamper(tree / f"{SMOKE}/score.json",
                                                         lambda doc: doc.update(score_s=1.0))),
    "manifest": (MANIFEST, lambda tree: tamper(tree / MANIFEST, lambda doc: doc.update(submitter="Other"))),
    "missing run": (f"{SMOKE}/run_3.json", lambda tree: (tree / f"{SMOKE}/run_3.json").unlink()),
}


@pytest.mark.integration
@pytest.mark.parametrize("victim", sorted(TAMPERING))
def test_a_file_that_does_not_verify_is_refused_in_one_line(
    submissions: tuple[Path, Path], tmp_path: Path, victim: str
) -> None:
    tree = shutil.copytree(submissions[0], tmp_path / "tree")
    named, damage = TAMPERING[victim]
    damage(tree)
    with pytest.raises(UserError) as err:
        load_summary([submissions[1], tree])
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{tree / named} does not verify")
    assert "run `accelbench validate` on it" in message


@pytest.mark.integration
def test_untrusted_signers_and_missing_manifests_are_refused(
    submissions: tuple[Path, Path], tmp_path: Path
) -> None:
    with pytest.raises(UserError, match=r"submission\.json does not verify.*not among the trusted keys"):
        load_summary([submissions[0]], trusted_key_ids={"0000000000000000"})
    with pytest.raises(UserError, match=r"no submission\.json there"):
        load_summary([tmp_path])
