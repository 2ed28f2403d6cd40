"""`accelbench summarize` on sampling sets, from a submission tree built by hand: synthetic draws
written with `write_draws`, results, score and manifest signed as the runner and the packer sign
them. So the table, the CSV, the figures and the refusals are checked in seconds, without a
sampler (the real smoke run is `accelbench run mcmc_alpha`)."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import shutil
from pathlib import Path

import numpy as np
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from accelbench.errors import UserError
from accelbench.report.sampling_plots import diagnostics_figure, rank_bins, rank_histograms, trace_figure
from accelbench.report.sampling_summary import CSV_COLUMNS, NOT_SCORED, header, set_notes
from accelbench.report.summarize import Summary, load_summary, verified_draws, write_summary
from accelbench.results.draws import Draws, draws_file_name, heldout_file_name, write_draws, write_heldout
from accelbench.results.files import write_json_atomic
from accelbench.results.models import (
    BenchmarkScore,
    CacheClear,
    DatasetRecord,
    DiagnosticsPoint,
    DrawsFile,
    Energy,
    HeldOutFile,
    Provenance,
    SamplerRecord,
    SamplingEfficiency,
    SamplingQuality,
    SamplingRunResult,
    SamplingTiming,
    ScoredRun,
    SignedSamplingRunResult,
    SystemRecord,
)
from accelbench.rules.loader import load_rules
from accelbench.submission.layout import MANIFEST, ResultSet, SubmissionManifest
from accelbench.trust.signing import sign_document

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SET = "results/cpu/mcmc_alpha/smoke"
CHAINS, DRAWS, PARAMETERS = 2, 60, 5
NOW = "2026-01-02T03:04:05+00:00"
NO_METER = "no power meter in this test"
# (seed, converged, time to target s, rhat, ess bulk, ess tail, acceptance per chain, step size per chain)
RUNS = (
    (11, True, 30.0, 1.0123, 87.6, 164.0, (0.81, 0.77), (0.0049, 0.0051)),
    (12, True, 40.0, 1.0301, 55.25, 51.0, (0.9, 0.88), (0.0042, 0.0044)),
    (13, False, 50.0, 1.0712, 31.0, 20.5, (0.7, 0.72), (0.006, 0.0058)),
)
# what the table must show for them, written out by hand
SHOWN = (
    {"run": "run_1 (dropped)", "R-hat": "1.0123", "ESS bulk": "87.6", "ESS tail": "164", "converged": "yes",
     "time to target": "30.0 s", "ESS/s": "2.92", "acceptance per chain": "0.81, 0.77",
     "step size per chain": "0.0049, 0.0051"},
    {"run": "run_2", "R-hat": "1.0301", "ESS bulk": "55.2", "ESS tail": "51", "converged": "yes",
     "time to target": "40.0 s", "ESS/s": "1.38", "acceptance per chain": "0.90, 0.88",
     "step size per chain": "0.0042, 0.0044"},
    {"run": "run_3 (dropped)", "R-hat": "1.0712", "ESS bulk": "31", "ESS tail": "20.5", "converged": "no",
     "time to target": "not reached (stopped at 50.0 s)", "ESS/s": "0.62", "acceptance per chain": "0.70, 0.72",
     "step size per chain": "0.006, 0.0058"},
)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def synthetic_draws(seed: int) -> Draws:
    rng = np.random.default_rng(seed)
    states = rng.standard_normal((CHAINS, DRAWS, PARAMETERS)).astype(np.float32)
    return Draws(states, -0.5 * (states.astype(np.float64) ** 2).sum(axis=2), rng.random((CHAINS, DRAWS)) < 0.8)


def sampling_result(index: int, directory: Path) -> SamplingRunResult:
    """Run `index` of RUNS, its draws and held-out file written into `directory`."""
    seed, converged, seconds, rhat, bulk, tail, acceptance, step_size = RUNS[index - 1]
    draws_path, heldout_path = directory / draws_file_name(index), directory / heldout_file_name(draws_file_name(index))
    write_draws(draws_path, synthetic_draws(seed))
    write_heldout(heldout_path, {"inputs": np.zeros((4, 3), np.float32), "targets": np.zeros(4, np.float32)})
    curve = [DiagnosticsPoint(draws_per_chain=n, elapsed_s=seconds * n / DRAWS, rhat=rhat + 0.1 * (DRAWS - n) / DRAWS,
                              ess_bulk=bulk * n / DRAWS, ess_tail=tail * n / DRAWS, predictive=None)
             for n in (20, 40, DRAWS)]
    return SamplingRunResult(
        suite_version="0.1.0", rules_version="v1", workload="mcmc_alpha", scale="smoke", division="closed",
        mode="to_target", run_index=index, seed=seed, created_at=NOW,
        system=SystemRecord(name="cpu", platform="cpu", device="host CPU (reference)",
                            implementation="accelbench.reference.mcmc_alpha.sampling", world_size=1,
                            launcher="single process"),
        environment=Provenance(hostname_sha256="0" * 64, os="Linux", kernel="6", python="3.11", cpu_model="cpu",
                               cpu_count=2, memory_bytes=None, accelerators=[], accelerator_software={},
                               packages={}, container={}, suite_git_commit=None, suite_git_dirty=None,
                               implementation_sha256="1" * 64, numerics_env={}),
        dataset=DatasetRecord(id="mcmc_alpha/smoke", generator_version="1.0", seed=1, splits={}),
        hyperparameters={"precision": "fp32", "chains": CHAINS},
        energy=Energy(available=False, reason=NO_METER), cache_clear=CacheClear(cleared=False, detail="a test"),
        timing=SamplingTiming(init_s=2.0, init_budget_s=1200.0, burn_in_s=1.0, run_s=seconds, time_to_train_s=seconds),
        quality=SamplingQuality(
            metric="predictive_log_likelihood", split="val", direction="at_least", target=-1.5, achieved=-1.25,
            converged=converged, stop_reason="converged" if converged else "the budget, without convergence",
            measurements={"rhat": rhat, "ess_bulk": bulk, "ess_tail": tail}, summaries="synthetic", curve=curve,
            max_draws_per_chain=400),
        sampler=SamplerRecord(chains=CHAINS, leapfrog_steps=100, burn_in=100, adaptation_steps=80,
                              initial_state_sha256="2" * 64, step_size=list(step_size),
                              burn_in_acceptance=list(acceptance), acceptance=list(acceptance)),
        efficiency=SamplingEfficiency(ess_per_s=bulk / seconds, s_per_effective_sample=seconds / bulk,
                                      j_per_effective_sample=None),
        draws=DrawsFile(file=draws_path.name, sha256=_sha256(draws_path), chains=CHAINS, draws_per_chain=DRAWS,
                        parameters=PARAMETERS),
        heldout=HeldOutFile(file=heldout_path.name, sha256=_sha256(heldout_path), content_sha256="3" * 64),
    )


def build_tree(root: Path, key: Ed25519PrivateKey) -> Path:
    """A submission of one scored sampling set of RUNS: the middle run kept, the others dropped."""
    directory = root / SET
    directory.mkdir(parents=True)
    runs = []
    for index in range(1, len(RUNS) + 1):
        result = sampling_result(index, directory)
        path = directory / f"run_{index}.json"
        write_json_atomic(path, sign_document(result.model_dump(mode="json"), key))
        runs.append(ScoredRun(file=path.name, sha256=_sha256(path), seed=result.seed,
                              converged=result.quality.converged, time_to_train_s=result.timing.time_to_train_s,
                              achieved=result.quality.achieved))
    score = BenchmarkScore(suite_version="0.1.0", rules_version="v1", workload="mcmc_alpha", scale="smoke",
                           division="closed", system="cpu", minimum_runs=1, max_non_converged=1, runs=runs,
                           dropped=["run_1.json", "run_3.json"], non_converged=1, score_s=40.0, valid=True,
                           reason="ok", created_at=NOW)
    write_json_atomic(directory / "score.json", sign_document(score.model_dump(mode="json"), key))
    files = {path.relative_to(root).as_posix(): _sha256(path) for path in sorted(root.rglob("*")) if path.is_file()}
    manifest = SubmissionManifest(
        suite_version="0.1.0", rules_version="v1", submitter="Acme Sampling", division="closed", created_at=NOW,
        systems={}, public_keys={}, files=files, result_sets=[ResultSet(
            system="cpu", workload="mcmc_alpha", scale="smoke", mode="to_target", directory=SET,
            runs=[f"{SET}/{run.file}" for run in runs], score=f"{SET}/score.json",
            implementation="accelbench.reference.mcmc_alpha.sampling", code="code/cpu/mcmc_alpha",
            code_sha256="1" * 64)],
    )
    write_json_atomic(root / MANIFEST, sign_document(manifest.model_dump(mode="json"), key))
    return root


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    return build_tree(tmp_path_factory.mktemp("sampling") / "acme", Ed25519PrivateKey.generate())


@pytest.fixture(scope="module")
def summary(tree: Path) -> Summary:
    return load_summary([tree])


@pytest.fixture(scope="module")
def written(summary: Summary, tmp_path_factory) -> Path:
    """The summary of `tree`, written once for the tests that read its files."""
    out = tmp_path_factory.mktemp("summary")
    write_summary(summary, out)
    return out


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def bounds_text() -> str:
    """The rules' bounds at smoke, as the set's notes name them (read here: another rule set may differ)."""
    signs = {"at_most": "≤", "at_least": "≥"}
    return ", ".join(f"{b.metric} {signs[b.direction]} {b.value['smoke']:g}"
                     for b in load_rules("mcmc_alpha").quality.bounds)


# --- the table -----------------------------------------------------------------------------------


def test_the_table_shows_what_each_signed_result_states(summary: Summary, written: Path) -> None:
    (s,) = summary.sampling
    markdown = (written / "summary.md").read_text()
    rows = [_cells(line) for line in markdown.splitlines() if line.startswith("| run_")]
    assert len(rows) == len(RUNS)
    for cells, shown in zip(rows, SHOWN):
        row = dict(zip(header(s), cells))
        assert {name: row[name] for name in shown} == shown
        assert row["draws per chain / budget"] == f"{DRAWS} / 400"
        assert row["val predictive log likelihood vs target"] == "-1.2500 (target ≥ -1.5)"
        assert row["J per effective sample"] == "n/a"
    assert "Olympic score (time to target): 40.0 s." in markdown
    assert f"Bounds at smoke: {bounds_text()};" in markdown
    assert f"Energy: not measured: {NO_METER}." in markdown
    assert markdown.index("## Sampling") > markdown.index("- ")  # after the submissions, as its own section


def test_the_csv_parses_back_to_the_signed_numbers(tree: Path, written: Path) -> None:
    rows = list(csv.DictReader((written / "summary_sampling.csv").open()))
    assert list(rows[0]) == list(CSV_COLUMNS)
    for row, (seed, converged, seconds, rhat, bulk, tail, acceptance, step_size) in zip(rows, RUNS):
        signed = SignedSamplingRunResult.model_validate_json((tree / SET / row["run"]).read_bytes())
        assert (int(row["seed"]), row["converged"]) == (seed, "true" if converged else "false")
        assert (float(row["rhat"]), float(row["ess_bulk"]), float(row["ess_tail"])) == (rhat, bulk, tail)
        assert float(row["ess_per_s"]) == signed.efficiency.ess_per_s
        assert float(row["time_to_target_s"]) == seconds
        assert [float(x) for x in row["acceptance"].split(";")] == list(acceptance)
        assert [float(x) for x in row["step_size"].split(";")] == list(step_size)
        assert (float(row["score_s"]), row["score_valid"]) == (40.0, "true")
    assert [row["dropped"] for row in rows] == ["true", "false", "true"]


def test_a_set_without_a_score_says_so(summary: Summary) -> None:
    (s,) = summary.sampling
    assert f"Olympic score (time to target): {NOT_SCORED}." in set_notes(dataclasses.replace(s, verdict=None))


# --- the figures ---------------------------------------------------------------------------------


def test_every_run_has_a_trace_and_a_rank_png_and_the_set_its_diagnostics(written: Path) -> None:
    stem = "01_cpu_mcmc_alpha_smoke"
    expected = [f"sampling_diagnostics_{stem}.png"] + [f"sampling_{kind}_{stem}_run_{i}.png"
                                                      for kind in ("rank", "trace") for i in (1, 2, 3)]
    assert sorted(path.name for path in written.glob("*.png")) == sorted(expected)
    for name in expected:
        data = (written / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    page = (written / "summary.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(expected)
    assert page.index("<h2>Sampling</h2>") < page.index("</body></html>")
    markdown = (written / "summary.md").read_text()
    assert all(f"]({name})" in markdown for name in expected)


def test_the_figures_trace_the_draws_themselves(summary: Summary) -> None:
    (s,) = summary.sampling
    run = s.runs[0]
    draws = synthetic_draws(RUNS[0][0])
    assert list(run.traces) == ["log posterior (lp)", "theta[0], the first parameter",
                                f"theta[{PARAMETERS - 1}], the last parameter"]
    axes = trace_figure(s, run).axes
    for ax, values in zip(axes, (draws.target_log_prob, draws.states[:, :, 0], draws.states[:, :, -1])):
        lines = ax.get_lines()
        assert len(lines) == CHAINS
        for line, chain in zip(lines, values):
            np.testing.assert_array_equal(line.get_ydata(), chain)


def test_the_diagnostics_figure_draws_each_curve_and_the_rules_bounds(summary: Summary) -> None:
    (s,) = summary.sampling
    axes = diagnostics_figure(s).axes
    bounds = {b.metric: b.value["smoke"] for b in load_rules("mcmc_alpha").quality.bounds}
    for ax, metric in zip(axes, ("rhat", "ess_bulk", "ess_tail")):
        flat = [list(line.get_ydata()) for line in ax.get_lines() if len(set(line.get_ydata())) == 1
                and len(line.get_ydata()) == 2]
        assert [bounds[metric]] * 2 in flat
        curves = [line for line in ax.get_lines() if len(line.get_xdata()) == 3]
        assert [list(line.get_xdata()) for line in curves] == [[20, 40, DRAWS]] * len(RUNS)
        assert [line.get_ydata()[-1] for line in curves] == [run[{"rhat": 3, "ess_bulk": 4, "ess_tail": 5}[metric]]
                                                             for run in RUNS]


def test_a_run_without_kept_draws_gets_a_figure_that_says_why(summary: Summary) -> None:
    (s,) = summary.sampling
    empty = dataclasses.replace(s.runs[0], draws_per_chain=0, stop_reason="non-finite log-probability",
                                traces={name: np.zeros((CHAINS, 0)) for name in s.runs[0].traces})
    texts = [text.get_text() for ax in trace_figure(s, empty).axes for text in ax.texts]
    assert texts == ["no kept draws: non-finite log-probability"]


def test_rank_histograms_are_flat_for_mixed_chains_and_split_for_separated_ones() -> None:
    mixed = np.random.default_rng(3).standard_normal((2, 400))
    edges, counts = rank_histograms(mixed)
    assert counts.shape == (2, rank_bins(400)) == (2, 19)  # ArviZ's bins: ceil(2 log2 400) + 1
    assert list(counts.sum(axis=1)) == [400, 400] and (edges[0], edges[-1]) == (0, 800)
    assert counts.max() < 2 * 400 / 19  # no bin near double the uniform count
    separated = np.stack([np.arange(400.0), np.arange(400.0) + 1000])  # chain 0 below every draw of chain 1
    _, counts = rank_histograms(separated)
    half = counts.shape[1] // 2
    assert counts[0, half + 1:].sum() == 0 and counts[1, :half].sum() == 0
    _, tied = rank_histograms(np.ones((2, 400)))  # ties share their average rank, as ArviZ ranks them
    assert list(tied.sum(axis=1)) == [400, 400] and np.count_nonzero(tied.sum(axis=0)) == 1


# --- refusals ------------------------------------------------------------------------------------


def test_a_missing_draws_file_is_refused_in_one_line(tree: Path, tmp_path: Path) -> None:
    damaged = shutil.copytree(tree, tmp_path / "tree")
    (damaged / SET / "run_2.draws.nc").unlink()
    with pytest.raises(UserError) as err:
        load_summary([damaged])
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"{damaged / SET / 'run_2.json'} does not verify, so it is not summarized: "
                              "run `accelbench validate` on it")
    assert "run_2.draws.nc" in message and "missing" in message


def test_draws_changed_after_their_run_verified_are_refused(tree: Path, tmp_path: Path) -> None:
    damaged = shutil.copytree(tree, tmp_path / "tree")
    run_file = damaged / SET / "run_1.json"
    verified = SignedSamplingRunResult.model_validate_json(run_file.read_bytes())
    write_draws(damaged / SET / "run_1.draws.nc", synthetic_draws(99))
    with pytest.raises(UserError, match=r"run_1\.draws\.nc does not verify.*no longer matches the sha256"):
        verified_draws(run_file, verified)
