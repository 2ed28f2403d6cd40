"""A sampling run's draws on disk: every kept draw of every chain, with its log posterior and
whether its proposal was accepted, written beside the run file as NetCDF (HDF5 underneath)
through ArviZ, and pinned by its SHA-256 in the signed result. The validator reads them back and
recomputes every diagnostic from them.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from accelbench.errors import UserError
from accelbench.judging.posterior import SAMPLING_EXTRA


@dataclass(frozen=True)
class Draws:
    """Draws in chain order: states (chains, draws, parameters) float32, and per draw its log
    posterior (chains, draws) and acceptance (chains, draws) bool."""

    states: np.ndarray
    target_log_prob: np.ndarray
    accepted: np.ndarray

    @property
    def chains(self) -> int:
        return int(self.states.shape[0])

    @property
    def draws_per_chain(self) -> int:
        return int(self.states.shape[1])


def draws_file_name(run_index: int) -> str:
    return f"run_{run_index}.draws.nc"


def heldout_file_name(draws_file: str) -> str:
    """The held-out split's file beside the draws: run_N.heldout.npz."""
    return draws_file.replace(".draws.nc", ".heldout.npz")


def write_heldout(path: Path, arrays: dict[str, np.ndarray]) -> None:
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as out:
        np.savez(out, **arrays)
    os.replace(partial, path)


def read_heldout(path: Path, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """(inputs, targets) from the held-out file, or a one-line UserError naming it."""
    import zipfile

    try:
        with np.load(path, allow_pickle=False) as archive:
            return archive[names[0]], archive[names[1]]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as err:
        raise UserError(f"{path}: not a readable held-out split ({type(err).__name__}: {err}); "
                        "copy the file the run wrote") from None


def write_draws(path: Path, draws: Draws) -> None:
    """Write atomically (a partial file renamed into place), so a reader never sees half a file."""
    try:
        import arviz_base
    except ImportError as err:
        raise UserError(f"writing draws needs ArviZ, which is not importable here ({err}): {SAMPLING_EXTRA}") from None

    tree = arviz_base.from_dict(
        {"posterior": {"theta": draws.states.astype("<f4")},
         "sample_stats": {"lp": draws.target_log_prob.astype("<f8"), "accepted": draws.accepted.astype(bool)}},
        dims={"theta": ["parameter"]},
    )
    partial = path.with_name(path.name + ".partial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree.to_netcdf(partial, engine="h5netcdf")
    os.replace(partial, path)


def read_draws(path: Path) -> Draws:
    """The draws in `path`, or a one-line UserError naming the file."""
    try:
        import xarray
    except ImportError as err:
        raise UserError(f"reading draws needs xarray, which is not importable here ({err}): {SAMPLING_EXTRA}") from None

    if not path.is_file():
        raise UserError(f"{path}: the run's draws file is missing; copy it beside its run file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = xarray.open_datatree(path, engine="h5netcdf")
        with tree:
            states = tree["posterior"]["theta"].transpose("chain", "draw", "parameter").to_numpy()
            stats = tree["sample_stats"]
            target_log_prob = stats["lp"].transpose("chain", "draw").to_numpy()
            accepted = stats["accepted"].transpose("chain", "draw").to_numpy()
    except (OSError, KeyError, ValueError) as err:
        raise UserError(f"{path}: not a readable draws file ({type(err).__name__}: {err}); "
                        "copy the file the run wrote") from None
    return Draws(np.asarray(states, dtype=np.float32), np.asarray(target_log_prob, dtype=np.float64),
                 np.asarray(accepted, dtype=bool))
