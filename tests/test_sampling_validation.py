"""`accelbench validate` on a sampling submission: one real mcmc_alpha smoke run (TFP's HMC on this
CPU), packaged, is valid, and each one-defect mutation of its draws or its claims is found by the
check that owns it, in one line. A case that rewrites a file beside the run records its new
SHA-256 in run_1.json, re-signs it, re-scores the set and re-hashes the manifest, so only the
sampling checks can catch it. (The draws are megabytes, too big for the golden overlays of
tests/golden; these cases are built from the real run at test time.)"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest

from accelbench.judging.scoring import olympic_score
from accelbench.results.draws import Draws, read_draws, write_draws
from accelbench.rules.loader import load_rules
from accelbench.trust.keys import generate_key
from accelbench.validation.validator import validate_submission

from validation_cases import Tree, package_runs

pytest.importorskip("tensorflow_probability", reason="mcmc_alpha's reference needs accelbench[tf]")

SET_DIR = "results/cpu/mcmc_alpha/smoke"
RUN = f"{SET_DIR}/run_1.json"
DRAWS = f"{SET_DIR}/run_1.draws.nc"
HELDOUT = f"{SET_DIR}/run_1.heldout.npz"
RULES = load_rules("mcmc_alpha")


def build_sampling_submission(workdir: Path):
    """One mcmc_alpha smoke run with the real suite (seed 7), packaged; about 30 s."""
    env = dict(os.environ, ACCELBENCH_CONFIG_DIR=str(workdir / "config"),
               ACCELBENCH_DATA_DIR=os.environ.get("ACCELBENCH_DATA_DIR", str(workdir / "data")))
    key_path = workdir / "signing.pem"
    key = generate_key(key_path)
    results = workdir / "results"
    completed = subprocess.run(
        [sys.executable, "-m", "accelbench", "run", "mcmc_alpha", "--scale", "smoke", "--runs", "1", "--seed", "7",
         "--results-dir", str(results), "--key", str(key_path)],
        env=env, cwd=workdir, capture_output=True, text=True, timeout=900, check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return package_runs(results / "cpu" / "mcmc_alpha" / "smoke", key, workdir), key


def reseal(tree: Tree, change: Callable[[dict], None] = lambda doc: None) -> None:
    """CHANGE run_1.json, record the hashes of the files beside it, re-sign, re-score, re-hash the manifest."""
    def rehash(doc: dict) -> None:
        change(doc)
        for section in ("draws", "heldout"):
            path = tree.path(f"{SET_DIR}/{doc[section]['file']}")
            if path.is_file():
                doc[section]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    tree.edit(RUN, rehash)
    run = tree.read(RUN)
    time = run["timing"]["time_to_train_s"] if run["quality"]["converged"] else None
    outcome = olympic_score([time], RULES.runs.minimum["smoke"], RULES.runs.max_non_converged)

    def rescore(score: dict) -> None:
        score["runs"] = [{"file": "run_1.json", "sha256": hashlib.sha256(tree.path(RUN).read_bytes()).hexdigest(),
                          "seed": run["seed"], "converged": run["quality"]["converged"], "time_to_train_s": time,
                          "achieved": run["quality"]["achieved"]}]
        score.update(dropped=[], non_converged=outcome.non_converged, score_s=outcome.value_s, valid=outcome.valid,
                     reason=outcome.reason)
    tree.edit(f"{SET_DIR}/score.json", rescore)
    tree.reseal_manifest()


def rewrite_draws(tree: Tree, change: Callable[[Draws], Draws], record: Callable[[dict], None] = lambda d: None):
    draws = change(read_draws(tree.path(DRAWS)))
    write_draws(tree.path(DRAWS), draws)

    def update(doc: dict) -> None:
        doc["draws"]["draws_per_chain"] = draws.draws_per_chain
        record(doc)
    reseal(tree, update)


def chains_cut_short(tree: Tree) -> None:
    rewrite_draws(tree, lambda d: Draws(d.states[:, :-10], d.target_log_prob[:, :-10], d.accepted[:, :-10]))


def chain_duplicated(tree: Tree) -> None:
    def duplicate(d: Draws) -> Draws:
        states, log_prob, accepted = d.states.copy(), d.target_log_prob.copy(), d.accepted.copy()
        states[1], log_prob[1], accepted[1] = states[0], log_prob[0], accepted[0]
        return Draws(states, log_prob, accepted)
    rewrite_draws(tree, duplicate)


def draws_edited(tree: Tree) -> None:
    def shift(d: Draws) -> Draws:
        states = d.states.copy()
        states[0, :, -1] += 0.5  # the output bias of chain 0: every prediction moves
        return Draws(states, d.target_log_prob, d.accepted)
    rewrite_draws(tree, shift)


def diagnostics_claimed(tree: Tree) -> None:
    reseal(tree, lambda doc: doc["quality"]["measurements"].__setitem__("rhat", 1.0001))


def predictive_claimed(tree: Tree) -> None:
    reseal(tree, lambda doc: doc["quality"].__setitem__("achieved", doc["quality"]["achieved"] + 0.05))


def faster_per_effective_sample(tree: Tree) -> None:
    reseal(tree, lambda doc: doc["efficiency"].__setitem__("s_per_effective_sample",
                                                           doc["efficiency"]["s_per_effective_sample"] / 2))


def convergence_denied(tree: Tree) -> None:
    reseal(tree, lambda doc: doc["quality"].__setitem__("converged", False))


def start_elsewhere(tree: Tree) -> None:
    reseal(tree, lambda doc: doc["sampler"].__setitem__("initial_state_sha256", "0" * 64))


def fewer_leapfrog_steps(tree: Tree) -> None:
    reseal(tree, lambda doc: doc["sampler"].__setitem__("leapfrog_steps", 10))


def heldout_swapped(tree: Tree) -> None:
    with np.load(tree.path(HELDOUT)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    arrays["val_alpha"] = arrays["val_alpha"] * 0.5
    with open(tree.path(HELDOUT), "wb") as out:
        np.savez(out, **arrays)
    reseal(tree)


def draws_unreadable(tree: Tree) -> None:
    tree.path(DRAWS).write_bytes(b"not a netcdf file")
    reseal(tree)


def draws_changed_after_signing(tree: Tree) -> None:
    draws = read_draws(tree.path(DRAWS))
    draws.states[0, 0, 0] += 1.0
    write_draws(tree.path(DRAWS), draws)
    tree.reseal_manifest()


class Case(NamedTuple):
    name: str
    apply: Callable[[Tree], None]
    check: str
    fragment: str
    alone: bool = True


CASES = [
    Case("chains_cut_short", chains_cut_short, "sampling.stop_rule", "blocks of", alone=False),
    Case("chain_duplicated", chain_duplicated, "sampling.chains", "chain 1 repeats chain 0", alone=False),
    Case("draws_edited", draws_edited, "sampling.diagnostics", "the draws give", alone=False),
    Case("diagnostics_claimed", diagnostics_claimed, "sampling.diagnostics", "quality.measurements.rhat is 1.0001"),
    Case("predictive_claimed", predictive_claimed, "sampling.diagnostics", "on the held-out split"),
    Case("faster_per_effective_sample", faster_per_effective_sample, "sampling.diagnostics",
         "efficiency.s_per_effective_sample is"),
    Case("convergence_denied", convergence_denied, "sampling.stop_rule", "quality.converged is false, but the draws"),
    Case("start_elsewhere", start_elsewhere, "sampling.settings", "the chains started elsewhere"),
    Case("fewer_leapfrog_steps", fewer_leapfrog_steps, "sampling.settings", "sampler.leapfrog_steps is 10"),
    Case("heldout_swapped", heldout_swapped, "sampling.heldout", "the predictive score would be computed on other"),
    Case("draws_unreadable", draws_unreadable, "sampling.draws", "not a readable draws file"),
    Case("draws_changed_after_signing", draws_changed_after_signing, "run.integrity", "does not match the sha256",
         alone=False),
]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return build_sampling_submission(tmp_path_factory.mktemp("sampling_submission"))


@pytest.fixture
def tree(pristine, tmp_path):
    root, key = pristine
    return Tree.copy(root, tmp_path / "submission", key)


def errors(report):
    return [f for f in report.findings if f.severity == "error"]


@pytest.mark.integration
def test_the_packaged_sampling_submission_is_valid(pristine):
    report = validate_submission(pristine[0])
    assert report.findings == ()
    assert report.valid and (report.result_sets, report.runs) == (1, 1)


@pytest.mark.integration
@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_each_sampling_defect_is_found_by_its_check(case, tree):
    case.apply(tree)
    report = validate_submission(tree.root)
    assert not report.valid and report.exit_code == 1
    found = [f for f in errors(report) if f.check == case.check and case.fragment in f.message]
    assert found, [f.as_json() for f in report.findings]
    if case.alone:
        assert {f.check for f in errors(report)} == {case.check}, [f.as_json() for f in report.findings]
    assert all("\n" not in f.message for f in report.findings)
