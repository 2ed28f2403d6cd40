"""Several processes: who is who, the shards, the collectives, and DDP's semantics with gloo.

The multi-process tests start 2 real processes with gloo on this CPU, the code path that NCCL
takes on GPUs: gathered predictions arrive in rank order, and after one step each rank's
gradient is the mean of the single-process gradients of the two shards.
"""

import importlib
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from hypothesis import given
from hypothesis import strategies as st

from accelbench.contracts.training import TrainingContext
from accelbench.errors import UserError
from accelbench.reference.neuron_inverter.model import NeuronInverter
from accelbench.rules.loader import load_rules
from accelbench.run import distributed
from accelbench.run.world import World, world_from_environment

HYPER = {**load_rules("neuron_inverter").hyperparameters.for_scale("smoke"),
         "batch_size": 8, "eval_batch_size": 8, "dropout": 0.0}
IMPLEMENTATIONS = (
    "accelbench.reference.neuron_inverter.training",
    "accelbench.submissions.a100.neuron_inverter",
)


@pytest.mark.parametrize("env, expected", [
    ({}, World()),
    ({"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}, World(1, 4, 1, "torchrun")),
    ({"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "8", "SLURM_LOCALID": "1"}, World(5, 8, 1, "srun")),
    ({"OMPI_COMM_WORLD_RANK": "0", "OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_LOCAL_RANK": "0"},
     World(0, 2, 0, "mpirun")),
    ({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}, World()),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "4"}, World()),  # an sbatch script, not an srun step
])
def test_world_from_the_launchers_environment(env, expected):
    assert world_from_environment(env) == expected


@pytest.mark.parametrize("env", [
    {"RANK": "x", "WORLD_SIZE": "2"},
    {"RANK": "2", "WORLD_SIZE": "2", "LOCAL_RANK": "0"},
    {"WORLD_SIZE": "2", "LOCAL_RANK": "0"},
])
def test_a_broken_launcher_environment_is_one_line(env):
    with pytest.raises(UserError, match="torchrun environment"):
        world_from_environment(env)


def test_training_shards_are_whole_local_batches_as_in_the_seed():
    world = [World(rank, 3, rank) for rank in range(3)]
    assert [distributed.training_shard(1000, w, 64) for w in world] == [
        slice(0, 320), slice(320, 640), slice(640, 960)]  # floor(1000 / 3 / 64) * 64 = 320
    with pytest.raises(UserError, match="cannot give each of 3 processes one local batch of 512"):
        distributed.training_shard(1000, world[0], 512)


@given(total=st.integers(1, 5000), size=st.integers(1, 64))
def test_eval_shards_cover_the_split_once_in_order(total, size):
    shards = [distributed.eval_shard(total, World(rank, size, 0)) for rank in range(size)]
    rows = [row for shard in shards for row in range(total)[shard]]
    assert rows == list(range(total))


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spawn(worker, *args):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(_free_port()))
    mp.spawn(worker, args=args, nprocs=2, join=True)


def _join(rank):
    torch.set_num_threads(1)
    world = World(rank, 2, rank, "test")
    distributed.join(world, "gloo", timeout_s=120)
    return world


def _collectives(rank):
    world = _join(rank)
    local = torch.arange(3.0).repeat(2, 1).T + 10 * rank  # rank 0: 3 rows, rank 1: 2 rows
    gathered = distributed.gather_rows(local[: 3 - rank], world, 5)
    assert gathered[:, 0].tolist() == [0.0, 1.0, 2.0, 10.0, 11.0]
    assert distributed.sum_across(rank + 1, world) == 3
    assert distributed.mean_across(float(rank), world) == 0.5
    assert distributed.share(f"from {rank}", world) == "from 0"

    def fails():
        raise UserError("rank 0 refused")

    with pytest.raises(UserError, match="rank 0 refused"):
        distributed.on_primary(world, fails)
    assert distributed.on_primary(world, lambda: rank + 41) == 41
    dist.destroy_process_group()


def test_collectives_across_two_gloo_processes():
    _spawn(_collectives)


def _shards():
    generator = torch.Generator().manual_seed(11)
    inputs = torch.randn(16, 1600, 4, generator=generator)
    targets = torch.tanh(inputs[:, ::107, 1][:, :15])
    return inputs, targets


def _ddp_step(rank, module_name):
    world = _join(rank)
    inputs, targets = _shards()
    rows = distributed.training_shard(16, world, HYPER["batch_size"])
    context = TrainingContext(
        workload="neuron_inverter", scale="smoke", division="closed",
        hyperparameters={**HYPER, "precision": "fp32"}, seed=5, device="cpu", world=world,
        train_inputs=inputs[rows], train_targets=targets[rows], eval_inputs=inputs[:4],
    )
    session = importlib.import_module(module_name).create_session(context)
    session.train_epoch(1)  # one local batch per rank: exactly one DDP step

    expected = []  # the single-process gradient of each shard, from the same initial weights
    for shard in (slice(0, 8), slice(8, 16)):
        torch.manual_seed(5)
        model = NeuronInverter(dropout=0.0).train()
        torch.nn.functional.mse_loss(model(inputs[shard]), targets[shard]).backward()
        expected.append([p.grad for p in model.parameters()])
    for got, first, second in zip(session.network.parameters(), *expected):
        torch.testing.assert_close(got.grad, (first + second) / 2, rtol=1e-4, atol=1e-6)
    weights = torch.cat([p.detach().flatten() for p in session.network.parameters()])
    copies = [torch.empty_like(weights) for _ in range(2)]
    dist.all_gather(copies, weights)
    torch.testing.assert_close(copies[0], copies[1], rtol=0, atol=0)  # replicas stay identical
    dist.destroy_process_group()


@pytest.mark.parametrize("module_name", IMPLEMENTATIONS)
def test_ddp_gradient_is_the_mean_of_the_shards_gradients(module_name):
    _spawn(_ddp_step, module_name)
