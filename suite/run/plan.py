"""Planning a set of runs: every input checked before any work starts, and nothing written.

`plan_benchmark` resolves the device, the rules, the implementation, the hyperparameters and
the paths, and fails fast with one line on a bad one; it creates no key, no directory and joins
no process group, so `pytest suite --collect-only` leaves the machine as it found it. The set
claims those when its first run starts (`accelbench.run.runner`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from accelbench.data import datasets
from accelbench.errors import UserError
from accelbench.judging.verdict import Mode
from accelbench.results.layout import check_results_directory, results_directory
from accelbench.rules.loader import load_rules
from accelbench.rules.schema import SCALES, BenchmarkRules, Division, HyperparameterValue, Scale
from accelbench.run import hyperparameters
from accelbench.run.devices import Device, resolve_device
from accelbench.run.distributed import require_rendezvous
from accelbench.run.implementations import resolve_implementation
from accelbench.run.kinds import harness_for
from accelbench.run.world import World, world_from_environment
from accelbench.trust.keys import default_key_path, load_key

MODES: tuple[Mode, ...] = ("to_target", "fixed_epochs")


@dataclass(frozen=True)
class BenchmarkPlan:
    """A set of runs of one workload, checked before any work starts."""

    rules: BenchmarkRules
    scale: Scale
    division: Division
    mode: Mode
    device: Device
    world: World
    implementation: ModuleType
    runs: int
    first_seed: int | None  # None: rank 0 draws one when the set starts
    hyperparameters: dict[str, HyperparameterValue]
    results_dir: Path
    data_dir: Path
    key_path: Path | None  # rank 0 signs with it; None: the user's default key, created on first use

    @property
    def system_name(self) -> str:
        return system_name(self.device.name, self.world.size)


def system_name(platform: str, world_size: int) -> str:
    """'a100' for one process, 'a100_n8' for eight (MLPerf names systems by count too)."""
    return platform if world_size == 1 else f"{platform}_n{world_size}"


def plan_benchmark(
    workload: str,
    *,
    device: str,
    scale: str,
    runs: int | None = None,
    seed: int | None = None,
    results_root: Path = Path("results"),
    key_path: Path | None = None,
    data_dir: Path | None = None,
    division: Division = "closed",
    mode: str = "to_target",
    hparams: Sequence[str] = (),
) -> BenchmarkPlan:
    """Check every input (device, workload, scale, key, results dir) and fail fast, in one line."""
    if scale not in SCALES:
        raise UserError(f"unknown scale '{scale}': use one of {', '.join(SCALES)}")
    if mode not in MODES:
        raise UserError(f"unknown mode '{mode}': use one of {', '.join(MODES)}")
    if runs is not None and runs < 1:
        raise UserError(f"--runs must be at least 1, got {runs}")
    resolved = resolve_device(device)
    world = world_from_environment()
    require_rendezvous(world)
    rules = load_rules(workload)
    if rules.kind == "inference" and world.size > 1:
        raise UserError(f"{workload} is an inference workload, served by one process under LoadGen: run it "
                        "without torchrun/srun/poprun")
    if rules.kind == "sampling" and world.size > 1:
        raise UserError(f"{workload} is a sampling workload: one process runs every chain (one device, or one "
                        "chain per IPU inside it); run it without torchrun/srun/poprun")
    if mode == "fixed_epochs" and rules.scaling is None:
        raise UserError(f"{workload} has no [scaling] rules, so no fixed-epoch mode: use --mode=to_target")
    harness_for(rules, scale, mode)  # type: ignore[arg-type]  # the kind has a loop here
    implementation = resolve_implementation(rules, resolved)
    chosen = hyperparameters.resolve(
        rules, scale, division, getattr(implementation, "HYPERPARAMETERS", {}), hparams  # type: ignore[arg-type]
    )
    target_dir = results_directory(results_root, system_name(resolved.name, world.size), workload, scale, mode)
    if world.primary:  # rank 0 alone signs and writes
        check_results_directory(target_dir)
        key = key_path if key_path is not None else default_key_path()
        if key_path is not None or key.exists():
            load_key(key)  # read only: the default key is created when the first run starts
    return BenchmarkPlan(
        rules=rules,
        scale=scale,  # type: ignore[arg-type]
        division=division,
        mode=mode,  # type: ignore[arg-type]
        device=resolved,
        world=world,
        implementation=implementation,
        runs=runs if runs is not None else rules.runs.minimum[scale],  # type: ignore[index]
        first_seed=seed,
        hyperparameters=chosen,
        results_dir=target_dir,
        data_dir=datasets.data_directory(rules, scale, data_dir),  # type: ignore[arg-type]
        key_path=key_path,
    )
