"""The a100 neuron_inverter submission, on the CPU: everything but the CUDA-only parts (the
compiled graph, TF32, fused AdamW, the pinned-host stream), which its GPU scripts check."""

import copy
import importlib.util
import math
import os
import socket
import sys

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from accelbench.contracts.training import TrainingContext
from accelbench.reference.neuron_inverter import training as reference_training
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE, World
from accelbench.submissions.a100.common.placement import HEADROOM_BYTES, keep, placement
from accelbench.submissions.a100.common.precision import (
    PRECISIONS,
    claim_device,
    configure_cuda_backends,
    precision_for,
)
from accelbench.submissions.a100.neuron_inverter import HYPERPARAMETERS, create_session

from conftest import REPO

HYPER = {**load_rules("neuron_inverter").hyperparameters.for_scale("smoke"),
         "batch_size": 32, "eval_batch_size": 16}
GIB = 2**30


def dataset(samples=64, seed=0):
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(samples, 1600, 4, generator=generator)
    return inputs, torch.tanh(inputs[:, ::100, 0][:, :15])  # learnable from the inputs


def context(world=SINGLE, data=None, **overrides):
    inputs, targets = data or dataset()
    return TrainingContext(
        workload="neuron_inverter", scale="smoke", division="closed",
        hyperparameters={**HYPER, **overrides}, seed=3, device="cpu", world=world,
        train_inputs=inputs, train_targets=targets, eval_inputs=inputs[:40],
    )


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# precision


def test_precision_table():
    table = {name: (p.dtype, p.autocast, p.scaler, p.tf32) for name, p in PRECISIONS.items()}
    assert table == {
        "fp32": (torch.float32, False, False, False),
        "tf32": (torch.float32, False, False, True),
        "bf16": (torch.bfloat16, True, False, True),
        "fp16": (torch.float16, True, True, True),
    }
    assert set(PRECISIONS) == set(load_rules("neuron_inverter").hyperparameters.closed["precision"].values)


def test_gpu_shards_are_stored_in_the_autocast_dtype_host_shards_stay_fp32():
    gpu, host = torch.device("cuda", 0), torch.device("cpu")
    assert precision_for("bf16").storage_dtype(gpu) == torch.bfloat16
    assert precision_for("fp16").storage_dtype(gpu) == torch.float16
    assert precision_for("tf32").storage_dtype(gpu) == torch.float32
    assert precision_for("bf16").storage_dtype(host) == torch.float32


def test_unknown_precision_names_the_choices():
    with pytest.raises(ValueError, match="fp32, tf32, bf16, fp16"):
        precision_for("fp8")


def test_a_cpu_device_is_claimed_without_touching_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "set_device", lambda device: pytest.fail("set a CUDA device for a CPU run"))
    assert claim_device("cpu", precision_for("bf16")) == torch.device("cpu")


def test_fp32_switches_off_the_tf32_that_cudnn_allows_by_default():
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
             torch.backends.cudnn.benchmark)
    try:
        configure_cuda_backends(precision_for("bf16"))
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
        configure_cuda_backends(precision_for("fp32"))
        assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    finally:
        (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32,
         torch.backends.cudnn.benchmark) = saved


# placement


def test_placement_keeps_the_shard_on_the_device_only_with_headroom_to_spare():
    assert placement(48 * GIB, 79 * GIB) == "device"  # a 2-GPU bf16 shard on an 80 GB A100
    assert placement(96 * GIB, 79 * GIB) == "pinned_host"  # the whole bf16 split on one
    assert placement(71 * GIB, 79 * GIB, headroom_bytes=8 * GIB) == "device"  # just fits
    assert placement(72 * GIB, 79 * GIB, headroom_bytes=8 * GIB) == "pinned_host"
    assert placement(1, HEADROOM_BYTES) == "pinned_host"


def test_cpu_runs_keep_shards_where_they_are():
    inputs, targets = dataset(8)
    where, kept = keep([(inputs, torch.bfloat16), (targets, torch.float32)], torch.device("cpu"))
    assert where == "device" and kept[0] is inputs and kept[1] is targets


# the session on the CPU


def test_runner_default_is_bf16():
    assert HYPERPARAMETERS == {"precision": "bf16"}


def test_fp32_on_cpu_trains_exactly_like_the_reference():
    """Same seeding, shuffling, loss and optimizer maths: bit-identical losses and weights."""
    reference = reference_training.create_session(context())
    expected = [reference.train_epoch(epoch).train_loss for epoch in (1, 2)]
    session = create_session(context())
    assert [session.train_epoch(epoch).train_loss for epoch in (1, 2)] == expected
    for ours, theirs in zip(session.network.parameters(), reference.network.parameters()):
        assert torch.equal(ours, theirs)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_one_epoch_and_predictions_in_order(precision):
    session = create_session(context(precision=precision))
    report = session.train_epoch(1)
    assert report.samples == 64 and math.isfinite(report.train_loss) and report.train_loss > 0
    predictions = session.predict_eval()  # 40 rows in chunks of 16, 16 and 8
    assert predictions.shape == (40, 15)
    assert predictions.dtype == torch.float32 and predictions.device.type == "cpu"
    session.network.eval()
    with torch.no_grad(), session.precision.autocast_on("cpu"):
        direct = session.network(dataset()[0][:40]).float()
    tolerance = 1e-6 if precision == "fp32" else 1e-4  # bf16 kernels may block by batch size
    torch.testing.assert_close(predictions, direct, atol=tolerance, rtol=0)
    assert (direct - direct.roll(16, 0)).abs().max() > 10 * tolerance  # chunks out of order show


def test_warm_up_trains_nothing():
    """Weights, BatchNorm statistics, optimizer state and the RNG stream are as before: the
    epochs that follow are the same as without a warm-up."""
    session = create_session(context())
    weights = copy.deepcopy(session.network.state_dict())
    optimizer_state = copy.deepcopy(session.optimizer.state_dict())
    session.warm_up()
    for name, value in session.network.state_dict().items():
        assert torch.equal(value, weights[name]), name
    assert session.optimizer.state_dict() == optimizer_state
    warmed = session.train_epoch(1).train_loss
    assert create_session(context()).train_epoch(1).train_loss == warmed


def test_refuses_another_optimizer():
    with pytest.raises(ValueError, match="AdamW"):
        create_session(context(optimizer="sgd"))


def test_logged_hyperparameters_use_mlperf_keys():
    logged = create_session(context()).logged_hyperparameters()
    assert logged["opt_name"] == "adamw" and logged["global_batch_size"] == 32
    assert logged["opt_base_learning_rate"] == HYPER["learning_rate"]


# two processes, DDP over gloo: the same code path the GPUs run over NCCL


def _train_one_rank(rank, port, world_size):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        world = World(rank=rank, size=world_size, local_rank=rank, launcher="torchrun")
        inputs, targets = dataset(64)
        shard = slice(rank * 32, (rank + 1) * 32)
        session = create_session(
            context(world, (inputs[shard], targets[shard]), precision="fp32", batch_size=16))
        session.warm_up()
        report = session.train_epoch(1)
        assert report.samples == 32 and math.isfinite(report.train_loss)
        weights = torch.cat([p.detach().flatten() for p in session.network.parameters()])
        replicas = [torch.empty_like(weights) for _ in range(world_size)]
        dist.all_gather(replicas, weights)
        assert torch.equal(replicas[0], replicas[1]), "the replicas drifted apart"
        assert session.logged_hyperparameters()["global_batch_size"] == 32
        dist.barrier()  # neither rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


def test_two_processes_stay_in_step_over_gloo():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_train_one_rank, args=(port, 2), nprocs=2, join=True)


# the GPU scripts, run on the CPU


@pytest.fixture(scope="module")
def check():
    return load_script("check_a100_neuron_inverter")


@pytest.fixture(scope="module")
def small_case(check):
    return check.fixed_case(batch=8)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_check_passes_the_a100_path_on_cpu(check, small_case, precision):
    comparison = check.compare(small_case, small_case.network, precision, torch.device("cpu"))
    assert comparison.passed, comparison


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_check_fails_when_a_weight_differs(check, small_case, precision):
    candidate = copy.deepcopy(small_case.network)
    with torch.no_grad():
        candidate.head[-1].weight[0, 0] += 1.0
    comparison = check.compare(small_case, candidate, precision, torch.device("cpu"))
    assert not comparison.passed, comparison
