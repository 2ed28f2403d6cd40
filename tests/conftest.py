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
