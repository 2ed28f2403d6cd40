"""The layout of a submission tree, and its manifest: what `accelbench package` writes and
`accelbench validate` reads. Every path a manifest names is relative, inside the tree.

    SUBMISSION/
      submission.json                        SubmissionManifest, signed by the packer's key
      keys/<key_id>.pem                      every public key that signed something inside
      systems/<system_name>.json             SystemDescription
      results/<system_name>/<workload>/<scale>[_fixed_epochs]/
          run_<N>.json  run_<N>.mllog  score.json
      code/<system_name>/<workload>/...      the implementation's .py sources, as they ran
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from accelbench.rules.schema import Division, Scale
from accelbench.trust.signing import SignatureBlock

SUBMISSION_SCHEMA_VERSION = "1"
MANIFEST = "submission.json"
KEYS_DIR = "keys"
SYSTEMS_DIR = "systems"
RESULTS_DIR = "results"
CODE_DIR = "code"


def _inside_the_tree(path: str) -> str:
    parts = path.split("/")
    if path.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise ValueError(f"'{path}' must be a relative path inside the submission, without . or ..")
    return path


RelativePath = Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]+$"), AfterValidator(_inside_the_tree)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


class ManifestModel(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ResultSet(ManifestModel):
    """One set of runs: one system, workload, scale and mode, in one directory."""

    system: str
    workload: str
    scale: Scale
    mode: Literal["to_target", "fixed_epochs"]
    directory: RelativePath = Field(description="results/<system>/<workload>/<scale>[...]")
    runs: list[RelativePath] = Field(description="the run_N.json files, in run order")
    score: RelativePath | None = Field(description="score.json; None for fixed-epoch sets")
    implementation: str = Field(description="the module that trained, as the runs record it")
    code: RelativePath = Field(description="code/<system>/<workload>: the sources copied in")
    code_sha256: Sha256 = Field(description="tree hash of those sources (provenance.tree_sha256)")


class SubmissionManifest(ManifestModel):
    schema_version: Literal["1"] = SUBMISSION_SCHEMA_VERSION
    suite_version: str
    rules_version: str
    submitter: str
    division: Division
    created_at: str
    systems: dict[str, RelativePath] = Field(description="system name -> systems/<name>.json")
    public_keys: dict[str, RelativePath] = Field(description="key id -> keys/<key id>.pem")
    result_sets: list[ResultSet]
    files: dict[RelativePath, Sha256] = Field(
        description="SHA-256 of every other file in the tree: nothing may be added or changed"
    )


class SignedSubmissionManifest(SubmissionManifest):
    signature: SignatureBlock
