"""The IPU submission of neuron_inverter, on CPU: everything but the PopTorch calls themselves.

No IPU or Poplar SDK is available here. The plain parts (batch arithmetic, fp16 conversion, the
loss wrapper, optimizer bookkeeping, eval padding) are tested directly; the thin PopTorch layer
is checked against a recorder that only answers to PopTorch 3.4's names; and the session is
driven through a CPU stand-in for that layer, which enforces what an IPU would (one executor
attached at a time, the mode each graph was compiled in, one batch shape per call).
"""

import sys
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mlperf_logging.mllog import constants as mlk
from torch import nn

from accelbench.contracts.training import TrainingContext
from accelbench.errors import UserError
from accelbench.reference.neuron_inverter.model import NeuronInverter
from accelbench.reference.neuron_inverter.schedule import WarmupThenPlateau
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE, World
from accelbench.submissions.ipu import neuron_inverter
from accelbench.submissions.ipu.common import poplar as shared_poplar
from accelbench.submissions.ipu.common.executors import calls_for, host_batches, join_predictions, pad_by_cycling
from accelbench.submissions.ipu.common.plan import IpuPlan
from accelbench.submissions.ipu.neuron_inverter import config, poplar
from accelbench.submissions.ipu.neuron_inverter.config import SubmissionSettings, gradient_accumulation, plan_for
from accelbench.submissions.ipu.neuron_inverter.device_optimizer import DeviceOptimizer
from accelbench.submissions.ipu.neuron_inverter.evaluation import restore_buffers, snapshot_buffers
from accelbench.submissions.ipu.neuron_inverter.precision import half_with_float_statistics
from accelbench.submissions.ipu.neuron_inverter.session import IpuNeuronInverterSession
from accelbench.submissions.ipu.neuron_inverter.with_loss import WithMseLoss

from poptorch_standins import OneIpu, recorder_for

RULES = load_rules("neuron_inverter")
HYPER = {**RULES.hyperparameters.for_scale("smoke"), "batch_size": 8, "precision": "fp32"}
SMALL = SubmissionSettings(micro_batch=4, device_iterations=2)


def context(train=40, evals=20, seed=3, world=SINGLE, **overrides):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(train + evals, 1600, 4, generator=generator)
    targets = torch.tanh(inputs[:, ::100, 0][:, :15])
    return TrainingContext(
        workload="neuron_inverter", scale="smoke", division="closed",
        hyperparameters={**HYPER, **overrides}, seed=seed, device="ipu", world=world,
        train_inputs=inputs[:train], train_targets=targets[:train], eval_inputs=inputs[train:],
    )


def plan(**fields):
    base = IpuPlan(micro_batch=128, gradient_accumulation=15, device_iterations=2, seed=42,
                   executable_cache_dir="/tmp/exe", fp16=True)
    return replace(base, **fields)


# --- batch arithmetic -------------------------------------------------------------------------


def test_the_seeds_configuration():
    seed_plan = plan()
    assert gradient_accumulation(1920, 128) == 15
    assert seed_plan.local_batch == 1920
    assert seed_plan.combined_batch == 3840
    assert seed_plan.inference_batch == 256


@settings(max_examples=200, deadline=None)
@given(micro=st.integers(1, 512), steps=st.integers(1, 64), iterations=st.integers(1, 8),
       rows=st.integers(0, 10**6))
def test_batch_arithmetic(micro, steps, iterations, rows):
    accumulation = gradient_accumulation(micro * steps, micro)
    assert accumulation == steps
    p = plan(micro_batch=micro, gradient_accumulation=accumulation, device_iterations=iterations)
    assert p.local_batch == micro * steps
    assert p.combined_batch == micro * steps * iterations
    calls = p.calls_per_epoch(rows)
    assert calls * p.combined_batch <= rows < (calls + 1) * p.combined_batch


@settings(max_examples=200, deadline=None)
@given(micro=st.integers(2, 512), batch=st.integers(1, 5000))
def test_a_batch_the_micro_batch_does_not_divide_is_refused(micro, batch):
    if batch % micro == 0:
        assert gradient_accumulation(batch, micro) * micro == batch
        return
    with pytest.raises(UserError) as caught:
        gradient_accumulation(batch, micro)
    message = str(caught.value)
    assert "\n" not in message
    assert f"batch_size {batch}" in message and f"micro-batch {micro}" in message
    suggested = int(message.split("batch_size=")[1].split(")")[0])
    assert suggested % micro == 0


def test_plan_from_the_context(tmp_path):
    p = plan_for(context(world=World(rank=2, size=4)), SMALL, {"POPTORCH_CACHE_DIR": str(tmp_path)})
    assert (p.micro_batch, p.gradient_accumulation, p.device_iterations) == (4, 2, 2)
    assert p.seed == 3 + 2  # dropout differs per replica, as in the seed
    assert p.executable_cache_dir == str(tmp_path)
    assert p.fp16 is False
    default = plan_for(context(precision="fp16"), SMALL, {})
    assert default.fp16 is True
    assert default.executable_cache_dir.endswith("poptorch")


@pytest.mark.parametrize("overrides, words", [
    ({"precision": "bf16"}, "precision=fp16"),
    ({"optimizer": "sgd"}, "optimizer=adamw"),
    ({"batch_size": 10}, "batch_size 10 is not a multiple of the IPU micro-batch 4"),
])
def test_plan_refuses_what_the_ipu_cannot_run(overrides, words):
    with pytest.raises(UserError, match=words):
        plan_for(context(**overrides), SMALL, {})


def test_plan_refuses_a_shard_smaller_than_one_host_call():
    with pytest.raises(UserError, match="smaller than one IPU host call of 16"):
        plan_for(context(train=15), SMALL, {})


# --- fp16 and the loss in forward --------------------------------------------------------------


def test_half_conversion_keeps_batch_norm_statistics_in_float32():
    network = half_with_float_statistics(NeuronInverter())
    assert all(p.dtype == torch.float16 for p in network.parameters())
    assert network.flat_norm.weight.dtype == torch.float16
    assert network.flat_norm.running_mean.dtype == torch.float32
    assert network.flat_norm.running_var.dtype == torch.float32
    assert network.flat_norm.num_batches_tracked.dtype == torch.int64


def test_loss_in_forward_follows_the_training_flag():
    torch.manual_seed(0)
    network = NeuronInverter()
    model = WithMseLoss(network)
    frames, targets = torch.randn(6, 1600, 4), torch.randn(6, 15)
    torch.manual_seed(1)
    predictions, loss = model(frames, targets)
    torch.manual_seed(1)
    assert torch.equal(predictions, network(frames))
    assert torch.allclose(loss, nn.functional.mse_loss(predictions, targets))
    model.eval()
    alone = model(frames, targets)  # targets given, still predictions alone
    assert isinstance(alone, torch.Tensor) and torch.equal(alone, network(frames))


# --- learning-rate bookkeeping ------------------------------------------------------------------


class RecordingExecutor:
    def __init__(self):
        self.sent = []

    def setOptimizer(self, optimizer):  # noqa: N802 (PopTorch's name)
        self.sent.append((optimizer, optimizer.param_groups[0]["lr"]))


def test_set_optimizer_follows_every_learning_rate_change_and_only_those():
    weights = [nn.Parameter(torch.zeros(3))]
    optimizer, resting = torch.optim.AdamW(weights, lr=1e-3), torch.optim.AdamW(weights, lr=0.0)
    hp = {**HYPER, "learning_rate": 1e-3, "warmup_epochs": 2, "plateau_patience": 1,
          "plateau_cooldown": 0}
    executor = RecordingExecutor()
    device = DeviceOptimizer(executor, optimizer, resting, WarmupThenPlateau(optimizer, hp))
    device.start_epoch(1)  # warm-up: 5e-4
    device.start_epoch(2)  # warm-up: 1e-3
    device.start_epoch(3)  # no change
    assert [lr for _, lr in executor.sent] == pytest.approx([5e-4, 1e-3])
    device.after_eval(1.0)  # best so far
    device.after_eval(1.0)  # one bad eval: within patience
    assert len(executor.sent) == 2
    device.after_eval(1.0)  # two: divided by the plateau factor
    assert [lr for _, lr in executor.sent][2:] == pytest.approx([1e-3 * HYPER["plateau_factor"]])
    assert all(sent is optimizer for sent, _ in executor.sent)


def test_the_resting_optimizer_is_swapped_in_and_out_even_on_failure():
    weights = [nn.Parameter(torch.zeros(3))]
    optimizer, resting = torch.optim.AdamW(weights, lr=1e-3), torch.optim.AdamW(weights, lr=0.0)
    executor = RecordingExecutor()
    device = DeviceOptimizer(executor, optimizer, resting, WarmupThenPlateau(optimizer, HYPER))
    with pytest.raises(ValueError):
        with device.at_rest():
            assert [sent for sent, _ in executor.sent] == [resting]
            raise ValueError
    assert [sent for sent, _ in executor.sent] == [resting, optimizer]


# --- eval bookkeeping ---------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(rows=st.integers(0, 300), largest=st.integers(0, 300), per_call=st.integers(1, 64))
def test_padding_and_trimming_keep_the_order(rows, largest, per_call):
    largest = max(rows, largest, 1)
    inputs = torch.arange(rows, dtype=torch.float32).unsqueeze(1)
    calls = calls_for(largest, per_call)
    assert (calls - 1) * per_call < largest <= calls * per_call
    batches = host_batches(inputs, per_call, calls)
    assert len(batches) == calls and all(len(b) == per_call for b in batches)
    assert torch.equal(join_predictions(batches, per_call, rows), inputs)


def test_padding_repeats_real_rows():
    assert pad_by_cycling(torch.tensor([1.0, 2.0, 3.0]), 7).tolist() == [1, 2, 3, 1, 2, 3, 1]
    assert pad_by_cycling(torch.zeros((0, 2)), 3).shape == (3, 2)


def test_a_call_that_returns_fewer_predictions_is_an_error():
    with pytest.raises(RuntimeError, match="OutputMode.All"):
        join_predictions([torch.zeros(4, 15), torch.zeros(2, 15)], 4, 6)


def test_buffers_come_back_after_a_pass_in_training_mode():
    network = NeuronInverter()
    before = snapshot_buffers(network)
    network.train()
    network(torch.randn(8, 1600, 4) + 3.0)
    assert not torch.equal(network.flat_norm.running_mean, before["flat_norm.running_mean"])
    restore_buffers(network, before)
    for name, buffer in network.named_buffers():
        assert torch.equal(buffer, before[name])


# --- the PopTorch layer, against PopTorch 3.4's names --------------------------------------------

POPTORCH_34 = {
    "poptorch.Options", "poptorch.Options().replicationFactor",
    "poptorch.Options().deviceIterations", "poptorch.Options().Training.gradientAccumulation",
    "poptorch.Options().randomSeed", "poptorch.Options().enableExecutableCaching",
    "poptorch.Options().outputMode", "poptorch.Options().Precision.setPartialsType",
    "poptorch.OutputMode.All", "poptorch.optim.AdamW", "poptorch.trainingModel",
    "poptorch.inferenceModel", "poptorch.DataLoader", "poptorch.DataLoaderMode.Sync",
    "poptorch.DataLoaderMode.Async",
    "popdist.poptorch.Options", "popdist.poptorch.Options().deviceIterations",
    "popdist.poptorch.Options().Training.gradientAccumulation",
    "popdist.poptorch.Options().randomSeed", "popdist.poptorch.Options().enableExecutableCaching",
    "popdist.poptorch.Options().outputMode", "popdist.poptorch.Options().Precision.setPartialsType",
}


recorder = recorder_for(POPTORCH_34)


def test_training_options_make_exactly_the_documented_calls(tmp_path):
    log = []
    layer = poplar.NeuronInverterPopTorch(recorder("poptorch", log))
    p = plan(gradient_accumulation=8, executable_cache_dir=str(tmp_path / "cache"))
    layer.options(p, training=True)
    o = "poptorch.Options()"
    assert log == [
        ("poptorch.Options", (), {}),
        (f"{o}.replicationFactor", (1,), {}),
        (f"{o}.deviceIterations", (2,), {}),
        (f"{o}.Training.gradientAccumulation", (8,), {}),
        (f"{o}.randomSeed", (42,), {}),
        (f"{o}.enableExecutableCaching", (str(tmp_path / "cache"),), {}),
        (f"{o}.outputMode", ("poptorch.OutputMode.All",), {}),
        (f"{o}.Precision.setPartialsType", (torch.float16,), {}),
    ]
    assert (tmp_path / "cache").is_dir()


def test_inference_options_have_no_accumulation_and_fp32_no_partials(tmp_path):
    log = []
    poplar.NeuronInverterPopTorch(recorder("poptorch", log)).options(
        plan(fp16=False, executable_cache_dir=str(tmp_path)), training=False)
    assert [path.rsplit(".", 1)[1] for path, _, _ in log] == [
        "Options", "replicationFactor", "deviceIterations", "randomSeed",
        "enableExecutableCaching", "outputMode"]


def test_under_poprun_popdist_sets_the_replication(tmp_path):
    log = []
    layer = poplar.NeuronInverterPopTorch(recorder("poptorch", log), recorder("popdist", log))
    layer.options(plan(executable_cache_dir=str(tmp_path)), training=True)
    assert log[0] == ("popdist.poptorch.Options", (), {"ipus_per_replica": 1})
    assert not any("replicationFactor" in path for path, _, _ in log)
    assert log[1][0] == "popdist.poptorch.Options().deviceIterations"


def test_executors_optimizer_and_loader_are_called_as_documented():
    log = []
    layer = poplar.NeuronInverterPopTorch(recorder("poptorch", log))
    model, options, optimizer, dataset = object(), object(), object(), object()
    layer.adamw("params", lr=0.0, betas=(0.999, 0.999), eps=1e-8, weight_decay=0.0)
    layer.training_executor(model, options, optimizer)
    layer.inference_executor(model, options)
    layer.loader(options, dataset, plan(), asynchronous=False)
    layer.loader(options, dataset, plan(), asynchronous=True)
    loader_kwargs = {"batch_size": 128, "shuffle": True, "drop_last": True,
                     "auto_distributed_partitioning": False}
    assert log == [
        ("poptorch.optim.AdamW", ("params",),
         {"lr": 0.0, "betas": (0.999, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
        ("poptorch.trainingModel", (model,), {"options": options, "optimizer": optimizer}),
        ("poptorch.inferenceModel", (model,), {"options": options}),
        ("poptorch.DataLoader", (options, dataset),
         {**loader_kwargs, "mode": "poptorch.DataLoaderMode.Sync"}),
        ("poptorch.DataLoader", (options, dataset),
         {**loader_kwargs, "mode": "poptorch.DataLoaderMode.Async"}),
    ]


def test_the_package_imports_without_poptorch_and_says_what_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "poptorch", None)  # import poptorch -> ImportError
    shared_poplar.load.cache_clear()
    try:
        assert neuron_inverter.HYPERPARAMETERS == {"precision": "fp16"}
        with pytest.raises(UserError) as caught:
            neuron_inverter.create_session(context())
    finally:
        shared_poplar.load.cache_clear()
    message = str(caught.value)
    assert "\n" not in message and "poptorch" in message and "Poplar SDK 3.4" in message


def test_submission_hyperparameters_stay_in_the_closed_division():
    chosen = {**RULES.hyperparameters.for_scale("full"), **neuron_inverter.HYPERPARAMETERS}
    assert RULES.hyperparameters.violations("closed", chosen, "full") == []
    assert chosen["batch_size"] % config.SETTINGS.micro_batch == 0


# --- the session, through a CPU stand-in for the PopTorch layer ----------------------------------


class CpuExecutor:
    def __init__(self, model, options, ipu, training):
        self.model, self.plan, self.ipu, self.training = model, options.plan, ipu, training
        self.compiled = False
        self.calls = []

    def compile(self, *example):
        assert self.model.training == self.training, "traced in the wrong mode"
        self.compiled = True
        self.ipu.attach(self)

    def isAttachedToDevice(self):  # noqa: N802
        return self.compiled and self.ipu.holder is self

    def attachToDevice(self):  # noqa: N802
        assert self.compiled
        self.ipu.attach(self)

    def detachFromDevice(self):  # noqa: N802
        self.ipu.detach(self)

    def copyWeightsToDevice(self):  # noqa: N802
        self.calls.append("copyWeightsToDevice")

    def _check(self, frames, per_call):
        assert self.isAttachedToDevice(), "run while not attached"
        assert self.model.training == self.training, "run in another mode than compiled"
        assert len(frames) == per_call, "one compiled batch shape per call"


class CpuTrainer(CpuExecutor):
    """Per call: device_iterations optimizer steps of gradient_accumulation micro-batches;
    returns every micro-batch's predictions and loss (OutputMode.All)."""

    def __init__(self, model, options, optimizer, ipu):
        super().__init__(model, options, ipu, training=True)
        self.optimizer = optimizer

    def setOptimizer(self, optimizer):  # noqa: N802
        self.calls.append(("setOptimizer", optimizer))
        self.optimizer = optimizer

    def __call__(self, frames, targets):
        self._check(frames, self.plan.combined_batch)
        predictions, losses = [], []
        for step_frames, step_targets in zip(frames.split(self.plan.local_batch),
                                             targets.split(self.plan.local_batch)):
            self.optimizer.zero_grad()
            for x, y in zip(step_frames.split(self.plan.micro_batch),
                            step_targets.split(self.plan.micro_batch)):
                prediction, loss = self.model(x, y)
                (loss / self.plan.gradient_accumulation).backward()
                predictions.append(prediction.detach())
                losses.append(loss.detach())
            self.optimizer.step()
        return torch.cat(predictions), torch.stack(losses)


class CpuInferencer(CpuExecutor):
    def __call__(self, frames):
        self._check(frames, self.plan.inference_batch)
        with torch.no_grad():
            return self.model(frames)


class CpuPopTorch:
    """The PopTorch layer's interface, run by torch on the host."""

    popdist = None

    def __init__(self):
        self.ipu = OneIpu()
        self.optimizers = []

    def options(self, plan, *, training):
        return SimpleNamespace(plan=plan, training=training)

    def adamw(self, parameters, *, lr, betas, eps, weight_decay):
        optimizer = torch.optim.AdamW(parameters, lr=lr, betas=betas, eps=eps,
                                      weight_decay=weight_decay)
        self.optimizers.append(optimizer)
        return optimizer

    def training_executor(self, model, options, optimizer):
        return CpuTrainer(model, options, optimizer, self.ipu)

    def inference_executor(self, model, options):
        return CpuInferencer(model, options, self.ipu, training=False)

    def loader(self, options, dataset, plan, asynchronous):
        return torch.utils.data.DataLoader(dataset, batch_size=plan.combined_batch, shuffle=True,
                                           drop_last=True)


def session(evaluation="pseudo", **overrides):
    settings_ = replace(SMALL, evaluation=evaluation)
    started = IpuNeuronInverterSession(context(**overrides), CpuPopTorch(), settings_)
    started.warm_up()
    return started


def test_an_epoch_consumes_whole_host_calls_and_reports_their_mean_loss():
    s = session()
    report = s.train_epoch(1)
    assert report.samples == 32  # 40 samples, host calls of 4 x 2 x 2 = 16: two calls
    assert report.train_loss > 0
    assert s.trainer.calls[0] == ("setOptimizer", s.optimizer)  # the warm-up rate, pushed
    assert s.optimizer.param_groups[0]["lr"] == pytest.approx(HYPER["learning_rate"] / 2)


def test_pseudo_validation_leaves_weights_statistics_and_optimizer_as_they_were():
    s = session()
    s.train_epoch(1)
    weights = {name: p.detach().clone() for name, p in s.network.named_parameters()}
    statistics = snapshot_buffers(s.network)
    s.trainer.calls.clear()
    predictions = s.predict_eval()
    assert predictions.shape == (20, 15) and predictions.dtype == torch.float32
    resting = s.poplar.optimizers[1]
    assert resting.param_groups[0]["lr"] == 0.0
    assert resting.param_groups[0]["betas"] == (0.999, 0.999)
    assert s.trainer.calls == [("setOptimizer", resting), ("setOptimizer", s.optimizer),
                               "copyWeightsToDevice"]
    for name, p in s.network.named_parameters():
        assert torch.equal(p, weights[name])
    for name, buffer in s.network.named_buffers():
        assert torch.equal(buffer, statistics[name])
    s.train_epoch(2)  # the training executor takes the IPU back


def test_final_predictions_are_true_predictions_in_order_and_free_the_ipu():
    s = session()
    s.train_epoch(1)
    s.predict_eval()
    final = s.predict_final()
    s.network.eval()
    with torch.no_grad():
        expected = s.network(s.eval_inputs)
    assert torch.allclose(final, expected, atol=1e-6)
    assert s.poplar.ipu.holder is None  # the next run's session can attach


def test_true_evaluation_swaps_graphs_and_keeps_the_order():
    s = session(evaluation="true")
    assert s.eval_kind == "true"
    for epoch in (1, 2):
        s.train_epoch(epoch)
        predictions = s.predict_eval()
    s.network.eval()
    with torch.no_grad():
        assert torch.allclose(predictions, s.network(s.eval_inputs), atol=1e-6)


def test_logged_hyperparameters():
    s = session()
    logged = s.logged_hyperparameters()
    assert logged[mlk.GLOBAL_BATCH_SIZE] == 8
    assert logged[mlk.GRADIENT_ACCUMULATION_STEPS] == 2
    assert logged[mlk.OPT_NAME] == mlk.ADAMW


def test_several_processes_need_poprun():
    with pytest.raises(UserError, match="poprun --num-instances 4 --num-replicas 4"):
        IpuNeuronInverterSession(context(world=World(rank=1, size=4, launcher="mpirun")),
                                 CpuPopTorch(), SMALL)
