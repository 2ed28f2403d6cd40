"""How `container run` starts an image: the volumes, the user, the environment, the command.

The suite runs as the calling user's uid:gid, so the results it writes on the mounted volume are
that user's and the private key (mode 0600, mounted read-only) is readable by it. The image's
identity goes in as environment variables, which the suite records in every result's provenance.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import platformdirs

from accelbench.container.access import accelerator_access
from accelbench.errors import UserError
from accelbench.trust.keys import load_or_create_key

RESULTS, KEYS, DATA, CACHE = "/results", "/keys", "/data", "/cache"


@dataclass(frozen=True)
class ImageIdentity:
    reference: str  # what the user asked for, e.g. accelbench/gpu:0.1.0-1a2b3c4d5e6f
    image_id: str  # sha256 of the local image config
    repo_digest: str | None  # registry digest, once the image has been pushed or pulled

    @property
    def digest(self) -> str:
        """What results record: the registry digest where there is one, else the image id."""
        return self.repo_digest or self.image_id


@dataclass(frozen=True)
class RunPlan:
    image: str
    command: list[str]
    options: dict[str, Any] = field(default_factory=dict)  # keyword arguments of containers.create


def host_directory(path: Path, what: str) -> Path:
    path = path.expanduser().resolve()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise UserError(f"cannot create the {what} directory {path} ({err.strerror}): pass another one") from None
    return path


def plan_run(
    vendor: str,
    identity: ImageIdentity,
    pytest_arguments: list[str],
    *,
    results_dir: Path,
    key: Path | None,
    data_dir: Path | None,
    environ: Mapping[str, str] = os.environ,
    dev: Path = Path("/dev"),
    user: tuple[int, int] | None = None,
) -> RunPlan:
    from docker.types import Mount

    uid, gid = user or (os.getuid(), os.getgid())
    if uid == 0:
        raise UserError(
            "refusing to run the suite as root (the image would refuse too): "
            "run accelbench container run as an ordinary user in the docker group"
        )
    access = accelerator_access(vendor, environ, dev)
    _, key_path, _ = load_or_create_key(key)  # refuses a shared or foreign key here, on the host
    key_path = key_path.resolve()
    data_root = data_dir or Path(environ.get("ACCELBENCH_DATA_DIR") or platformdirs.user_cache_dir("accelbench"))
    mounts = [
        Mount(RESULTS, str(host_directory(results_dir, "results")), type="bind"),
        Mount(KEYS, str(key_path.parent), type="bind", read_only=True),
        Mount(DATA, str(host_directory(data_root, "dataset")), type="bind"),
    ]
    if vendor == "ipu":
        cache = Path(platformdirs.user_cache_dir("accelbench")) / "poptorch-executables"
        mounts.append(Mount(CACHE, str(host_directory(cache, "executable cache")), type="bind"))
    environment = {
        "ACCELBENCH_KEY": f"{KEYS}/{key_path.name}",
        "ACCELBENCH_IMAGE": identity.reference,
        "ACCELBENCH_IMAGE_DIGEST": identity.digest,
        **access.pop("environment", {}),
    }
    options = {
        "mounts": mounts,
        "environment": environment,
        "user": f"{uid}:{gid}",
        "init": True,  # a real PID 1 forwards Ctrl-C and docker stop to pytest
        **access,
    }
    return RunPlan(identity.reference, list(pytest_arguments), options)
