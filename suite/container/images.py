"""The two vendor images: which Dockerfile, which tag, which build arguments and context.

Tags carry the suite's version and git revision (`accelbench/gpu:0.1.0-1a2b3c4d5e6f`, with
`-dirty` when the checkout has uncommitted changes), so an image names the code it holds. The
build context is the checkout filtered the way Docker filters it: by `<Dockerfile>.dockerignore`
if present, else `.dockerignore`.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from accelbench import __version__
from accelbench.container.dockerfile import final_base, pinned_digest
from accelbench.errors import UserError
from accelbench.results.provenance import git_state


@dataclass(frozen=True)
class Vendor:
    name: str  # gpu | ipu
    dockerfile: str
    repository: str  # image name without the tag
    device: str  # what the image passes to pytest --device
    sdk_pattern: str | None = None  # vendor SDK tarball the build context must hold


VENDORS = {
    "gpu": Vendor("gpu", "Dockerfile.gpu", "accelbench/gpu", "a100"),
    "ipu": Vendor(
        "ipu", "Dockerfile.ipu", "accelbench/ipu", "ipu",
        sdk_pattern="containers/ipu/sdk/poplar_sdk-ubuntu_22_04-3.4.0*.tar.gz",
    ),
}


def vendor(name: str) -> Vendor:
    try:
        return VENDORS[name]
    except KeyError:
        raise UserError(f"unknown vendor '{name}': use one of {', '.join(VENDORS)}") from None


def checkout(context: Path, chosen: Vendor) -> Path:
    """The suite checkout to build from: it must hold the vendor's Dockerfile."""
    root = context.resolve()
    if not (root / chosen.dockerfile).is_file():
        raise UserError(
            f"{root} has no {chosen.dockerfile}: run from the accelbench checkout or pass --context"
        )
    return root


def image_tag(chosen: Vendor, revision: str | None, dirty: bool | None) -> str:
    suffix = f"-{revision[:12]}" if revision else "-nogit"
    return f"{chosen.repository}:{__version__}{suffix}{'-dirty' if dirty else ''}"


def vendor_sdk(root: Path, chosen: Vendor) -> Path | None:
    """The one SDK tarball the vendor's build needs (None if it needs none)."""
    if chosen.sdk_pattern is None:
        return None
    found = sorted(root.glob(chosen.sdk_pattern))
    if len(found) != 1:
        where = root / Path(chosen.sdk_pattern).parent
        what = "none" if not found else ", ".join(p.name for p in found)
        raise UserError(
            f"{where} must hold exactly one {Path(chosen.sdk_pattern).name} (found {what}): "
            f"download the Poplar SDK 3.4 for Ubuntu 22.04 from Graphcore and put it there"
        )
    return found[0]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def origin_url(root: Path) -> str:
    """Where the source lives, for the OCI source label: the git remote, else the local path."""
    try:
        return subprocess.run(
            ["git", "-C", str(root), "remote", "get-url", "origin"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return root.as_uri()


@dataclass(frozen=True)
class BuildPlan:
    vendor: Vendor
    root: Path
    tag: str
    build_args: dict[str, str]
    labels: dict[str, str]  # added to the Dockerfile's own labels: the base image


def plan_build(context: Path, vendor_name: str) -> BuildPlan:
    chosen = vendor(vendor_name)
    root = checkout(context, chosen)
    revision, dirty = git_state(root)
    tag = image_tag(chosen, revision, dirty)
    build_args = {
        "VERSION": __version__,
        "REVISION": f"{revision}{'-dirty' if dirty else ''}" if revision else "unknown",
        "SOURCE": origin_url(root),
        "IMAGE": tag,
    }
    sdk = vendor_sdk(root, chosen)
    if sdk is not None:
        build_args["POPLAR_SDK_SHA256"] = file_sha256(sdk)
    base = final_base((root / chosen.dockerfile).read_text())
    digest = pinned_digest(base)
    if digest is None:
        raise UserError(f"{chosen.dockerfile}: the base image {base} is not pinned by digest: add @sha256:...")
    labels = {
        "org.opencontainers.image.base.name": base.rpartition("@")[0],
        "org.opencontainers.image.base.digest": digest,
    }
    return BuildPlan(chosen, root, tag, build_args, labels)


def ignore_patterns(root: Path, dockerfile: str) -> list[str]:
    """The context filter Docker applies: `<Dockerfile>.dockerignore`, else `.dockerignore`."""
    for name in (f"{dockerfile}.dockerignore", ".dockerignore"):
        path = root / name
        if path.is_file():
            lines = (line.strip() for line in path.read_text().splitlines())
            return [line for line in lines if line and not line.startswith("#")]
    return []


def context_archive(plan: BuildPlan) -> IO[bytes]:
    """The build context as an uncompressed tar in a temporary file, rewound."""
    from docker.utils.build import tar

    archive = tempfile.NamedTemporaryFile(suffix=".tar")
    tar(str(plan.root), exclude=ignore_patterns(plan.root, plan.vendor.dockerfile),
        dockerfile=(plan.vendor.dockerfile, None), fileobj=archive)
    archive.seek(0)
    return archive
