"""The images' entrypoint: check the user, the key and the results volume, then run the suite.

`docker run IMAGE --scale=small --runs 5` runs
`pytest <installed suite> --device=$ACCELBENCH_DEVICE --results-dir=$ACCELBENCH_RESULTS_DIR
--key=$ACCELBENCH_KEY --scale=small --runs 5`: every argument passes through to pytest, after the
image's defaults, so a later `--device` or `--results-dir` wins. The dataset cache is
$ACCELBENCH_DATA_DIR, read by the suite itself.

Before pytest starts it refuses, in one line and with exit code 2: running as root; a signing key
that is missing, of the wrong kind, or readable by other users (results signed with a shared key
prove nothing); a results directory it cannot write; and, where the image asks for it
($ACCELBENCH_RESULTS_VOLUME=1), a results directory that is not a mounted volume, whose results
would vanish with the container. On the IPU image it first sources the Poplar SDK's enable
script ($ACCELBENCH_SDK_ENABLE) and re-executes itself under it.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

USAGE_ERROR = 2
SDK_ENABLED_MARK = "ACCELBENCH_SDK_ENABLED"
OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")  # mountinfo writes space, tab, newline, backslash so


class Refusal(Exception):
    """A reason not to start, already phrased as the one line the user sees."""


def required(environ: dict[str, str], name: str) -> str:
    value = environ.get(name, "")
    if not value:
        raise Refusal(f"{name} is not set: the accelbench images set it; outside one, export it")
    return value


def check_user(uid: int) -> None:
    if uid == 0:
        raise Refusal(
            "refusing to run as root: run the image as an ordinary user "
            "(its default user, or docker run --user $(id -u):$(id -g))"
        )


def check_key(path: Path) -> None:
    """The suite's own key checks (Ed25519, PEM, mode 0600), before any run starts."""
    from accelbench.errors import UserError
    from accelbench.trust.keys import load_key

    if not path.exists():
        raise Refusal(
            f"no signing key at {path}: mount the directory holding your key read-only, e.g. "
            f"-v ~/.config/accelbench:{path.parent}:ro (accelbench container run does this)"
        )
    try:
        load_key(path)
    except UserError as err:
        raise Refusal(str(err)) from None


def mount_points(mountinfo: str) -> set[str]:
    """The mount points listed in /proc/self/mountinfo text (field 5, octal escapes decoded)."""
    points = set()
    for line in mountinfo.splitlines():
        fields = line.split(" ")
        if len(fields) > 4:
            points.add(OCTAL_ESCAPE.sub(lambda match: chr(int(match.group(1), 8)), fields[4]))
    return points


def on_volume(path: Path, points: set[str]) -> bool:
    """Whether `path` lies on a mount other than the container's root file system."""
    for candidate in (path, *path.parents):
        if str(candidate) in points:
            return str(candidate) != "/"
    return False


def check_results_dir(path: Path, *, require_volume: bool, mountinfo: str) -> None:
    if not path.is_dir():
        raise Refusal(f"results directory {path} does not exist: mount one, e.g. -v $PWD/results:{path}")
    if not os.access(path, os.W_OK | os.X_OK):
        raise Refusal(
            f"results directory {path} is not writable by uid {os.getuid()}: "
            "run as its owner (docker run --user $(id -u):$(id -g)) or chmod it"
        )
    if require_volume and not on_volume(path.resolve(), mount_points(mountinfo)):
        raise Refusal(
            f"results directory {path} is not a mounted volume, so the results would vanish with "
            f"the container: add -v $PWD/results:{path}"
        )


def suite_directory() -> Path:
    """The installed suite package, whose test_*.py modules are the benchmarks pytest collects."""
    import accelbench

    return Path(accelbench.__file__).resolve().parent


def pytest_command(environ: dict[str, str], arguments: list[str], suite_dir: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", str(suite_dir),
        "-p", "no:cacheprovider",  # site-packages is read-only to the run's user
        f"--device={required(environ, 'ACCELBENCH_DEVICE')}",
        f"--results-dir={required(environ, 'ACCELBENCH_RESULTS_DIR')}",
        f"--key={required(environ, 'ACCELBENCH_KEY')}",
        *arguments,
    ]


def sdk_enable_command(environ: dict[str, str], argv: list[str]) -> list[str] | None:
    """bash sourcing the SDK's enable script and then re-running this script, if still needed."""
    script = environ.get("ACCELBENCH_SDK_ENABLE")
    if not script or environ.get(SDK_ENABLED_MARK):
        return None
    if not Path(script).is_file():
        raise Refusal(f"Poplar SDK enable script {script} (ACCELBENCH_SDK_ENABLE) does not exist: rebuild the image")
    return ["bash", "-c", 'source "$0" && exec "$@"', script, sys.executable, *argv]


def read_mountinfo() -> str:
    try:
        return Path("/proc/self/mountinfo").read_text()
    except OSError:
        return ""


def main(argv: list[str]) -> int:
    environ = dict(os.environ)
    try:
        enable = sdk_enable_command(environ, argv)
        if enable is not None:
            os.execvpe(enable[0], enable, {**environ, SDK_ENABLED_MARK: "1"})
        check_user(os.getuid())
        check_key(Path(required(environ, "ACCELBENCH_KEY")))
        check_results_dir(
            Path(required(environ, "ACCELBENCH_RESULTS_DIR")),
            require_volume=environ.get("ACCELBENCH_RESULTS_VOLUME") == "1",
            mountinfo=read_mountinfo(),
        )
        command = pytest_command(environ, argv[1:], suite_directory())
    except Refusal as refusal:
        print(f"accelbench entrypoint: {refusal}", file=sys.stderr)
        return USAGE_ERROR
    Path(environ.get("HOME", "/tmp")).mkdir(parents=True, exist_ok=True)
    print("accelbench entrypoint: " + " ".join(command[1:]), flush=True)
    os.execv(command[0], command)
    return 0  # not reached: execv replaced this process


if __name__ == "__main__":
    sys.exit(main(sys.argv))
