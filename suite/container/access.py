"""What a container needs to reach the accelerators: the docker run flags, as SDK arguments.

GPU: every GPU through the NVIDIA container toolkit (`--gpus all`), the host IPC namespace and
unlimited locked memory for NCCL, and a 64 MiB stack, as NVIDIA's own images are run. IPU: the
/dev/ipu* nodes of PCIe cards (what gc-docker passes), or on an IPU-over-Fabric pod the host
network, the RDMA devices, IPC_LOCK and the V-IPU settings from the environment.
"""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any, Mapping

from accelbench.errors import UserError

STACK_BYTES = 64 * 1024 * 1024
IPUOF_SETTINGS = (
    "IPUOF_VIPU_API_HOST", "IPUOF_VIPU_API_PORT", "IPUOF_VIPU_API_PARTITION_ID",
    "IPUOF_VIPU_API_GCD_ID", "IPUOF_VIPU_API_TIMEOUT", "IPUOF_LOG_LEVEL",
)


def gpu_access() -> dict[str, Any]:
    from docker.types import DeviceRequest, Ulimit

    return {
        "device_requests": [DeviceRequest(count=-1, capabilities=[["gpu"]])],
        "ipc_mode": "host",
        "ulimits": [
            Ulimit(name="memlock", soft=-1, hard=-1),
            Ulimit(name="stack", soft=STACK_BYTES, hard=STACK_BYTES),
        ],
    }


def ipu_device_nodes(dev: Path) -> list[Path]:
    """The character devices /dev/ipuN, /dev/ipuN_ex, _mailbox, _mem of every PCIe IPU."""
    return sorted(p for p in dev.glob("ipu*") if stat.S_ISCHR(p.stat().st_mode))


def ipu_access(environ: Mapping[str, str], dev: Path = Path("/dev")) -> dict[str, Any]:
    from docker.types import Ulimit

    if environ.get("IPUOF_VIPU_API_HOST"):
        rdma = dev / "infiniband"
        if not rdma.is_dir():
            raise UserError(
                f"IPUOF_VIPU_API_HOST is set but {rdma} does not exist: IPU-over-Fabric needs the "
                "host's RDMA devices (run on a pod host)"
            )
        return {
            "network_mode": "host",
            "ipc_mode": "host",
            "cap_add": ["IPC_LOCK"],
            "devices": [f"{rdma}:/dev/infiniband:rwm"],
            "ulimits": [Ulimit(name="memlock", soft=-1, hard=-1)],
            "environment": {name: environ[name] for name in IPUOF_SETTINGS if environ.get(name)},
        }
    nodes = ipu_device_nodes(dev)
    if not nodes:
        raise UserError(
            f"no IPU here: no {dev}/ipu* devices and IPUOF_VIPU_API_HOST is not set "
            "(on a pod, export the V-IPU settings of your partition first)"
        )
    return {"devices": [f"{node}:/dev/{node.name}:rwm" for node in nodes]}


def accelerator_access(vendor: str, environ: Mapping[str, str], dev: Path = Path("/dev")) -> dict[str, Any]:
    return gpu_access() if vendor == "gpu" else ipu_access(environ, dev)
