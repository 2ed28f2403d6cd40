"""The efficientnet reference: timm's B0 and the g16 variant built from one stage table, the training
session and schedule, the weights recipe and the fp32 inference session, on a few 32-px images."""

import sys

import numpy as np
import pytest
import torch
from torch import nn

from accelbench.contracts.inference import InferenceContext
from accelbench.contracts.training import TrainingContext
from accelbench.errors import UserError
from accelbench.reference.efficientnet import inference, model, training, weights
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE

VARIANTS = {"efficientnet_b0": (6, 1, "batch"), "efficientnet_b0_g16": (4, 16, "group")}
CLASSES = 10


def hyperparameters(workload, **overrides):
    return {**load_rules(workload).hyperparameters.for_scale("smoke"), "batch_size": 4, "eval_batch_size": 3,
            **overrides}


def images(n, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=generator)


def training_context(workload, seed=3, **overrides):
    inputs = images(16)
    targets = torch.arange(16) % CLASSES
    return TrainingContext(
        workload=workload, scale="smoke", division="closed", hyperparameters=hyperparameters(workload, **overrides),
        seed=seed, device="cpu", world=SINGLE, dataset_parameters={"classes": CLASSES, "resolution": 32},
        train_inputs=inputs, train_targets=targets, eval_inputs=inputs[:7],
    )


def test_the_depthwise_variant_is_timms_efficientnet_b0_layer_for_layer():
    import timm

    ours = model.efficientnet_b0(CLASSES).backbone
    theirs = timm.create_model("efficientnet_b0", num_classes=CLASSES)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [(k, v.shape) for k, v in theirs.state_dict().items()]


@pytest.mark.parametrize("variant, parameters", [((6, 1, "batch"), 5_288_548), ((4, 16, "group"), 5_913_796)])
def test_parameter_counts_with_imagenets_1000_classes(variant, parameters):
    expand, group, norm = variant
    network = model.efficientnet_b0(1000, expand_ratio=expand, group_size=group, norm=norm)
    assert model.parameter_count(network) == parameters


def test_g16_groups_every_formerly_depthwise_convolution_by_16_channels_and_uses_group_norm():
    backbone = model.efficientnet_b0(CLASSES, expand_ratio=4, group_size=16, norm="group").backbone
    depthwise = [m.conv_dw for stage in backbone.blocks for m in stage]
    assert len(depthwise) == 16
    assert all(conv.in_channels // conv.groups == 16 for conv in depthwise)
    assert backbone.blocks[1][0].conv_pw.out_channels == 16 * 4  # expand ratio 4 on 16 input channels
    assert not any(isinstance(m, nn.BatchNorm2d) for m in backbone.modules())
    assert all(m.num_groups == 4 and m.eps == 1e-3 for m in backbone.modules() if isinstance(m, nn.GroupNorm))


def test_a_timm_whose_b0_differs_is_refused_in_one_line(monkeypatch):
    monkeypatch.setitem(model.BACKBONE_PARAMETERS, (6, 1, "batch"), 4_000_000)
    with pytest.raises(UserError, match=r"builds a B0 .* of 4,007,548 parameters without the classifier, not "
                                        r"4,000,000: pip install 'accelbench\[vision\]'") as error:
        model.efficientnet_b0(CLASSES)
    assert "\n" not in str(error.value)


def test_missing_timm_is_one_line_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)
    with pytest.raises(UserError, match=r"need timm .*pip install 'accelbench\[vision\]'"):
        model.require_timm()


def test_the_network_takes_uint8_and_normalises_it_to_minus_one_one():
    network = model.efficientnet_b0(CLASSES).eval()
    x = images(2)
    with torch.no_grad():
        assert torch.equal(network(x), network.backbone(x.float() / 127.5 - 1.0))


def test_warmup_then_exponential_decay():
    parameter = nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([parameter], lr=1.0)
    hp = {"learning_rate": 0.1, "warmup_epochs": 1.0, "lr_decay": 0.5}
    schedule = training.WarmupThenExponential(optimizer, hp, steps_per_epoch=4)
    rates = []
    for _ in range(12):
        schedule.step()
        rates.append(optimizer.param_groups[0]["lr"])
    assert rates[:4] == pytest.approx([0.025, 0.05, 0.075, 0.1])
    assert rates[4:] == pytest.approx([0.1] * 4 + [0.05] * 4)


@pytest.mark.parametrize("workload", VARIANTS)
def test_a_session_trains_and_predicts_class_scores(workload):
    session = training.create_session(training_context(workload))
    before = [p.detach().clone() for p in session.network.parameters()]
    report = session.train_epoch(1)
    assert report.samples == 16 and np.isfinite(report.train_loss)
    assert any(not torch.equal(a, b) for a, b in zip(before, session.network.parameters()))
    scores = session.predict_eval()
    assert scores.shape == (7, CLASSES) and scores.dtype == torch.float32
    assert session.logged_hyperparameters()["opt_name"] == "adamw"


def test_training_on_a_fixed_batch_fits_it():
    """Two classes told apart by brightness: a few full-batch steps bring the loss down."""
    context = training_context("efficientnet_b0_g16", batch_size=16, dropout=0.0, drop_path=0.0, warmup_epochs=0.0,
                               learning_rate=0.001)
    labels = torch.arange(16) % 2
    bright = (labels * 200 + 20).to(torch.uint8)[:, None, None, None].expand(16, 3, 32, 32).contiguous()
    session = training.create_session(
        TrainingContext(**{**context.__dict__, "train_inputs": bright, "train_targets": labels}))
    losses = [session.train_epoch(epoch).train_loss for epoch in range(1, 7)]
    assert losses[-1] < 0.5 * losses[0]


def test_the_reference_refuses_what_it_does_not_implement():
    with pytest.raises(ValueError, match="AdamW in fp32 only"):
        training.create_session(training_context("efficientnet_b0", precision="bf16"))


@pytest.mark.parametrize("workload", VARIANTS)
def test_the_closed_division_fixes_the_resolution_and_bounds_the_batch(workload):
    rules = load_rules(workload)
    chosen = {**rules.hyperparameters.for_scale("smoke"), "resolution": 48, "batch_size": 8}
    violations = " ".join(rules.hyperparameters.violations("closed", chosen, "smoke"))
    assert "'resolution' = 48 breaks the reference value 32" in violations and "batch_size" in violations


def recipe(workload, **overrides):
    return {**load_rules(f"{workload}_inference").inference.weights.parameters, "batch_size": 4, **overrides}


def test_the_weights_recipe_is_deterministic_and_leaves_the_thread_count_alone():
    inputs, targets = images(8).numpy(), (np.arange(8) % CLASSES).astype(np.int64)
    threads = torch.get_num_threads()
    first = weights.train(inputs, targets, seed=5, epochs=1, classes=CLASSES, **recipe("efficientnet_b0"))
    again = weights.train(inputs, targets, seed=5, epochs=1, classes=CLASSES, **recipe("efficientnet_b0"))
    other = weights.train(inputs, targets, seed=6, epochs=1, classes=CLASSES, **recipe("efficientnet_b0"))
    assert torch.get_num_threads() == threads
    assert first.keys() == again.keys() and all(np.array_equal(first[k], again[k]) for k in first)
    assert not all(np.array_equal(first[k], other[k]) for k in first)
    assert "backbone.bn1.running_mean" in first and not any(k.endswith("num_batches_tracked") for k in first)


@pytest.mark.parametrize("workload", VARIANTS)
def test_the_inference_session_serves_the_weights_it_is_given(workload):
    rules = load_rules(f"{workload}_inference")
    hp = rules.hyperparameters.for_scale("smoke")
    inputs = images(6, seed=1)
    trained = weights.train(inputs.numpy(), (np.arange(6) % CLASSES).astype(np.int64), seed=1, epochs=1,
                            classes=CLASSES, **recipe(workload))
    context = InferenceContext(workload=rules.workload, scale="smoke", division="closed", hyperparameters=hp, seed=0,
                               device="cpu", world=SINGLE, dataset_parameters={"classes": CLASSES},
                               weights=trained, batch_size=4)
    session = inference.create_session(context)
    session.load_samples([3, 4, 5], inputs[3:].numpy())
    served = session.predict([5, 3])
    session.close()
    expected = model.load_weights(model.from_hyperparameters(hp, CLASSES), trained).eval()
    with torch.no_grad():
        assert np.allclose(served, expected(inputs[[5, 3]]).numpy(), rtol=0, atol=1e-5)


def test_weights_for_another_variant_are_refused_in_one_line():
    trained = model.weights_of(model.efficientnet_b0(CLASSES))
    g16 = model.efficientnet_b0(CLASSES, expand_ratio=4, group_size=16, norm="group")
    with pytest.raises(UserError, match="do not fit this model"):
        model.load_weights(g16, trained)
