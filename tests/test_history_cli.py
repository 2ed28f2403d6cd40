"""`accelbench store import|list`, `history` and `compare` as a user runs them: tables, a plot,
exit 1 on a regression, one line (exit 2, no traceback) on bad input."""

import sys

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conftest import REPO, run_command

sys.path.insert(0, str(REPO / "benchmarks"))
from result_clones import GOLDEN_RUN, clone_run


@pytest.fixture(scope="module")
def sets(tmp_path_factory):
    """Three commits of three runs each: the third halves the throughput."""
    root = tmp_path_factory.mktemp("sets")
    key = Ed25519PrivateKey.generate()
    for day, (commit, rate) in enumerate([("a" * 40, 800.0), ("b" * 40, 805.0), ("c" * 40, 400.0)], 1):
        for index in range(1, 4):
            clone_run(GOLDEN_RUN, root / commit[0], index, key, commit=commit,
                      created_at=f"2026-11-0{day}T10:0{index}:00+00:00", samples_per_s=rate + 3 * index)
    return root


def accelbench(args, env, cwd):
    return run_command(["accelbench", *args], env, cwd, timeout=300)


def test_import_list_history_and_compare(sets, isolated_env, tmp_path):
    db = ["--db", f"sqlite:///{tmp_path / 'store.sqlite'}"]
    imported = accelbench(["store", "import", str(sets), *db, "--label", "nightly"], isolated_env, tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "9 new record(s), 0 already stored (import 1)" in imported.stdout
    again = accelbench(["store", "import", str(sets / "a"), *db], isolated_env, tmp_path)
    assert "0 new record(s), 3 already stored (nothing new)" in again.stdout
    listed = accelbench(["store", "list", *db], isolated_env, tmp_path)
    assert "| cpu | neuron_inverter | smoke | closed | 9 | 3 |" in listed.stdout

    history = accelbench(["history", "neuron_inverter", "--metric", "samples_per_s", "--out", str(tmp_path / "h"), *db],
                         isolated_env, tmp_path)
    assert history.returncode == 0, history.stderr
    assert "| cccccccccc |" in history.stdout
    assert "step at cccccccccc: samples_per_s" in history.stdout and "worse" in history.stdout
    assert (tmp_path / "h" / "history_cpu_neuron_inverter_smoke_samples_per_s.png").stat().st_size > 10_000

    same = accelbench(["compare", "commit=aaaa", "bbbbbbbb", *db], isolated_env, tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    slower = accelbench(["compare", "commit=bbbb", str(sets / "c"), *db], isolated_env, tmp_path)
    assert slower.returncode == 1, slower.stdout + slower.stderr
    assert "| samples_per_s |" in slower.stdout and "| regression |" in slower.stdout
    assert "1 significant regression(s): cpu/neuron_inverter/smoke (closed) samples_per_s 0.50" in slower.stdout


@pytest.mark.parametrize("args, says", [
    (["store", "list", "--db", "postgresql://nobody@127.0.0.1:9/none?connect_timeout=2"], "cannot open the store"),
    (["compare", "nothing-here", "commit=abc123"], "BASE 'nothing-here' is neither an existing path"),
    (["history", "neuron_inverter"], "the history of cpu/neuron_inverter/smoke (closed) is empty"),
    (["history", "neuron_inverter", "--by", "week"], "--by 'week': use commit or date"),
])
def test_bad_input_is_one_line(isolated_env, tmp_path, args, says):
    done = accelbench(args, isolated_env, tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_tampered_file_is_refused_and_nothing_is_imported(sets, isolated_env, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(sets / "a", copy)
    (copy / "run_2.json").write_text((copy / "run_2.json").read_text().replace('"seed": ', '"seed":  '))
    db = ["--db", f"sqlite:///{tmp_path / 'store.sqlite'}"]
    done = accelbench(["store", "import", str(copy), *db], isolated_env, tmp_path)
    assert done.returncode == 2 and "run_2.json" in done.stderr
    listed = accelbench(["store", "list", *db], isolated_env, tmp_path)
    assert "is empty" in listed.stdout
