"""`accelbench container build|run` against a fake Docker engine: what the Docker SDK sends.

The real SDK talks HTTP to tests/fake_docker_engine.py, so these tests see the engine's view of
every call: the build context tar, the build arguments and labels, and the container's create
body (device requests, devices, mounts, ulimits, user, environment).
"""

from __future__ import annotations

import io
import json
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import docker
import pytest

from accelbench.container import engine
from accelbench.container.access import STACK_BYTES, accelerator_access
from accelbench.container.dockerfile import final_base
from accelbench.container.images import VENDORS, file_sha256, image_tag, plan_build
from accelbench.container.launch import ImageIdentity, plan_run
from accelbench.errors import UserError
from accelbench.results.provenance import git_state
from accelbench.trust.keys import generate_key

from conftest import REPO, as_ordinary_user
from fake_docker_engine import FakeDockerEngine

SDK_NAME = "poplar_sdk-ubuntu_22_04-3.4.0+1507-69d9d03fd8.tar.gz"


def accelbench(args: list[str], docker_host: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    command = as_ordinary_user([sys.executable, "-m", "accelbench", *args])
    return subprocess.run(command, cwd=cwd, env={**env, "DOCKER_HOST": docker_host},
                          capture_output=True, text=True, timeout=120)


def context_names(body: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        return set(archive.getnames())


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def fake_engine():
    with FakeDockerEngine(log_lines=("run1 PASSED\n", "3 passed\n"), exit_code=0) as running:
        yield running


def test_build_sends_the_gpu_dockerfile_tag_arguments_labels_and_a_filtered_context(fake_engine, isolated_env):
    made = accelbench(["container", "build", "--vendor", "gpu", "--context", str(REPO)],
                      fake_engine.url, REPO, isolated_env)
    assert made.returncode == 0, made.stderr
    build = fake_engine.last("POST", "/build")
    tag = image_tag(VENDORS["gpu"], *git_state(REPO))
    assert build.query["dockerfile"] == "Dockerfile.gpu" and build.query["t"] == tag
    arguments = json.loads(build.query["buildargs"])
    assert arguments["VERSION"] == "0.1.0" and arguments["IMAGE"] == tag
    assert arguments["REVISION"].startswith(git_state(REPO)[0])
    base = final_base((REPO / "Dockerfile.gpu").read_text())
    assert json.loads(build.query["labels"]) == {
        "org.opencontainers.image.base.name": base.rpartition("@")[0],
        "org.opencontainers.image.base.digest": base.rpartition("@")[2],
    }
    names = context_names(build.body)
    assert {"Dockerfile.gpu", "pyproject.toml", "suite/cli.py", "containers/entrypoint.py",
            "containers/requirements-gpu.lock", "rules/v1/neuron_inverter.toml"} <= names
    assert not {n for n in names if n.startswith((".git/", "tests/", ".venv/", "results/"))}
    assert "containers/requirements-ipu.lock" not in names
    assert f"built {tag} (image sha256:" in made.stdout and "Step 1/3" in made.stdout


def ipu_checkout(root: Path) -> Path:
    """A checkout holding what Dockerfile.ipu copies, plus a stand-in for the SDK tarball."""
    for name in ("Dockerfile.ipu", "Dockerfile.ipu.dockerignore", "pyproject.toml", "README.md",
                 "containers/entrypoint.py", "containers/requirements-ipu.lock", "suite/__init__.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes((REPO / name).read_bytes())
    (root / "containers/ipu/sdk").mkdir(parents=True)
    return root


def test_build_of_the_ipu_image_ships_the_sdk_and_records_its_checksum(fake_engine, isolated_env, tmp_path):
    root = ipu_checkout(tmp_path / "checkout")
    missing = accelbench(["container", "build", "--vendor", "ipu", "--context", str(root)],
                         fake_engine.url, root, isolated_env)
    assert missing.returncode == 2 and "must hold exactly one poplar_sdk-ubuntu_22_04-3.4.0" in missing.stderr
    sdk = root / "containers/ipu/sdk" / SDK_NAME
    sdk.write_bytes(b"not really an SDK")
    made = accelbench(["container", "build", "--vendor", "ipu", "--context", str(root)],
                      fake_engine.url, root, isolated_env)
    assert made.returncode == 0, made.stderr
    build = fake_engine.last("POST", "/build")
    assert build.query["dockerfile"] == "Dockerfile.ipu"
    assert build.query["t"] == "accelbench/ipu:0.1.0-nogit"
    assert json.loads(build.query["buildargs"])["POPLAR_SDK_SHA256"] == file_sha256(sdk)
    names = context_names(build.body)
    assert f"containers/ipu/sdk/{SDK_NAME}" in names and "containers/requirements-ipu.lock" in names


def test_a_failed_build_step_is_one_line(isolated_env):
    with FakeDockerEngine(build_error="COPY failed: no such file suite") as failing:
        made = accelbench(["container", "build", "--vendor", "gpu", "--context", str(REPO)],
                          failing.url, REPO, isolated_env)
    assert made.returncode == 2
    assert made.stderr.strip().splitlines() == [
        "accelbench: error: docker build of Dockerfile.gpu failed: COPY failed: no such file suite"]


def test_no_engine_is_one_line_naming_where_it_looked(isolated_env):
    host = f"tcp://127.0.0.1:{closed_port()}"
    for args in (["container", "build", "--vendor", "gpu"], ["container", "run", "--vendor", "gpu"]):
        made = accelbench(args, host, REPO, isolated_env)
        assert made.returncode == 2
        assert made.stderr.strip().splitlines() == [
            f"accelbench: error: no Docker engine reachable at {host}: "
            "start the Docker daemon, or point DOCKER_HOST at one"]


def signing_key(directory: Path) -> Path:
    key = directory / "keys" / "bench.pem"
    generate_key(key)
    return key


def test_run_starts_the_gpu_image_with_all_gpus_volumes_user_and_identity(fake_engine, isolated_env, tmp_path):
    built = accelbench(["container", "build", "--vendor", "gpu", "--context", str(REPO)],
                       fake_engine.url, REPO, isolated_env)
    assert built.returncode == 0, built.stderr
    tag = fake_engine.last("POST", "/build").query["t"]
    key = signing_key(tmp_path)
    made = accelbench(["container", "run", "--vendor", "gpu", "--image", tag,
                       "--results-dir", str(tmp_path / "results"), "--key", str(key),
                       "--data-dir", str(tmp_path / "data"), "--", "--scale=smoke", "--runs", "3"],
                      fake_engine.url, REPO, isolated_env)
    assert made.returncode == 0, made.stderr
    assert "run1 PASSED" in made.stdout and "3 passed" in made.stdout
    create = fake_engine.last("POST", "/containers/create").json()
    assert create["Image"] == tag and create["Cmd"] == ["--scale=smoke", "--runs", "3"]
    assert create["User"] == "1000:1000"
    environment = dict(item.split("=", 1) for item in create["Env"])
    assert environment["ACCELBENCH_KEY"] == "/keys/bench.pem"
    assert environment["ACCELBENCH_IMAGE"] == tag
    assert environment["ACCELBENCH_IMAGE_DIGEST"] == docker.DockerClient(base_url=fake_engine.url).images.get(tag).id
    host = create["HostConfig"]
    assert host["DeviceRequests"] == [
        {"Driver": "", "Count": -1, "DeviceIDs": [], "Capabilities": [["gpu"]], "Options": {}}]
    assert host["IpcMode"] == "host" and host["Init"] is True
    assert {"Name": "memlock", "Soft": -1, "Hard": -1} in host["Ulimits"]
    assert {"Name": "stack", "Soft": STACK_BYTES, "Hard": STACK_BYTES} in host["Ulimits"]
    mounts = {m["Target"]: (m["Source"], m["ReadOnly"], m["Type"]) for m in host["Mounts"]}
    assert mounts == {
        "/results": (str((tmp_path / "results").resolve()), False, "bind"),
        "/keys": (str(key.parent.resolve()), True, "bind"),
        "/data": (str((tmp_path / "data").resolve()), False, "bind"),
    }
    fake_engine.last("DELETE", "/containers/")  # removed once it exited


def test_run_exits_with_the_containers_status_and_refuses_a_missing_image(isolated_env, tmp_path):
    key = signing_key(tmp_path)
    with FakeDockerEngine(exit_code=3) as failing:
        missing = accelbench(["container", "run", "--vendor", "gpu", "--image", "accelbench/gpu:nope",
                              "--key", str(key)], failing.url, tmp_path, isolated_env)
        assert missing.returncode == 2
        assert "image accelbench/gpu:nope is not on this Docker engine" in missing.stderr
        accelbench(["container", "build", "--vendor", "gpu", "--context", str(REPO)], failing.url, REPO, isolated_env)
        tag = failing.last("POST", "/build").query["t"]
        made = accelbench(["container", "run", "--vendor", "gpu", "--image", tag, "--key", str(key),
                           "--results-dir", str(tmp_path / "results"), "--data-dir", str(tmp_path / "data")],
                          failing.url, tmp_path, isolated_env)
    assert made.returncode == 3, made.stderr


def test_the_registry_digest_is_what_results_record_once_there_is_one():
    digest = "accelbench/gpu@sha256:" + "a" * 64
    with FakeDockerEngine(repo_digests=(digest,)) as running:
        client = docker.DockerClient(base_url=running.url)
        plan = plan_build(REPO, "gpu")
        image_id = engine.build(client, plan, lambda line: None)
        identity = engine.identify(client, plan.tag)
    assert identity == ImageIdentity(plan.tag, image_id, digest) and identity.digest == digest


def ipu_nodes(dev: Path, count: int) -> None:
    """Stand-ins for PCIe IPU device nodes: links to a real character device."""
    dev.mkdir()
    for index in range(count):
        for suffix in ("", "_ex", "_mailbox", "_mem"):
            (dev / f"ipu{index}{suffix}").symlink_to("/dev/null")


def test_pcie_ipus_are_passed_as_their_device_nodes(tmp_path):
    ipu_nodes(tmp_path / "dev", 2)
    access = accelerator_access("ipu", {}, tmp_path / "dev")
    assert access["devices"][:4] == [
        f"{tmp_path}/dev/ipu0:/dev/ipu0:rwm", f"{tmp_path}/dev/ipu0_ex:/dev/ipu0_ex:rwm",
        f"{tmp_path}/dev/ipu0_mailbox:/dev/ipu0_mailbox:rwm", f"{tmp_path}/dev/ipu0_mem:/dev/ipu0_mem:rwm"]
    assert len(access["devices"]) == 8 and set(access) == {"devices"}


def test_an_ipu_over_fabric_pod_gets_host_network_rdma_and_the_vipu_settings(tmp_path):
    (tmp_path / "dev" / "infiniband").mkdir(parents=True)
    environ = {"IPUOF_VIPU_API_HOST": "vipu.local", "IPUOF_VIPU_API_PARTITION_ID": "p16", "OTHER": "x"}
    with FakeDockerEngine() as running:
        client = docker.DockerClient(base_url=running.url)
        identity = ImageIdentity("accelbench/ipu:0.1.0-nogit", "sha256:" + "b" * 64, None)
        plan = plan_run("ipu", identity, ["--scale=smoke"], results_dir=tmp_path / "results",
                        key=signing_key(tmp_path), data_dir=tmp_path / "data", environ=environ,
                        dev=tmp_path / "dev", user=(1000, 1000))
        assert engine.run(client, plan, lambda line: None) == 0
        create = running.last("POST", "/containers/create").json()
    host = create["HostConfig"]
    assert host["NetworkMode"] == "host" and host["IpcMode"] == "host" and host["CapAdd"] == ["IPC_LOCK"]
    assert host["Devices"] == [{"PathOnHost": f"{tmp_path}/dev/infiniband",
                                "PathInContainer": "/dev/infiniband", "CgroupPermissions": "rwm"}]
    assert {"Name": "memlock", "Soft": -1, "Hard": -1} in host["Ulimits"]
    environment = dict(item.split("=", 1) for item in create["Env"])
    assert environment["IPUOF_VIPU_API_HOST"] == "vipu.local"
    assert environment["IPUOF_VIPU_API_PARTITION_ID"] == "p16" and "OTHER" not in environment
    assert "/cache" in {m["Target"] for m in host["Mounts"]}  # PopTorch executables survive the run


def test_no_ipu_and_an_incomplete_pod_are_refused_in_one_line(tmp_path):
    (tmp_path / "dev").mkdir()
    with pytest.raises(UserError, match=r"no IPU here: no .*/ipu\* devices and IPUOF_VIPU_API_HOST is not set"):
        accelerator_access("ipu", {}, tmp_path / "dev")
    with pytest.raises(UserError, match="IPU-over-Fabric needs the host's RDMA devices"):
        accelerator_access("ipu", {"IPUOF_VIPU_API_HOST": "vipu"}, tmp_path / "dev")


def test_running_as_root_is_refused_before_anything_starts(tmp_path):
    identity = ImageIdentity("accelbench/gpu:x", "sha256:" + "c" * 64, None)
    with pytest.raises(UserError, match="refusing to run the suite as root"):
        plan_run("gpu", identity, [], results_dir=tmp_path / "r", key=signing_key(tmp_path),
                 data_dir=tmp_path / "d", user=(0, 0))
