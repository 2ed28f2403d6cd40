"""containers/entrypoint.py: its refusals, its pytest command, and a real smoke run through it."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from accelbench.trust.keys import generate_key

from conftest import REPO, as_ordinary_user

SCRIPT = REPO / "containers" / "entrypoint.py"
spec = importlib.util.spec_from_file_location("entrypoint", SCRIPT)
entrypoint = importlib.util.module_from_spec(spec)
spec.loader.exec_module(entrypoint)


def test_root_is_refused_and_an_ordinary_user_is_not():
    with pytest.raises(entrypoint.Refusal, match="refusing to run as root"):
        entrypoint.check_user(0)
    entrypoint.check_user(1000)


def test_a_missing_or_shared_key_is_refused_and_a_private_one_accepted(tmp_path):
    key = tmp_path / "keys" / "signing-key.pem"
    with pytest.raises(entrypoint.Refusal, match=r"no signing key at .*: mount the directory holding your key read-only"):
        entrypoint.check_key(key)
    generate_key(key)
    entrypoint.check_key(key)
    key.chmod(0o644)
    with pytest.raises(entrypoint.Refusal, match=r"readable or writable by group or others \(mode 0644\)"):
        entrypoint.check_key(key)


MOUNTINFO = (
    "22 1 0:21 / / rw,relatime - overlay overlay rw\n"
    "35 22 8:1 /home/me/results /results rw,relatime - ext4 /dev/sda1 rw\n"
    "36 22 8:1 /home/me/my\\040data /my\\040data rw,relatime - ext4 /dev/sda1 rw\n"
)


def test_mountinfo_is_read_with_its_octal_escapes():
    assert entrypoint.mount_points(MOUNTINFO) == {"/", "/results", "/my data"}


def test_only_a_path_on_a_mounted_volume_counts_as_one():
    points = entrypoint.mount_points(MOUNTINFO)
    assert entrypoint.on_volume(Path("/results"), points)
    assert entrypoint.on_volume(Path("/results/gpu_n1"), points)
    assert entrypoint.on_volume(Path("/my data/x"), points)
    assert not entrypoint.on_volume(Path("/tmp/results"), points)


def test_results_that_would_vanish_with_the_container_are_refused(tmp_path):
    with pytest.raises(entrypoint.Refusal, match="does not exist: mount one"):
        entrypoint.check_results_dir(tmp_path / "absent", require_volume=False, mountinfo=MOUNTINFO)
    with pytest.raises(entrypoint.Refusal, match="is not a mounted volume, so the results would vanish"):
        entrypoint.check_results_dir(tmp_path, require_volume=True, mountinfo=MOUNTINFO)
    entrypoint.check_results_dir(tmp_path, require_volume=False, mountinfo=MOUNTINFO)
    mounted = MOUNTINFO + f"40 22 8:1 /x {tmp_path.resolve()} rw - ext4 /dev/sda1 rw\n"
    entrypoint.check_results_dir(tmp_path, require_volume=True, mountinfo=mounted)


IMAGE_ENV = {"ACCELBENCH_DEVICE": "a100", "ACCELBENCH_RESULTS_DIR": "/results",
             "ACCELBENCH_KEY": "/keys/signing-key.pem"}


def test_arguments_pass_through_to_pytest_after_the_images_defaults():
    command = entrypoint.pytest_command(IMAGE_ENV, ["--scale=small", "--device=cpu"], Path("/suite"))
    assert command[1:] == ["-m", "pytest", "/suite", "-p", "no:cacheprovider", "--device=a100",
                           "--results-dir=/results", "--key=/keys/signing-key.pem",
                           "--scale=small", "--device=cpu"]
    with pytest.raises(entrypoint.Refusal, match="ACCELBENCH_KEY is not set"):
        entrypoint.pytest_command({**IMAGE_ENV, "ACCELBENCH_KEY": ""}, [], Path("/suite"))


def test_the_sdk_enable_script_is_sourced_once_before_the_suite_starts(tmp_path):
    assert entrypoint.sdk_enable_command({}, ["entrypoint.py"]) is None
    with pytest.raises(entrypoint.Refusal, match="enable script .* does not exist: rebuild the image"):
        entrypoint.sdk_enable_command({"ACCELBENCH_SDK_ENABLE": str(tmp_path / "enable")}, ["x"])
    enable = tmp_path / "enable"
    enable.write_text("export POPLAR_PROBE=enabled\n")
    environ = {"ACCELBENCH_SDK_ENABLE": str(enable)}
    command = entrypoint.sdk_enable_command(environ, ["-c", "import os; print(os.environ['POPLAR_PROBE'])"])
    ran = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert ran.stdout.strip() == "enabled", ran.stderr
    assert entrypoint.sdk_enable_command({**environ, entrypoint.SDK_ENABLED_MARK: "1"}, ["x"]) is None


def run_entrypoint(arguments: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    command = as_ordinary_user([sys.executable, str(SCRIPT), *arguments])
    return subprocess.run(command, env=env, cwd=env["HOME"], capture_output=True, text=True, timeout=900)


@pytest.mark.integration
def test_the_entrypoint_runs_the_suite_at_smoke_scale_and_signs_results(tmp_path):
    key = tmp_path / "keys" / "signing-key.pem"
    generate_key(key)
    (tmp_path / "results").mkdir()
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), "ACCELBENCH_DEVICE": "cpu",
           "ACCELBENCH_RESULTS_DIR": str(tmp_path / "results"), "ACCELBENCH_KEY": str(key),
           "ACCELBENCH_DATA_DIR": os.environ.get("ACCELBENCH_DATA_DIR", str(tmp_path / "data")),
           "ACCELBENCH_IMAGE": "accelbench/test:entrypoint", "ACCELBENCH_IMAGE_DIGEST": "sha256:" + "d" * 64}
    made = run_entrypoint(["--scale=smoke", "--seed=11", "-k", "neuron_inverter"], env)
    assert made.returncode == 0, made.stdout[-3000:] + made.stderr[-3000:]
    assert "-p no:cacheprovider --device=cpu" in made.stdout and "4 passed" in made.stdout  # 3 runs, the score
    results = tmp_path / "results" / "cpu" / "neuron_inverter" / "smoke"
    runs = sorted(results.glob("run_*.json"))
    assert len(runs) == 3
    verified = subprocess.run([sys.executable, "-m", "accelbench", "verify", *map(str, runs)],
                              capture_output=True, text=True, timeout=120)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    container = json.loads(runs[0].read_text())["environment"]["container"]
    assert container["image"] == "accelbench/test:entrypoint" and container["image_digest"] == "sha256:" + "d" * 64


def test_the_entrypoint_refuses_a_shared_key_in_one_line_before_pytest(tmp_path):
    key = tmp_path / "signing-key.pem"
    generate_key(key)
    key.chmod(0o640)
    (tmp_path / "home").mkdir()
    env = {**os.environ, "HOME": str(tmp_path / "home"), **IMAGE_ENV,
           "ACCELBENCH_RESULTS_DIR": str(tmp_path), "ACCELBENCH_KEY": str(key)}
    made = run_entrypoint(["--scale=smoke"], env)
    assert made.returncode == 2 and made.stdout == ""
    assert made.stderr.strip().splitlines() == [
        f"accelbench entrypoint: signing key {key} is readable or writable by group or others "
        f"(mode 0640): run chmod 600 {key}"]
