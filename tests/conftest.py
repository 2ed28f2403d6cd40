"""Shared helpers for the suite's own tests."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """Config, cache and results under tmp_path, so tests never touch the user's files."""
    env = dict(os.environ)
    env["ACCELBENCH_CONFIG_DIR"] = str(tmp_path / "config")
    env["ACCELBENCH_DATA_DIR"] = str(tmp_path / "data")
    monkeypatch.setenv("ACCELBENCH_CONFIG_DIR", env["ACCELBENCH_CONFIG_DIR"])
    monkeypatch.setenv("ACCELBENCH_DATA_DIR", env["ACCELBENCH_DATA_DIR"])
    return env


def run_command(args, env, cwd, timeout=600):
    """Run `python -m ARGS...` the way a user would, capturing both streams."""
    return subprocess.run(
        [sys.executable, "-m", *args], env=env, cwd=cwd, capture_output=True, text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def smoke_runs(tmp_path_factory):
    """One real set of 3 smoke runs (signed, scored), made once per test session:
    (workspace root, environment, results directory of the set, signing key path)."""
    root = tmp_path_factory.mktemp("smoke_runs")
    env = {**os.environ, "ACCELBENCH_CONFIG_DIR": str(root / "config"),
           "ACCELBENCH_DATA_DIR": os.environ.get("ACCELBENCH_DATA_DIR", str(root / "data"))}
    key = root / "signing.pem"
    keygen = run_command(["accelbench", "keygen", "--key", str(key)], env, root)
    assert keygen.returncode == 0, keygen.stderr
    made = run_command(["accelbench", "run", "neuron_inverter", "--scale", "smoke", "--runs", "3",
                        "--seed", "7", "--results-dir", str(root / "results"), "--key", str(key)],
                       env, root)
    assert made.returncode == 0, made.stdout + made.stderr
    return root, env, root / "results" / "cpu" / "neuron_inverter" / "smoke", key


def as_ordinary_user(command: list[str]) -> list[str]:
    """COMMAND run as uid/gid 1000 when the tests run as root (CI machines do), since the images'
    entrypoint and `container run` refuse root: a user namespace maps 1000 onto the real user,
    so files stay readable; as any other user, COMMAND itself."""
    if os.getuid() != 0:
        return command
    return ["unshare", "--user", "--map-user=1000", "--map-group=1000", *command]


POSTGRES_URL_ENV = "ACCELBENCH_TEST_POSTGRES_URL"


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the store's tests: the one .ci/run started ($ACCELBENCH_TEST_POSTGRES_URL),
    else one started here by .ci/start-postgres (Debian's package, a Unix socket only) and stopped after."""
    if os.environ.get(POSTGRES_URL_ENV):
        yield os.environ[POSTGRES_URL_ENV]
        return
    started = subprocess.run(["bash", str(REPO / ".ci" / "start-postgres")], capture_output=True, text=True,
                             timeout=300, check=False)
    assert started.returncode == 0, "cannot start PostgreSQL for the store's tests:\n" + started.stderr
    url = started.stdout.strip()
    yield url
    subprocess.run(["bash", str(REPO / ".ci" / "start-postgres"), "stop", url.split("host=", 1)[1]],
                   capture_output=True, timeout=120, check=False)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """An empty results store, once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    from sqlalchemy import create_engine

    from accelbench.history.store import Base, open_store

    url = request.getfixturevalue("postgres_url")
    open_store(url).close()  # the tables exist, then empty them for this test
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    Base.metadata.drop_all(engine)
    engine.dispose()
    return url
