"""The reference training session: real model, real optimizer and schedule, on tiny data."""

import pytest
import torch

from accelbench.contracts.training import TrainingContext
from accelbench.reference.neuron_inverter.training import create_session
from accelbench.rules.loader import load_rules
from accelbench.run.world import SINGLE

HYPER = {**load_rules("neuron_inverter").hyperparameters.for_scale("smoke"),
         "batch_size": 16, "eval_batch_size": 24, "warmup_epochs": 2}


def context(seed=3, **overrides):
    generator = torch.Generator().manual_seed(0)
    inputs = torch.randn(64, 1600, 4, generator=generator)
    targets = torch.tanh(inputs[:, ::100, 0][:, :15])  # learnable from the inputs
    return TrainingContext(
        workload="neuron_inverter", scale="smoke", division="closed",
        hyperparameters={**HYPER, **overrides}, seed=seed, device="cpu", world=SINGLE,
        train_inputs=inputs, train_targets=targets, eval_inputs=inputs[:40],
    )


def test_warmup_ramps_the_learning_rate_linearly():
    session = create_session(context())
    session.train_epoch(1)
    assert session.optimizer.param_groups[0]["lr"] == pytest.approx(HYPER["learning_rate"] / 2)
    session.train_epoch(2)
    assert session.optimizer.param_groups[0]["lr"] == pytest.approx(HYPER["learning_rate"])


def test_epoch_report_and_predictions():
    session = create_session(context())
    report = session.train_epoch(1)
    assert report.samples == 64 and report.train_loss > 0
    predictions = session.predict_eval()
    assert predictions.shape == (40, 15) and predictions.device.type == "cpu"


def test_training_reduces_the_loss():
    session = create_session(context())
    first = session.train_epoch(1).train_loss
    for epoch in range(2, 9):
        last = session.train_epoch(epoch).train_loss
    assert last < first


def test_plateau_schedule_divides_the_rate_after_warmup():
    session = create_session(context(plateau_patience=1))
    for epoch in (1, 2):
        session.train_epoch(epoch)
    for _ in range(3):
        session.after_eval(1.0)  # no improvement
    assert session.optimizer.param_groups[0]["lr"] == pytest.approx(HYPER["learning_rate"] * 0.11)


def test_same_seed_same_run_other_seed_other_run():
    """Sessions run one after another (dropout draws from torch's global RNG, seeded at init)."""
    la, lb, lc = (create_session(context(seed=s)).train_epoch(1).train_loss for s in (5, 5, 6))
    assert la == lb and la != lc


def test_logged_hyperparameters_use_mlperf_keys():
    logged = create_session(context()).logged_hyperparameters()
    assert logged["opt_name"] == "adamw" and logged["global_batch_size"] == 16
    assert logged["opt_base_learning_rate"] == HYPER["learning_rate"]


def test_refuses_what_it_does_not_implement():
    with pytest.raises(ValueError, match="fp32"):
        create_session(context(precision="bf16"))
