"""The a100 efficientnet submission on the CPU's eager path, both variants: training step for step
as the reference in fp32 (and in step across two processes over DDP), reduced-precision predictions
within a bound of the precision's unit roundoff, serving as the reference serves, and the
closed-rules defaults. Channels-last,
torch.compile and the CUDA graphs run only on a GPU (benchmarks/check_a100_efficientnet.py checks
them there)."""

import copy
import importlib.util
import os
import socket
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from accelbench.contracts.inference import InferenceContext
from accelbench.contracts.training import TrainingContext
from accelbench.reference.efficientnet import data
from accelbench.reference.efficientnet import inference as reference_inference
from accelbench.reference.efficientnet import training as reference_training
from accelbench.reference.efficientnet.model import from_hyperparameters, load_weights, weights_of
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE, World
from accelbench.submissions.a100.efficientnet import inference, training

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
VARIANTS = {"depthwise": ("efficientnet_b0", "efficientnet_b0_inference"),
            "g16": ("efficientnet_b0_g16", "efficientnet_b0_g16_inference")}
RULES = {workload: load_rules(workload) for pair in VARIANTS.values() for workload in pair}
DATASET = RULES["efficientnet_b0"].dataset.parameters_for("smoke")  # 32 px, 10 classes
IMAGES = 8  # two training steps of 4, eval predictions in two chunks of 4, one serving batch
UNIT_ROUNDOFF = {"bf16": 2.0**-8, "fp16": 2.0**-11}
CLOSE = 16
"""Logits within CLOSE x u of fp32 (relative, over the batch and per image): autocast rounds every
convolution's input and weights once to p bits, and the normalisations keep the error from
compounding with depth. Measured on the CPU (torch 2.14, one thread, the 8 images and stand-in
weights below): bf16 4.0 u for the depthwise network and 6.2 u for the g16, fp16 4.1 u and 6.9 u,
per image at most 11.3 u; with the smoke scale's served weights 1.6 u to 3.5 u. A wrong weight,
layout or normalisation is off by O(1)."""
FP32_CLOSE = 1e-5
"""fp32 serving of a request batched otherwise than the reference's (4 images rather than 8): the
same arithmetic, its sums blocked otherwise (measured 1.7e-6)."""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: on 2 cores that other work keeps busy, a second thread's spin-waits made
    these tests 10 times slower (114 s against 11 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def images():
    """(IMAGES, 3, 32, 32) uint8 fractal images of the smoke classes and their labels, by the dataset's own renderer."""
    fractals = data.fractal_classes(RULES["efficientnet_b0"].dataset.seed, **DATASET)
    labels = np.arange(IMAGES) % fractals.classes
    return fractals.render(labels, np.random.default_rng(0)), labels


@pytest.fixture(scope="module")
def stand_ins(images):
    """variant -> seeded initial weights standing in for trained ones: batch norm's statistics
    measured on the images, each variance floored at 0.1, so channels the random init leaves nearly
    constant do not amplify rounding by up to 1/sqrt(eps) as no trained network would."""
    weights = {}
    for variant, (_, workload) in VARIANTS.items():
        torch.manual_seed(0)
        network = from_hyperparameters(RULES[workload].hyperparameters.for_scale("smoke"), DATASET["classes"])
        norms = [module for module in network.modules() if isinstance(module, nn.BatchNorm2d)]
        for norm in norms:
            norm.momentum = None  # set the statistics to the batch's
        with torch.no_grad():
            network.train()(torch.from_numpy(images[0]))
            for norm in norms:
                norm.running_var.clamp_(min=0.1)
        weights[variant] = weights_of(network)
    return weights


def training_context(workload, images, **overrides):
    inputs, labels = torch.from_numpy(images[0]), torch.from_numpy(images[1])
    hyperparameters = {**RULES[workload].hyperparameters.for_scale("smoke"), "batch_size": 4, "eval_batch_size": 4}
    return TrainingContext(
        workload=workload, scale="smoke", division="closed", hyperparameters={**hyperparameters, **overrides},
        seed=3, device="cpu", world=SINGLE, dataset_parameters=DATASET,
        train_inputs=inputs, train_targets=labels, eval_inputs=inputs,
    )


def inference_context(workload, weights, precision="fp32", batch_size=IMAGES):
    return InferenceContext(
        workload=workload, scale="smoke", division="closed",
        hyperparameters={**RULES[workload].hyperparameters.for_scale("smoke"), "precision": precision,
                         "batch_size": batch_size},
        seed=0, device="cpu", world=SINGLE, dataset_parameters=DATASET, weights=weights, batch_size=batch_size,
    )


@pytest.fixture(scope="module")
def reference_answers(images, stand_ins):
    """variant -> the fp32 reference session's logits for the images with the stand-in weights."""
    answers = {}
    for variant, (_, workload) in VARIANTS.items():
        session = reference_inference.create_session(inference_context(workload, stand_ins[variant], batch_size=IMAGES))
        session.load_samples(range(IMAGES), images[0])
        answers[variant] = session.predict(range(IMAGES))
        session.close()
    return answers


def served(workload, weights, inputs, precision="fp32"):
    """The a100 session holding `inputs` as samples 0..n-1, and its logits for all of them."""
    session = inference.create_session(inference_context(workload, weights, precision, batch_size=len(inputs)))
    session.load_samples(range(len(inputs)), inputs)
    return session, session.predict(range(len(inputs)))


def relative_error(actual, expected):
    return float(np.linalg.norm(actual - expected) / np.linalg.norm(expected))


def assert_close_to_fp32(actual, expected, precision):
    """Within the bound and not equal (the reduced precision ran); the same top-1 on every image
    whose fp32 top two are further apart than twice the bound lets a logit move (the others are
    near-ties at this bound: the stand-in weights' top two are 0.01 to 3 apart)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    u = UNIT_ROUNDOFF[precision]
    error = relative_error(actual, expected)
    assert 0 < error <= CLOSE * u, f"{precision}: {error / u:.1f} u"
    scale = np.abs(expected).max(1)
    assert (np.abs(actual - expected).max(1) <= CLOSE * u * scale).all()
    top_two = np.sort(expected, 1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 2 * CLOSE * u * scale
    assert clear.any()
    np.testing.assert_array_equal(actual.argmax(1)[clear], expected.argmax(1)[clear])


# hyperparameters


@pytest.mark.parametrize(("workload", "module"), [(pair[0], training) for pair in VARIANTS.values()]
                         + [(pair[1], inference) for pair in VARIANTS.values()])
def test_the_defaults_are_within_the_closed_rules(workload, module):
    for scale in ("smoke", "small", "full"):
        values = {**RULES[workload].hyperparameters.for_scale(scale), **module.HYPERPARAMETERS}
        assert RULES[workload].hyperparameters.violations("closed", values, scale) == []


def test_unsupported_choices_are_one_line_errors(images, stand_ins):
    workload, inference_workload = VARIANTS["depthwise"]
    refusals = [
        (lambda: training.create_session(training_context(workload, images, precision="fp8")), "fp32, tf32, bf16, fp16"),
        (lambda: inference.create_session(inference_context(inference_workload, stand_ins["depthwise"], "fp8")),
         "fp32, tf32, bf16, fp16"),
        (lambda: training.create_session(training_context(workload, images, optimizer="sgd")), "AdamW"),
    ]
    for make, fragment in refusals:
        with pytest.raises(ValueError, match=fragment) as refused:
            make()
        assert "\n" not in str(refused.value)


# training


@pytest.mark.parametrize("variant", VARIANTS)
def test_fp32_on_cpu_trains_exactly_like_the_reference(variant, images):
    """Same seeding, shuffling, dropout and drop-path draws, schedule, loss and AdamW: bit-identical
    losses, weights, batch-norm statistics and eval predictions after two steps. (The sessions draw
    dropout from torch's global generator, so each trains in turn.)"""
    workload = VARIANTS[variant][0]
    reference = reference_training.create_session(training_context(workload, images))
    expected_report = reference.train_epoch(1)
    session = training.create_session(training_context(workload, images))
    assert session.train_epoch(1) == expected_report
    expected = reference.network.state_dict()
    for name, value in session.network.state_dict().items():
        assert torch.equal(value, expected[name]), name
    predictions = session.predict_eval()
    assert predictions.shape == (IMAGES, DATASET["classes"]) and predictions.device.type == "cpu"
    assert torch.equal(predictions, reference.predict_eval())
    assert session.logged_hyperparameters() == reference.logged_hyperparameters()


def test_warm_up_trains_nothing(images):
    """Weights, batch-norm statistics, gradients, optimizer state and the generators that dropout
    and the shuffle draw from are as before, so the epochs that follow are those without a warm-up."""
    session = training.create_session(training_context(VARIANTS["depthwise"][0], images))
    weights = copy.deepcopy(session.network.state_dict())
    generators = torch.get_rng_state(), session.batches.shuffle.get_state()
    session.warm_up()
    for name, value in session.network.state_dict().items():
        assert torch.equal(value, weights[name]), name
    assert all(parameter.grad is None for parameter in session.network.parameters())
    assert session.optimizer.state_dict()["state"] == {}
    assert torch.equal(torch.get_rng_state(), generators[0])
    assert torch.equal(session.batches.shuffle.get_state(), generators[1])


@pytest.mark.parametrize("variant", VARIANTS)
def test_bf16_eval_predictions_stay_close_to_fp32(variant, images, stand_ins, reference_answers):
    session = training.create_session(training_context(VARIANTS[variant][0], images, precision="bf16"))
    load_weights(session.network, stand_ins[variant])
    predictions = session.predict_eval()
    assert predictions.dtype == torch.float32 and predictions.shape == (IMAGES, DATASET["classes"])
    assert_close_to_fp32(predictions, reference_answers[variant], "bf16")


def _train_one_rank(rank, port, images):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        shard = slice(rank * 4, (rank + 1) * 4)
        context = replace(training_context(VARIANTS["depthwise"][0], images),
                          world=World(rank=rank, size=2, local_rank=rank, launcher="torchrun"),
                          train_inputs=torch.from_numpy(images[0][shard]), train_targets=torch.from_numpy(images[1][shard]))
        session = training.create_session(context)
        session.warm_up()
        assert session.train_epoch(1).samples == 4
        weights = torch.cat([parameter.detach().flatten() for parameter in session.network.parameters()])
        replicas = [torch.empty_like(weights) for _ in range(2)]
        dist.all_gather(replicas, weights)
        assert torch.equal(replicas[0], replicas[1]), "the replicas drifted apart"
        assert session.logged_hyperparameters()["global_batch_size"] == 8
        dist.barrier()  # neither rank tears gloo down while the other still talks to it
    finally:
        dist.destroy_process_group()


def test_two_processes_stay_in_step_over_gloo(images):
    """DDP, the path the GPUs take over NCCL: one step of 4 images per rank leaves the same weights on
    both, though their dropout masks differ. (Batch norm's running statistics are each rank's own
    until DDP broadcasts rank 0's at the next forward, as in the reference.)"""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_train_one_rank, args=(port, images), nprocs=2, join=True)


# inference


@pytest.mark.parametrize("variant", VARIANTS)
def test_fp32_serving_answers_as_the_reference_in_the_order_asked(variant, images, stand_ins, reference_answers):
    inputs, expected = images[0], reference_answers[variant]
    session, answered = served(VARIANTS[variant][1], stand_ins[variant], inputs)
    assert answered.dtype == np.float32 and answered.shape == (IMAGES, DATASET["classes"])
    np.testing.assert_array_equal(answered, expected)  # the same batch and arithmetic: the same bits
    session.unload_samples(range(IMAGES))
    session.load_samples([5, 3, 9, 1], inputs[:4])
    assert relative_error(session.predict([9, 5, 1, 3]), expected[[2, 0, 3, 1]]) <= FP32_CLOSE
    session.unload_samples([5, 9])
    with pytest.raises(KeyError):
        session.predict([5])
    session.load_samples([5, 7], inputs[4:6])  # 5 comes back with other images
    assert relative_error(session.predict([7, 3, 5, 1]), expected[[5, 1, 4, 3]]) <= FP32_CLOSE
    assert len(session.samples) == 4  # unloading freed the rows


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_reduced_precision_serving_stays_close_to_the_reference(variant, images, stand_ins, reference_answers,
                                                                 precision):
    session, answered = served(VARIANTS[variant][1], stand_ins[variant], images[0], precision)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    assert session.model.backbone.conv_stem.weight.dtype == dtype
    assert session.model.backbone.classifier.weight.dtype == dtype
    assert session.model.backbone.bn1.weight.dtype == torch.float32  # the norms stay as autocast has them
    assert_close_to_fp32(answered, reference_answers[variant], precision)


def test_the_cpu_path_serves_eagerly_and_says_so(images, stand_ins):
    session = inference.create_session(inference_context(VARIANTS["depthwise"][1], stand_ins["depthwise"], "bf16", 4))
    session.warm_up(images[0][:4])
    assert session.graphs == {} and not session.host_rows.is_pinned()
    assert session.logged_hyperparameters() == {
        "precision": "bf16", "framework": f"torch {torch.__version__}", "channels_last": False,
        "torch_compile": False, "cuda_graphs": False, "cuda_graph_batch_sizes": ""}


# the GPU check script


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message a machine without CUDA gets")
def test_the_gpu_check_says_in_one_line_that_it_needs_cuda(capsys):
    assert load_script("check_a100_efficientnet").main([]) == 2
    message = capsys.readouterr().err
    assert message.count("\n") == 1 and "CUDA GPU" in message
