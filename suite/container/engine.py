"""The Docker engine, through the Docker SDK: connect, build with progress, inspect, run.

Every failure the engine reports (none reachable, a failed build step, an image that is not
there, no GPU runtime) reaches the user as one line naming the fix, never a traceback.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Mapping

from accelbench.container.images import BuildPlan, context_archive
from accelbench.container.launch import ImageIdentity, RunPlan
from accelbench.errors import UserError

Report = Callable[[str], None]
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


def first_line(error: Exception) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def connect(environ: Mapping[str, str] = os.environ) -> Any:
    """A client for the engine that DOCKER_HOST (or the default socket) names."""
    import docker

    where = environ.get("DOCKER_HOST") or DEFAULT_SOCKET
    try:
        return docker.from_env(environment=dict(environ))
    except docker.errors.DockerException:
        raise UserError(
            f"no Docker engine reachable at {where}: start the Docker daemon, or point DOCKER_HOST at one"
        ) from None


def build(client: Any, plan: BuildPlan, report: Report) -> str:
    """Build the plan's image, printing the engine's progress; the new image's id."""
    import docker

    image_id = None
    with context_archive(plan) as archive:
        try:
            for chunk in client.api.build(
                fileobj=archive, custom_context=True, dockerfile=plan.vendor.dockerfile,
                tag=plan.tag, buildargs=plan.build_args, labels=plan.labels, rm=True,
                decode=True,
            ):
                if "error" in chunk:
                    raise UserError(f"docker build of {plan.vendor.dockerfile} failed: {chunk['error'].strip()}")
                if "stream" in chunk and chunk["stream"].strip():
                    report(chunk["stream"].rstrip())
                image_id = chunk.get("aux", {}).get("ID", image_id)
        except docker.errors.APIError as err:
            raise UserError(f"docker build of {plan.vendor.dockerfile} failed: {first_line(err)}") from None
    if image_id is None:
        raise UserError(f"docker build of {plan.vendor.dockerfile} ended without an image id: see the output above")
    return image_id


def identify(client: Any, reference: str) -> ImageIdentity:
    import docker

    try:
        image = client.images.get(reference)
    except docker.errors.ImageNotFound:
        raise UserError(
            f"image {reference} is not on this Docker engine: build it with "
            "accelbench container build, or pass --image"
        ) from None
    digests = image.attrs.get("RepoDigests") or []
    return ImageIdentity(reference, image.id, digests[0] if digests else None)


def run(client: Any, plan: RunPlan, report: Report) -> int:
    """Run the suite in a container, streaming its output; the container's exit status."""
    import docker

    try:
        container = client.containers.run(plan.image, command=plan.command, detach=True, **plan.options)
    except docker.errors.APIError as err:
        message = first_line(err)
        if "capabilities: [[gpu]]" in message:
            message += ": install the NVIDIA container toolkit on this host"
        raise UserError(f"cannot start {plan.image}: {message}") from None
    try:
        for chunk in container.logs(stream=True, follow=True):
            report(chunk.decode("utf-8", "replace").rstrip("\n"))
        return int(container.wait()["StatusCode"])
    finally:
        container.remove(force=True)
