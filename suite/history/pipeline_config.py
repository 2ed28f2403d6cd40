"""A pipeline's configuration, in layers: the suite's defaults, then the machine's file, then the run's.

As CI-beNNch layers its benchmark configuration, what is true of every run (the defaults below),
of one machine (its device, launcher, store, environment: `machine.toml` in the config dir) and
of one run (the workloads and scales to run tonight: PIPELINE.toml) live apart; a later layer
overrides an earlier one key by key, and tables merge. Relative paths are relative to the
directory the pipeline is started in.

    name = "nightly-cpu"
    workloads = ["neuron_inverter", "snn_bptt_sparse"]
    scales = ["smoke"]
    runs = 3
    [gate]
    factor = 1.10
    [hyperparameters]
    neuron_inverter = ["batch_size=256"]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import platformdirs
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from accelbench.errors import UserError
from accelbench.rules.loader import describe_validation_error, load_rules
from accelbench.rules.schema import Scale
from accelbench.trust.keys import CONFIG_DIR_ENV

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

MACHINE_FILE = "machine.toml"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Gate(Strict):
    factor: float = Field(1.10, ge=1.0, description="a regression is worse than this ratio")
    alpha: float = Field(0.05, gt=0.0, lt=1.0, description="the rank test's level (1 - the CI's level)")


class Benchmarks(Strict):
    """The suite's own benchmarks (pytest-benchmark), stored and compared like the workloads."""

    run: bool = False
    paths: list[str] = ["benchmarks"]
    scale: Scale = "smoke"
    pytest_args: list[str] = []


class PipelineConfig(Strict):
    name: str = "pipeline"
    device: str = "cpu"
    workloads: list[str] = []
    scales: list[Scale] = ["smoke"]
    runs: int | None = Field(None, ge=1, description="runs per set [the rules' minimum]")
    seed: int | None = Field(None, description="seed of each set's first run [random]")
    results_dir: Path = Path("pipeline-results")
    dashboard_dir: Path = Path("dashboard")
    db: str | None = Field(None, description="the store's URL [$ACCELBENCH_DB, else SQLite in the data dir]")
    launcher: list[str] = Field([], description="prefix of every run's command, e.g. srun --ntasks=1 --gpus=1")
    environment: dict[str, str] = {}
    hyperparameters: dict[str, list[str]] = Field({}, description="per workload, NAME=VALUE overrides")
    gate: Gate = Gate()
    benchmarks: Benchmarks = Benchmarks()

    @field_validator("workloads")
    @classmethod
    def _known(cls, workloads: list[str]) -> list[str]:
        for workload in workloads:
            load_rules(workload)  # a one-line UserError for a workload the rules do not have
        return workloads


def default_machine_file() -> Path:
    config_dir = os.environ.get(CONFIG_DIR_ENV) or platformdirs.user_config_dir("accelbench")
    return Path(config_dir) / MACHINE_FILE


def merged(base: dict, override: dict) -> dict:
    """`override` over `base`, key by key; tables merge, everything else is replaced."""
    out = dict(base)
    for key, value in override.items():
        out[key] = merged(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_layer(path: Path) -> dict:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise UserError(f"pipeline file {path} does not exist: check the path") from None
    except OSError as err:
        raise UserError(f"pipeline file {path} cannot be read ({err.strerror}): check the path") from None
    except tomllib.TOMLDecodeError as err:
        raise UserError(f"pipeline file {path} is not valid TOML ({err}): fix that line") from None


def load_pipeline(run_file: Path, machine_file: Path | None = None, db: str | None = None) -> PipelineConfig:
    """The suite's defaults, then the machine's file (given, or machine.toml in the config dir if it
    exists), then `run_file`; `db` from the command line overrides them all."""
    layers: list[Path] = []
    machine = machine_file or default_machine_file()
    if machine_file is not None or machine.exists():
        layers.append(machine)
    layers.append(run_file)
    document: dict = {}
    for layer in layers:
        document = merged(document, read_layer(layer))
    if db is not None:
        document["db"] = db
    try:
        config = PipelineConfig.model_validate(document)
    except ValidationError as err:
        chain = " < ".join(["defaults", *map(str, layers)])
        raise UserError(f"pipeline configuration ({chain}): {describe_validation_error(err)}") from None
    if not config.workloads and not config.benchmarks.run:
        raise UserError(f"{run_file}: the pipeline runs nothing: list workloads = [...] or set [benchmarks] run = true")
    return config
