"""The launch scripts for many accelerators (srun, poprun) parse, and every option they pass to
`accelbench run` is one that command has (they cannot run here: no Slurm, no IPUs)."""

import re
import subprocess

import pytest

from conftest import REPO, run_command

SCRIPTS = sorted((REPO / "scripts").glob("*"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_is_valid_bash(script):
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_script_options_exist(script, tmp_path, isolated_env):
    text = script.read_text().replace("\\\n", " ")
    command = text[text.index("accelbench run"):].splitlines()[0]
    options = set(re.findall(r"(--[a-z-]+)", command))
    assert "--mode" in options and "--hparam" in options
    help_text = run_command(["accelbench", "run", "--help"], isolated_env, tmp_path).stdout
    assert all(option in help_text for option in options), (options, help_text)
