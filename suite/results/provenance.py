"""What the run ran on, collected automatically for every result.

The hostname is stored hashed: results are shared publicly and a raw hostname leaks site
layout. Environment variables that change numerics are recorded because they change results.
"""

from __future__ import annotations

import hashlib
import os
import platform
import socket
import subprocess
from importlib import metadata
from pathlib import Path

from accelbench import __version__
from accelbench.results.models import Provenance

NUMERICS_ENV = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUBLAS_WORKSPACE_CONFIG",
    "NVIDIA_TF32_OVERRIDE",
    "TORCH_ALLOW_TF32_CUBLAS_OVERRIDE",
    "CUDA_VISIBLE_DEVICES",
    "CUDA_LAUNCH_BLOCKING",
    "NCCL_ALGO",
    "NCCL_PROTO",
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_CUDNN_DETERMINISTIC",
    "TF_DETERMINISTIC_OPS",
    "XLA_FLAGS",
    "POPLAR_ENGINE_OPTIONS",
    "POPLAR_RUNTIME_OPTIONS",
    "POPTORCH_CACHE_DIR",
)
PACKAGES = (
    "torch", "numpy", "scipy", "pydantic", "h5py", "mlperf-logging", "cryptography", "rfc8785",
    "nvidia-ml-py", "tensorflow", "tensorflow-probability", "snntorch", "snntorch-ipu",
    "poptorch", "popdist", "timm", "torchvision",
)
CONTAINER_ENV = ("ACCELBENCH_IMAGE", "ACCELBENCH_IMAGE_DIGEST", "ACCELBENCH_IMAGE_REVISION")
SUITE_ROOT = Path(__file__).resolve().parents[2]  # the checkout holding suite/, when run from one


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def accelerators() -> list[str]:
    import torch  # here, not above: the validator hashes code trees with this module, and starts fast

    if torch.cuda.is_available():
        return [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    return []


def accelerator_software() -> dict[str, str]:
    """CUDA runtime, cuDNN, the GPU driver and each GPU's VBIOS (its firmware) where torch and
    NVML can tell; with no GPU, at most the CUDA runtime torch was built with."""
    import torch  # here, not above: see accelerators()

    found: dict[str, str] = {}
    if torch.version.cuda:
        found["cuda_runtime"] = torch.version.cuda
    if torch.cuda.is_available():
        cudnn = torch.backends.cudnn.version()
        if cudnn:
            found["cudnn"] = str(cudnn)
        try:
            import pynvml

            pynvml.nvmlInit()
            found["nvidia_driver"] = str(pynvml.nvmlSystemGetDriverVersion())
            for index in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(index)
                found[f"gpu{index}_vbios"] = str(pynvml.nvmlDeviceGetVbiosVersion(handle))
            pynvml.nvmlShutdown()
        except Exception:  # nvidia-ml-py missing or NVML unusable: the driver stays unrecorded
            pass
    return found


def container(environ=os.environ) -> dict[str, str]:
    """Inside a container? Which image (the suite's images export their name and digest)."""
    inside = Path("/.dockerenv").exists() or Path("/run/.containerenv").exists()
    found = {"inside": "yes" if inside else "no"}
    found.update({name.removeprefix("ACCELBENCH_").lower(): environ[name]
                  for name in CONTAINER_ENV if environ.get(name)})
    return found


def package_versions() -> dict[str, str]:
    versions = {"accelbench": __version__}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def git_state(root: Path = SUITE_ROOT) -> tuple[str | None, bool | None]:
    """The suite checkout's commit and whether it has uncommitted changes (None outside git)."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(status.strip())


def tree_sha256(directory: Path) -> str:
    """SHA-256 over the relative paths and bytes of every .py file under `directory`."""
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.py")):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


def collect(implementation_dir: Path) -> Provenance:
    commit, dirty = git_state()
    return Provenance(
        hostname_sha256=hashlib.sha256(socket.gethostname().encode()).hexdigest(),
        os=platform.platform(),
        kernel=platform.release(),
        python=platform.python_version(),
        cpu_model=cpu_model(),
        cpu_count=os.cpu_count() or 0,
        memory_bytes=memory_bytes(),
        accelerators=accelerators(),
        accelerator_software=accelerator_software(),
        packages=package_versions(),
        container=container(),
        suite_git_commit=commit,
        suite_git_dirty=dirty,
        implementation_sha256=tree_sha256(implementation_dir),
        numerics_env={name: os.environ[name] for name in NUMERICS_ENV if name in os.environ},
    )
