"""The IPU submission of the efficientnet family, on CPU: everything but the PopTorch calls themselves.

No IPU or Poplar SDK is available here. The network the IPU runs is the reference's, so the loss
in forward is compared with the reference's loss and gradients on the same weights (fp32, bit for
bit), and the fp16 cast path with the fp32 network within stated bounds; the plans are tested
directly, the PopTorch calls against a recorder that only answers to PopTorch 3.4's names, and
both sessions end to end through CPU stand-ins for the PopTorch layer that enforce what an IPU
would (one executor attached at a time, the mode and the input shape and dtype each executor was
compiled for, device_iterations x gradient_accumulation micro-batches per host call). CPU fp16 is
not the IPU's (its convolutions do not keep fp16 partials), so the bounds say what the cast does,
not what a GC200 will compute.

Inputs stay tiny: 32-pixel images, batches of at most 8, one torch thread.
"""

import copy
import functools
import math
import subprocess
import sys
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from mlperf_logging.mllog import constants as mlk
from torch import nn

from accelbench.contracts.inference import InferenceContext
from accelbench.contracts.training import TrainingContext
from accelbench.errors import UserError
from accelbench.reference.efficientnet import inference as reference_inference
from accelbench.reference.efficientnet.model import from_hyperparameters, weights_of
from accelbench.reference.efficientnet.training import ImageClassifierTrainer, WarmupThenExponential, adamw
from accelbench.rules.loader import load_rules
from accelbench.run.devices import Device
from accelbench.run.implementations import resolve_implementation
from accelbench.run.world import SINGLE, World
from accelbench.submissions.ipu.common import poplar as shared_poplar
from accelbench.submissions.ipu.common.plan import IpuPlan
from accelbench.submissions.ipu.efficientnet import inference, training
from accelbench.submissions.ipu.efficientnet.config import (
    ServingSettings,
    TrainingSettings,
    device_iterations,
    serving_plan,
    training_plan,
)
from accelbench.submissions.ipu.efficientnet.device_schedule import RateOnDevice
from accelbench.submissions.ipu.efficientnet.inference import IpuEfficientNetServing
from accelbench.submissions.ipu.efficientnet.poplar import EfficientNetPopTorch
from accelbench.submissions.ipu.efficientnet.precision import half_network
from accelbench.submissions.ipu.efficientnet.training import IpuEfficientNetTraining
from accelbench.submissions.ipu.efficientnet.with_loss import WithSmoothedCrossEntropy

from poptorch_standins import OneIpu, recorder_for

TRAINED = ("efficientnet_b0", "efficientnet_b0_g16")
SERVED = ("efficientnet_b0_inference", "efficientnet_b0_g16_inference")
RULES = {workload: load_rules(workload) for workload in TRAINED + SERVED}
SCALES = ("smoke", "small", "full")
CLASSES = 10
DATASET = {"resolution": 32, "classes": CLASSES, "points": 1500}
SMALL_TRAINING = TrainingSettings(micro_batch=4, max_device_iterations=2)  # batch 8: 2 passes of 4
SMALL_SERVING = ServingSettings(depthwise_micro_batch=4, grouped_micro_batch=4)  # batch 8: 2 passes of 4
FP32_LOGIT_BOUND = 1e-5
"""The fp32 IPU network's logits equal the reference's up to summation order: within this fraction
of the largest logit (measured: 2.3e-6 of it, from batch size and thread count)."""
FP16_LOGIT_BOUND = 0.03
"""fp16 logits differ from fp32 ones by at most this fraction of the largest fp32 logit, in eval mode
(measured on CPU: at most 0.1% for B0, 1.1% for g16, over four seeds)."""
FP16_LOSS_BOUND = 0.03
"""The fp16 network's training loss (same weights and dropout masks) is within this fraction of the
fp32 one (measured: at most 1.0%). Its training-mode logits are not bounded as tightly: B0's batch
norm normalises the last stages' 1 x 1 maps over 8 samples, which amplifies rounding (up to 8%)."""


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Two cores are busy elsewhere; small convolutions run no slower on one thread."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def images(rows, seed=0):
    return torch.randint(0, 256, (rows, 3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def training_hyperparameters(workload, **overrides):
    return {**RULES[workload].hyperparameters.for_scale("smoke"), "batch_size": 8, "precision": "fp32", **overrides}


def training_context(workload="efficientnet_b0_g16", train=16, evals=6, world=SINGLE, **overrides):
    pictures = images(train + evals)
    return TrainingContext(
        workload=workload, scale="smoke", division="closed", hyperparameters=training_hyperparameters(workload, **overrides),
        seed=3, device="ipu", world=world, dataset_parameters=DATASET,
        train_inputs=pictures[:train], train_targets=torch.arange(train) % CLASSES, eval_inputs=pictures[train:],
    )


def with_rows(context, rows):
    """`context` with a training shard of `rows` samples that takes no memory (plans read its length only)."""
    return replace(context, train_inputs=torch.empty((rows, 0), dtype=torch.uint8))


def network(workload):
    """The reference network of `workload`, with batch-norm statistics from a few training-mode passes."""
    torch.manual_seed(0)
    built = from_hyperparameters(RULES[workload].hyperparameters.for_scale("smoke"), CLASSES)
    with torch.no_grad():
        for batch in range(3):
            built(images(8, seed=100 + batch))
    return built


@functools.cache
def served_weights(workload):
    return weights_of(network(workload.removesuffix("_inference")))


def serving_context(workload="efficientnet_b0_g16_inference", batch_size=8, **overrides):
    hp = {**RULES[workload].hyperparameters.for_scale("smoke"), "batch_size": batch_size, "precision": "fp32",
          **overrides}
    return InferenceContext(
        workload=workload, scale="smoke", division="closed", hyperparameters=hp, seed=3, device="ipu", world=SINGLE,
        dataset_parameters=DATASET, weights=served_weights(workload), batch_size=hp["batch_size"],
    )


# --- the training plan ---------------------------------------------------------------------------


@pytest.mark.parametrize("workload", TRAINED)
def test_the_default_training_plan_at_every_scale(workload, tmp_path):
    # rows of the single rank's shard, accumulated micro-batches, device iterations
    expected = {"smoke": (2048, 4, 8), "small": (4096, 4, 8), "full": (100000 // 128 * 128, 8, 1)}
    for scale in SCALES:
        rows, accumulation, iterations = expected[scale]
        hp = {**RULES[workload].hyperparameters.for_scale(scale), **training.HYPERPARAMETERS}
        context = with_rows(replace(training_context(workload), hyperparameters=hp), rows)
        plan = training_plan(context, environ={"POPTORCH_CACHE_DIR": str(tmp_path)})
        assert (plan.micro_batch, plan.gradient_accumulation, plan.device_iterations) == (16, accumulation, iterations)
        assert plan.local_batch == hp["batch_size"] and plan.replicas_per_process == 1
        assert plan.fp16 and plan.seed == 3 and plan.executable_cache_dir == str(tmp_path)
        assert plan.calls_per_epoch(rows) * plan.combined_batch == rows  # no batch dropped


def test_sixteen_ranks_at_full_scale_run_eight_steps_per_host_call():
    hp = {**RULES["efficientnet_b0_g16"].hyperparameters.for_scale("full"), **training.HYPERPARAMETERS}
    context = replace(training_context(world=World(rank=5, size=16, launcher="poprun")), hyperparameters=hp)
    plan = training_plan(with_rows(context, 100000 // 16 // 128 * 128))  # 48 batches per rank
    assert (plan.device_iterations, plan.seed) == (8, 3 + 5)  # dropout differs per replica


@settings(max_examples=200, deadline=None)
@given(micro=st.integers(1, 64), replicas=st.integers(1, 4), accumulation=st.integers(1, 16),
       steps=st.integers(1, 2000), most=st.integers(1, 16), remainder=st.floats(0, 0.99))
def test_training_batch_arithmetic(micro, replicas, accumulation, steps, most, remainder):
    batch = micro * replicas * accumulation
    rows = steps * batch + int(remainder * batch)
    context = with_rows(training_context(batch_size=batch), rows)
    plan = training_plan(context, TrainingSettings(micro_batch=micro, replicas=replicas, max_device_iterations=most), {})
    assert plan.gradient_accumulation == accumulation and plan.local_batch == batch
    iterations = plan.device_iterations
    assert 1 <= iterations <= most and steps % iterations == 0
    assert not any(steps % larger == 0 for larger in range(iterations + 1, min(steps, most) + 1))
    assert plan.calls_per_epoch(rows) * plan.combined_batch == steps * batch  # what the reference trains on


def test_device_iterations_divide_the_epoch():
    assert [device_iterations(steps, 8) for steps in (1, 7, 12, 32, 781)] == [1, 7, 6, 8, 1]


@pytest.mark.parametrize("overrides, world, settings_, words", [
    ({"precision": "bf16"}, SINGLE, SMALL_TRAINING,
     "precision 'bf16' is not available on the IPU: use --hparam precision=fp16 or --hparam precision=fp32"),
    ({"optimizer": "rmsprop"}, SINGLE, SMALL_TRAINING, r"implements AdamW only \(--hparam optimizer=adamw\)"),
    ({"batch_size": 10}, SINGLE, SMALL_TRAINING,
     r"batch_size 10 is not a multiple of the IPU micro-batch 4 x 1 replicas: use --hparam batch_size=8 "),
    ({"batch_size": 64}, SINGLE, TrainingSettings(micro_batch=20),
     "micro-batch 20 x 1 replicas: use --hparam batch_size=60 "),
    ({}, World(rank=0, size=2, launcher="poprun"), TrainingSettings(micro_batch=4, replicas=2),
     r"2 replicas per process with 2 processes: .*set replicas=1 in accelbench/submissions/ipu/efficientnet/config.py"),
])
def test_the_training_plan_refuses_what_the_submission_does_not_run(overrides, world, settings_, words):
    with pytest.raises(UserError, match=words) as caught:
        training_plan(training_context(world=world, **overrides), settings_, {})
    assert "\n" not in str(caught.value)


# --- the serving plan ----------------------------------------------------------------------------


@pytest.mark.parametrize("workload, throughput", [("efficientnet_b0_inference", (32, 32)),
                                                  ("efficientnet_b0_g16_inference", (64, 16))])
def test_the_default_serving_plan(workload, throughput, tmp_path):
    hp = {**RULES[workload].hyperparameters.for_scale("full"), **inference.HYPERPARAMETERS}
    context = replace(serving_context(workload), hyperparameters=hp, batch_size=hp["batch_size"])
    plan = serving_plan(context, environ={"POPTORCH_CACHE_DIR": str(tmp_path)})
    assert [(p.micro_batch, p.device_iterations) for p in plan.executors] == [(1, 1), throughput]
    assert plan.throughput.inference_batch == 1024
    assert plan.half and all(p.fp16 for p in plan.executors)  # fp16 partials
    assert {p.gradient_accumulation for p in plan.executors} == {1}
    assert {p.executable_cache_dir for p in plan.executors} == {str(tmp_path)}


@pytest.mark.parametrize("batch_size, shapes", [(1, [(1, 1)]), (16, [(1, 1), (16, 1)]), (512, [(1, 1), (32, 16)])])
def test_small_batches_make_fewer_or_shorter_executors(batch_size, shapes):
    plan = serving_plan(serving_context("efficientnet_b0_inference", batch_size=batch_size))
    assert [(p.micro_batch, p.device_iterations) for p in plan.executors] == shapes
    assert not plan.half and not any(p.fp16 for p in plan.executors)


@pytest.mark.parametrize("overrides, words", [
    ({"precision": "tf32"}, "precision 'tf32' is not available on the IPU: use --hparam precision=fp16 or"),
    ({"batch_size": 100}, r"batch_size 100 is not a multiple of the IPU micro-batch 64: use --hparam batch_size=128 "),
])
def test_the_serving_plan_refuses_what_the_submission_does_not_run(overrides, words):
    with pytest.raises(UserError, match=words) as caught:
        serving_plan(serving_context(**overrides))
    assert "\n" not in str(caught.value)


# --- the submission as the suite sees it -----------------------------------------------------------


@pytest.mark.parametrize("workload", TRAINED + SERVED)
def test_the_submissions_hyperparameters_stay_in_the_closed_division(workload):
    module = inference if workload in SERVED else training
    for scale in SCALES:
        chosen = {**RULES[workload].hyperparameters.for_scale(scale), **module.HYPERPARAMETERS}
        assert RULES[workload].hyperparameters.violations("closed", chosen, scale) == [], scale


@pytest.mark.parametrize("workload", TRAINED + SERVED)
def test_each_kind_resolves_to_its_module_on_an_ipu(workload):
    ipu = Device("ipu", "ipu", "Graphcore IPU (PopTorch)")
    assert resolve_implementation(RULES[workload], ipu) is (inference if workload in SERVED else training)


def test_importing_the_submission_never_imports_poptorch():
    probe = ("import sys; sys.modules['poptorch'] = None; "  # any `import poptorch` would fail
             "import accelbench.submissions.ipu.efficientnet.training, accelbench.submissions.ipu.efficientnet.inference")
    done = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("module, context", [(training, training_context), (inference, serving_context)])
def test_a_missing_poplar_sdk_is_one_line(module, context, monkeypatch):
    monkeypatch.setitem(sys.modules, "poptorch", None)  # import poptorch -> ImportError
    shared_poplar.load.cache_clear()
    try:
        with pytest.raises(UserError) as caught:
            module.create_session(context())
    finally:
        shared_poplar.load.cache_clear()
    message = str(caught.value)
    assert "\n" not in message and "poptorch" in message and "Poplar SDK 3.4" in message


# --- the network the IPU runs, against the reference -------------------------------------------------


@pytest.mark.parametrize("workload", TRAINED)
def test_the_loss_in_forward_is_the_references_bit_for_bit(workload):
    hp = training_hyperparameters(workload)
    net = network(workload)
    pictures, labels = images(8, seed=7), torch.arange(8) % CLASSES
    marked = []
    model = WithSmoothedCrossEntropy(net, float(hp["label_smoothing"]), lambda loss: marked.append(loss) or loss)
    reference = ImageClassifierTrainer(net, net, hp, pictures, labels, torch.Generator())

    def loss_and_gradients(compute):
        net.zero_grad(set_to_none=True)
        torch.manual_seed(1)  # the same dropout and drop-path masks
        loss = compute()
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in net.parameters()]

    loss, gradients = loss_and_gradients(lambda: model(pictures, labels))
    expected, expected_gradients = loss_and_gradients(lambda: reference.loss_fn(net(pictures), labels))
    assert len(marked) == 1 and torch.equal(loss, expected)
    assert all(torch.equal(g, e) for g, e in zip(gradients, expected_gradients))
    model.eval()
    logits = model(pictures, labels)  # labels given, still the logits alone
    with torch.no_grad():
        assert torch.equal(logits, net(pictures))


@pytest.mark.parametrize("workload", TRAINED)
def test_the_fp16_network_is_half_throughout_and_close_to_fp32(workload):
    net = network(workload)
    half = half_network(copy.deepcopy(net))
    assert all(p.dtype == torch.float16 for p in half.parameters())
    assert all(b.dtype in (torch.float16, torch.int64) for b in half.buffers())  # statistics too; step counts
    pictures, labels = images(8, seed=7), torch.arange(8) % CLASSES
    with torch.no_grad():
        for model in (net, half):
            model.eval()
        expected, got = net(pictures), half(pictures)
        assert got.dtype == torch.float16
        assert (got.float() - expected).abs().max() <= FP16_LOGIT_BOUND * expected.abs().max()
        smoothing = float(training_hyperparameters(workload)["label_smoothing"])
        losses = []
        for model in (net, half):
            torch.manual_seed(1)
            losses.append(WithSmoothedCrossEntropy(model, smoothing, lambda loss: loss).train()(pictures, labels))
    assert losses[1].dtype == torch.float32
    assert abs(losses[1] - losses[0]) <= FP16_LOSS_BOUND * losses[0]


# --- the learning rate between host calls ------------------------------------------------------------


class RecordingExecutor:
    def __init__(self):
        self.sent = []

    def setOptimizer(self, optimizer):
        self.sent.append(optimizer.param_groups[0]["lr"])


def test_the_device_learns_every_rate_change_of_the_reference_schedule_and_only_those():
    hp = training_hyperparameters("efficientnet_b0")
    optimizer = torch.optim.AdamW([nn.Parameter(torch.zeros(3))], lr=float(hp["learning_rate"]))
    executor = RecordingExecutor()
    rate = RateOnDevice(executor, optimizer, WarmupThenExponential(optimizer, hp, steps_per_epoch=4))
    for _ in range(12):  # three epochs of four host calls; warm-up is one epoch
        rate.before_call()
    base = float(hp["learning_rate"])
    assert executor.sent == pytest.approx([base / 4, base / 2, base * 3 / 4, base, base * hp["lr_decay"]])


# --- the PopTorch calls, against PopTorch 3.4's names -------------------------------------------------

POPTORCH_34 = {
    "poptorch.Options", "poptorch.Options().replicationFactor", "poptorch.Options().deviceIterations",
    "poptorch.Options().Training.gradientAccumulation", "poptorch.Options().randomSeed",
    "poptorch.Options().enableExecutableCaching", "poptorch.Options().outputMode", "poptorch.OutputMode.All",
    "poptorch.Options().Precision.setPartialsType", "poptorch.Options().Precision.enableStochasticRounding",
    "poptorch.optim.AdamW", "poptorch.identity_loss", "poptorch.trainingModel", "poptorch.inferenceModel",
    "poptorch.inferenceModel().compile", "poptorch.inferenceModel().attachToDevice",
    "poptorch.inferenceModel().detachFromDevice",
}


recorder = recorder_for(POPTORCH_34)


def ipu_plan(**fields):
    base = IpuPlan(micro_batch=16, gradient_accumulation=4, device_iterations=8, seed=42,
                   executable_cache_dir="/tmp/exe", fp16=True)
    return replace(base, **fields)


def test_training_options_make_exactly_the_documented_calls(tmp_path):
    log = []
    EfficientNetPopTorch(recorder("poptorch", log)).training_options(
        ipu_plan(replicas_per_process=4, executable_cache_dir=str(tmp_path / "cache")), stochastic_rounding=True)
    o = "poptorch.Options()"
    assert log == [
        ("poptorch.Options", (), {}),
        (f"{o}.replicationFactor", (4,), {}),
        (f"{o}.deviceIterations", (8,), {}),
        (f"{o}.Training.gradientAccumulation", (4,), {}),
        (f"{o}.randomSeed", (42,), {}),
        (f"{o}.enableExecutableCaching", (str(tmp_path / "cache"),), {}),
        (f"{o}.outputMode", ("poptorch.OutputMode.All",), {}),
        (f"{o}.Precision.setPartialsType", (torch.float16,), {}),
        (f"{o}.Precision.enableStochasticRounding", (True,), {}),
    ]
    log.clear()
    EfficientNetPopTorch(recorder("poptorch", log)).training_options(
        ipu_plan(fp16=False, executable_cache_dir=str(tmp_path)), stochastic_rounding=False)
    assert not any("Precision" in path for path, _, _ in log)


def test_adamw_is_the_references_with_loss_scaling_and_float32_moments():
    log = []
    net = nn.Linear(3, 2)
    EfficientNetPopTorch(recorder("poptorch", log)).adamw(adamw(net, training_hyperparameters("efficientnet_b0")),
                                                          loss_scaling=128.0)
    ((path, (parameters,), kwargs),) = log
    assert path == "poptorch.optim.AdamW" and parameters == list(net.parameters())
    assert kwargs == {"lr": 0.003, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 1e-5, "loss_scaling": 128.0,
                      "accum_type": torch.float32, "first_order_momentum_accum_type": torch.float32,
                      "second_order_momentum_accum_type": torch.float32}


def test_the_loss_marker_is_identity_loss_and_copies_no_sdk_module():
    log = []
    loss = torch.tensor(2.0)
    EfficientNetPopTorch(recorder("poptorch", log)).loss_marker()(loss)
    assert log == [("poptorch.identity_loss", (loss,), {"reduction": "none"})]

    def identity_loss(tensor, reduction):
        return tensor

    sdk = SimpleNamespace(identity_loss=identity_loss)
    model = WithSmoothedCrossEntropy(nn.Linear(3, 2), 0.1, EfficientNetPopTorch(sdk).loss_marker())
    assert copy.deepcopy(model).mark_loss.func is identity_loss


def test_the_serving_session_makes_exactly_the_documented_poptorch_calls(tmp_path, monkeypatch):
    monkeypatch.setenv("POPTORCH_CACHE_DIR", str(tmp_path / "cache"))
    log = []
    session = IpuEfficientNetServing(serving_context(precision="fp16"), shared_poplar.PopTorch(recorder("poptorch", log)),
                                     SMALL_SERVING)
    o = "poptorch.Options()"

    def options(iterations):
        return [
            ("poptorch.Options", (), {}),
            (f"{o}.replicationFactor", (1,), {}),
            (f"{o}.deviceIterations", (iterations,), {}),
            (f"{o}.randomSeed", (3,), {}),
            (f"{o}.enableExecutableCaching", (str(tmp_path / "cache"),), {}),
            (f"{o}.outputMode", ("poptorch.OutputMode.All",), {}),
            (f"{o}.Precision.setPartialsType", (torch.float16,), {}),
        ]

    executor = ("poptorch.inferenceModel", (session.network,), {"options": o})
    assert log == [*options(1), executor, *options(2), executor]
    log.clear()
    session.warm_up(images(3).numpy())
    e = "poptorch.inferenceModel()"
    assert [path for path, _, _ in log] == [f"{e}.compile", f"{e}.detachFromDevice", f"{e}.compile"]
    examples = [args[0] for path, args, _ in log if path.endswith("compile")]
    assert [tuple(example.shape) for example in examples] == [(1, 3, 32, 32), (8, 3, 32, 32)]
    assert all(example.dtype == torch.uint8 and example.is_contiguous() for example in examples)


# --- the sessions, through CPU stand-ins for the PopTorch layer ----------------------------------------


class CpuExecutor:
    """A compiled PopTorch executor, on the host: its mode and input shapes and dtypes are fixed at
    compile time (compiling attaches, PopTorch's default ConnectionType.Always)."""

    def __init__(self, model, options, ipu, training):
        self.model, self.plan, self.ipu, self.training = model, options.plan, ipu, training
        self.example = None
        self.calls = 0

    def compile(self, *example):
        assert self.example is None, "compiled twice"
        assert self.model.training == self.training, "compiled in the wrong mode"
        self.example = example
        self.ipu.attach(self)

    def isAttachedToDevice(self):
        return self.example is not None and self.ipu.holder is self

    def attachToDevice(self):
        assert self.example is not None, "attached before compiling"
        self.ipu.attach(self)

    def detachFromDevice(self):
        self.ipu.detach(self)

    def _check(self, *inputs):
        assert self.ipu.holder is self, "run while not attached"
        assert self.model.training == self.training, "run in another mode than compiled"
        for fed, compiled in zip(inputs, self.example, strict=True):
            assert fed.shape == compiled.shape and fed.dtype == compiled.dtype, "not the compiled shape"
            assert fed.is_contiguous(), "PopTorch wants contiguous graph inputs"
        self.calls += 1


class CpuTrainer(CpuExecutor):
    """Per call: device_iterations optimizer steps of gradient_accumulation micro-batches; returns
    every micro-batch's loss (OutputMode.All)."""

    def __init__(self, model, options, optimizer, ipu):
        super().__init__(model, options, ipu, training=True)
        self.optimizer = optimizer
        self.sent = []

    def setOptimizer(self, optimizer):
        assert optimizer is self.optimizer, "the executor was built with another optimizer"
        self.sent.append(optimizer.param_groups[0]["lr"])

    def __call__(self, pictures, labels):
        self._check(pictures, labels)
        losses = []
        for step in range(self.plan.device_iterations):
            self.optimizer.zero_grad()
            rows = slice(step * self.plan.local_batch, (step + 1) * self.plan.local_batch)
            for x, y in zip(pictures[rows].split(self.plan.micro_batch), labels[rows].split(self.plan.micro_batch)):
                loss = self.model(x, y)
                (loss / self.plan.gradient_accumulation).backward()
                losses.append(loss.detach())
            self.optimizer.step()
        return torch.stack(losses)


class CpuInferencer(CpuExecutor):
    """A host call runs device_iterations passes of micro_batch images and returns every pass's outputs."""

    def __call__(self, pictures):
        self._check(pictures)
        with torch.no_grad():
            return torch.cat([self.model(micro) for micro in pictures.split(self.plan.micro_batch)])


class CpuPopTorch:
    """The PopTorch layer's interface, run by torch on the host; the optimizer is the reference's
    own torch AdamW (loss scaling changes no result but rounding, so the stand-in has none)."""

    poptorch = SimpleNamespace(__version__="3.4.0+cpu-stand-in")
    popdist = None

    def __init__(self):
        self.ipu = OneIpu()
        self.asked = {}

    def options(self, plan, *, training):
        return SimpleNamespace(plan=plan, training=training)

    def training_options(self, plan, *, stochastic_rounding):
        self.asked["stochastic_rounding"] = stochastic_rounding
        return self.options(plan, training=True)

    def adamw(self, reference, *, loss_scaling):
        self.asked["loss_scaling"] = loss_scaling
        return reference

    def loss_marker(self):
        return lambda loss: loss

    def training_executor(self, model, options, optimizer):
        return CpuTrainer(model, options, optimizer, self.ipu)

    def inference_executor(self, model, options):
        return CpuInferencer(model, options, self.ipu, training=False)

    def loader(self, options, dataset, plan, asynchronous):
        assert options.training and not asynchronous
        return torch.utils.data.DataLoader(dataset, batch_size=plan.combined_batch, shuffle=True, drop_last=True)


def training_session(train=32, **overrides):
    started = IpuEfficientNetTraining(training_context(train=train, **overrides), CpuPopTorch(), SMALL_TRAINING)
    started.warm_up()
    return started


def test_training_runs_whole_host_calls_at_the_reference_schedule_and_evaluates_in_order():
    s = training_session()  # 32 samples, batch 8: 4 steps, 2 per host call
    assert s.poplar.ipu.holder is s.trainer  # compiled both, then handed back to training
    assert s.inferencer.example[0].shape == (8, 3, 32, 32)  # 4 images x 2 device iterations
    before = [p.detach().clone() for p in s.network.parameters()]
    report = s.train_epoch(1)
    assert report.samples == 32 and math.isfinite(report.train_loss) and report.train_loss > 0
    assert s.trainer.calls == 2
    base = float(s.hp["learning_rate"])
    assert s.trainer.sent == pytest.approx([base / 2, base])  # warm-up: one epoch of two host calls
    assert any(not torch.equal(p, b) for p, b in zip(s.network.parameters(), before))

    predictions = s.predict_eval()
    assert predictions.shape == (6, CLASSES) and predictions.dtype == torch.float32
    s.network.eval()
    with torch.no_grad():
        eager = s.network(s.eval_inputs)
    torch.testing.assert_close(predictions, eager, rtol=0, atol=FP32_LOGIT_BOUND * float(eager.abs().max()))
    assert s.poplar.ipu.holder is None  # free for the next run
    s.train_epoch(2)  # the training executor takes the IPU back
    assert s.trainer.sent == pytest.approx([base / 2, base])  # no decay before the third epoch
    assert s.poplar.asked == {"stochastic_rounding": False, "loss_scaling": 1.0}


def test_fp16_training_is_half_with_loss_scaling_and_stochastic_rounding():
    s = training_session(workload="efficientnet_b0", precision="fp16")
    assert all(p.dtype == torch.float16 for p in s.network.parameters())
    assert s.plan.fp16 and s.poplar.asked == {"stochastic_rounding": True, "loss_scaling": 128.0}
    predictions = s.predict_eval()
    assert predictions.shape == (6, CLASSES) and predictions.dtype == torch.float32


def test_logged_hyperparameters():
    logged = training_session(train=16).logged_hyperparameters()
    assert logged[mlk.GLOBAL_BATCH_SIZE] == 8 and logged[mlk.GRADIENT_ACCUMULATION_STEPS] == 2
    assert logged[mlk.OPT_NAME] == "adamw" and logged[mlk.OPT_BASE_LR] == 0.003


def test_several_processes_need_poprun():
    with pytest.raises(UserError, match="poprun --num-instances 4 --num-replicas 4"):
        IpuEfficientNetTraining(training_context(world=World(rank=1, size=4, launcher="mpirun")), CpuPopTorch(),
                                SMALL_TRAINING)


INDICES = [40 + 3 * row for row in range(12)]
PICTURES = images(12, seed=5)


def serving_session(workload, precision="fp32", batch_size=8):
    started = IpuEfficientNetServing(serving_context(workload, batch_size=batch_size, precision=precision),
                                     CpuPopTorch(), SMALL_SERVING)
    started.load_samples(INDICES, PICTURES.numpy())
    started.warm_up(PICTURES[:3].numpy())
    return started


@functools.cache
def reference_predictions(workload):
    reference = reference_inference.create_session(replace(serving_context(workload), device="cpu"))
    try:
        reference.load_samples(INDICES, PICTURES.numpy())
        return reference.predict(INDICES)
    finally:
        reference.close()


def expected(workload, indices):
    return reference_predictions(workload)[[INDICES.index(index) for index in indices]]


def tolerance(workload, precision="fp32"):
    """fp32: the same arithmetic up to summation order (batch sizes, thread counts); fp16: the stated bound."""
    fraction = FP32_LOGIT_BOUND if precision == "fp32" else FP16_LOGIT_BOUND
    return fraction * float(np.abs(reference_predictions(workload)).max())


@pytest.mark.parametrize("workload", SERVED)
@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_served_predictions_are_the_references_in_order_through_both_executors(workload, precision):
    s = serving_session(workload, precision)
    latency, throughput = s.executors
    assert s.poplar.ipu.holder is throughput  # compiled last
    requests = [
        [INDICES[5]],  # SingleStream: the latency executor
        [INDICES[i] for i in (7, 2, 2, 11, 0)],  # a padded host call, a repeated sample
        INDICES[::-1],  # more than one host call
        [INDICES[9]],
    ]
    for request in requests:
        predictions = s.predict(request)
        assert predictions.shape == (len(request), CLASSES) and predictions.dtype == np.float32
        np.testing.assert_allclose(predictions, expected(workload, request), rtol=0, atol=tolerance(workload, precision))
    assert (latency.calls, throughput.calls) == (2, 3)
    assert s.poplar.ipu.holder is latency
    s.close()
    assert s.poplar.ipu.holder is None  # the next run's session can attach


def test_unloaded_samples_are_gone_and_the_rest_still_answer():
    workload = "efficientnet_b0_inference"
    s = serving_session(workload, batch_size=1)
    assert len(s.executors) == 1
    s.unload_samples(INDICES[4:10])
    with pytest.raises(KeyError):
        s.predict([INDICES[4]])
    np.testing.assert_allclose(s.predict([INDICES[11]]), expected(workload, [INDICES[11]]), rtol=0,
                               atol=tolerance(workload))


def test_predict_before_warm_up_says_so():
    s = IpuEfficientNetServing(serving_context(), CpuPopTorch(), SMALL_SERVING)
    s.load_samples(INDICES, PICTURES.numpy())
    with pytest.raises(RuntimeError, match="warm_up"):
        s.predict(INDICES[:2])


def test_served_logged_hyperparameters():
    assert serving_session("efficientnet_b0_g16_inference", "fp16").logged_hyperparameters() == {
        "precision": "fp16", "micro_batch": 4, "device_iterations": 2, "half_partials": True,
        "latency_micro_batch": 1, "framework": "poptorch 3.4.0+cpu-stand-in",
    }
