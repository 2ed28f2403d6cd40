"""The harness owns the clock, the eval cadence and the stop rule."""

import json
from types import SimpleNamespace
import math
import time

import numpy as np
import pytest
import torch

from accelbench.contracts.context import RunContext
from accelbench.contracts.training import EpochReport, TrainingSession
from accelbench.errors import UserError
from accelbench.results.models import DatasetRecord
from accelbench.rules.loader import load_rules
from accelbench.run.events import EventLog
from accelbench.run.preparation import PreparedData
from accelbench.run.training import TrainingHarness
from accelbench.run.world import SINGLE

RULES = load_rules("neuron_inverter")
TARGETS = torch.zeros(8, 15)


class FakeClock:
    """Advances one second per reading, so every interval is deterministic."""

    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


class ScriptedSession(TrainingSession):
    """Returns predictions whose MSE follows a script; records what the harness asked."""

    def __init__(self, mse_by_epoch, losses=None):
        self.mse_by_epoch = mse_by_epoch
        self.losses = losses or {}
        self.epoch = 0
        self.after_eval_calls = []
        self.warmed = False

    def warm_up(self):
        self.warmed = True

    def train_epoch(self, epoch):
        self.epoch = epoch
        return EpochReport(samples=100, train_loss=self.losses.get(epoch, 0.5))

    def predict_eval(self):
        return torch.full_like(TARGETS, math.sqrt(self.mse_by_epoch[self.epoch]))

    def after_eval(self, metric):
        self.after_eval_calls.append(metric)


class Implementation:
    def __init__(self, session):
        self.session = session

    def create_session(self, context):
        return self.session


def context():
    return RunContext(workload="neuron_inverter", scale="smoke", division="closed", hyperparameters={},
                      seed=7, device="cpu", world=SINGLE)


def data(eval_targets):
    """Four training and eight eval samples, as numpy arrays (what the prepare step hands over)."""
    record = DatasetRecord(id="neuron_inverter/smoke", generator_version="test", seed=0, splits={})
    return PreparedData(train_inputs=np.zeros((4, 1600, 4), np.float32), train_targets=np.zeros((4, 15), np.float32),
                        eval_inputs=np.zeros((8, 1600, 4), np.float32), eval_targets=eval_targets.numpy(),
                        record=record)


def sections(record):
    """The training record's result sections (timing, quality, throughput) and its energy, as attributes."""
    return SimpleNamespace(**record.sections, energy=record.energy)


def run(tmp_path, session, scale="smoke", mode="to_target", rules=RULES, targets=TARGETS, clock=None):
    log_path = tmp_path / "run.mllog"
    with EventLog(log_path) as log:
        record = TrainingHarness(rules, scale, mode, clock=clock or FakeClock()).run(
            Implementation(session), context(), data(targets), log)
    events = [json.loads(line.split(":::MLLOG ", 1)[1]) for line in log_path.read_text().splitlines()]
    return sections(record), events


def test_stops_at_the_first_eval_that_meets_the_target(tmp_path):
    target = RULES.quality.target["smoke"]
    session = ScriptedSession({1: 0.3, 2: target + 1e-3, 3: target, 4: 0.0})
    outcome, events = run(tmp_path, session)
    assert outcome.quality.converged and outcome.quality.epochs == 3
    assert outcome.quality.achieved == pytest.approx(target)
    assert outcome.quality.stop_reason == "target reached at epoch 3"
    assert session.warmed
    assert session.after_eval_calls == pytest.approx([0.3, target + 1e-3, target])
    assert [p.epoch for p in outcome.quality.curve] == [1, 2, 3]
    keys = [e["key"] for e in events]
    assert keys[:2] == ["init_start", "seed"] and "init_stop" in keys
    assert keys.index("init_stop") < keys.index("run_start") < keys.index("run_stop")
    run_stop = events[keys.index("run_stop")]
    assert run_stop["metadata"]["status"] == "success"
    evals = [e for e in events if e["key"] == "eval_accuracy"]
    assert [e["metadata"]["epoch_num"] for e in evals] == [1, 2, 3]
    assert evals[-1]["metadata"]["samples_count"] == 300


def test_misses_the_target_within_the_budget(tmp_path):
    budget = RULES.quality.max_epochs["smoke"]
    outcome, events = run(tmp_path, ScriptedSession({e: 0.3 for e in range(1, budget + 1)}))
    assert not outcome.quality.converged and outcome.quality.epochs == budget
    assert outcome.quality.achieved == pytest.approx(0.3)
    assert "budget" in outcome.quality.stop_reason
    assert [e for e in events if e["key"] == "run_stop"][0]["metadata"]["status"] == "aborted"


def test_a_diverged_run_stops_and_records_null(tmp_path):
    outcome, events = run(tmp_path, ScriptedSession({1: 0.3}, losses={2: math.nan}))
    assert not outcome.quality.converged and outcome.quality.epochs == 2
    assert outcome.quality.train_loss == [0.5, None]
    assert "diverged" in outcome.quality.stop_reason
    assert all("NaN" not in json.dumps(e) for e in events)


def test_times_come_from_the_harness_clock(tmp_path):
    outcome, _ = run(tmp_path, ScriptedSession({1: 0.0}))
    assert outcome.timing.init_s == 1.0  # one tick between init begin and init end
    assert outcome.timing.run_s > 0 and all(t > 0 for t in outcome.timing.epoch_s)


def test_fixed_epochs_runs_the_scaling_rules_epochs_past_the_target(tmp_path):
    epochs = RULES.scaling.epochs["smoke"]
    script = {e: 0.0 for e in range(1, epochs + 1)}
    script[epochs] = 0.25
    outcome, events = run(tmp_path, ScriptedSession(script), mode="fixed_epochs")
    assert outcome.quality.epochs == outcome.quality.max_epochs == epochs
    assert outcome.quality.achieved == pytest.approx(0.25) and outcome.quality.converged  # 0.25 <= 0.28
    assert outcome.quality.stop_reason == f"ran the {epochs} epochs of the scaling rules"
    assert len([e for e in events if e["key"] == "eval_accuracy"]) == epochs


class PseudoSession(ScriptedSession):
    """Evaluates through the training graph during the run; the true eval comes after it."""

    eval_kind = "pseudo"

    def __init__(self, mse_by_epoch, final_mse):
        super().__init__(mse_by_epoch)
        self.final_mse = final_mse
        self.final_calls = 0

    def predict_final(self):
        self.final_calls += 1
        return torch.full_like(TARGETS, math.sqrt(self.final_mse))


def test_pseudo_validation_reports_the_true_eval_made_after_the_clock(tmp_path):
    session = PseudoSession({1: 0.3, 2: 0.2}, final_mse=0.1)
    outcome, events = run(tmp_path, session)
    assert outcome.quality.epochs == 2 and outcome.quality.converged
    assert outcome.quality.eval_kind == "pseudo" and session.final_calls == 1
    assert outcome.quality.achieved == pytest.approx(0.1)
    assert outcome.timing.final_eval_s == 1.0  # one tick of the harness clock, outside run_s
    keys = [e["key"] for e in events]
    assert keys.index("run_stop") < keys.index("final_eval_accuracy")


def test_a_pseudo_converged_run_whose_true_eval_misses_is_not_converged(tmp_path):
    outcome, _ = run(tmp_path, PseudoSession({1: 0.2}, final_mse=0.5))
    assert not outcome.quality.converged
    assert outcome.quality.achieved == pytest.approx(0.5)
    assert "true mse after the run misses the target" in outcome.quality.stop_reason


def test_pseudo_validation_is_refused_where_the_rules_forbid_it(tmp_path):
    strict = RULES.model_copy(update={
        "quality": RULES.quality.model_copy(update={"pseudo_validation": {"closed": False, "open": True}})
    })
    with pytest.raises(UserError, match="pseudo-validation, which the closed division"):
        run(tmp_path, PseudoSession({1: 0.2}, final_mse=0.1), rules=strict)


def test_fixed_epochs_needs_scaling_rules():
    with pytest.raises(UserError, match="no \\[scaling\\] rules"):
        TrainingHarness(RULES.model_copy(update={"scaling": None}), "smoke", "fixed_epochs")


class ConstantMeter:
    """A 100 W device that counts its reads."""

    name, devices, description = "fake", ("fake:0",), "a constant 100 W"

    def __init__(self):
        self.reads = 0

    def read(self):
        from accelbench.energy.meter import DeviceReading

        self.reads += 1
        return {"fake:0": DeviceReading(power_w=100.0)}

    def close(self):
        pass


class SlowSession(ScriptedSession):
    def __init__(self, meter, mse_by_epoch):
        super().__init__(mse_by_epoch)
        self.meter = meter
        self.reads_at_warm_up = None

    def warm_up(self):
        self.reads_at_warm_up = self.meter.reads

    def train_epoch(self, epoch):
        time.sleep(0.05)
        return super().train_epoch(epoch)


def test_energy_is_sampled_over_the_timed_region_only(tmp_path):
    from accelbench.energy.sampler import EnergySampler

    meter = ConstantMeter()
    session = SlowSession(meter, {1: 0.3, 2: 0.3, 3: 0.0})
    with EventLog(tmp_path / "run.mllog") as log:
        outcome = sections(TrainingHarness(RULES, "smoke").run(Implementation(session), context(), data(TARGETS), log,
                                                               sampler=EnergySampler(meter, hz=50.0)))
    assert session.reads_at_warm_up == 0  # nothing read during init
    energy = outcome.energy
    assert 0.15 <= energy.duration_s <= outcome.timing.run_s
    assert energy.joules == pytest.approx(100.0 * energy.duration_s, rel=1e-6)
    assert energy.samples >= 3 and energy.failure is None


SNN_RULES = load_rules("snn_bptt_sparse")
LABELS = torch.arange(8) % 2


class ActivitySession(ScriptedSession):
    """Classifies a scripted fraction of the eval samples right at a scripted firing rate."""

    def __init__(self, script):
        super().__init__({})
        self.script = script  # epoch -> (accuracy in eighths, firing rate)

    def predict_eval(self):
        right, rate = self.script[self.epoch]
        guesses = torch.where(torch.arange(8) < right, LABELS, 1 - LABELS)
        return {
            "logits": torch.nn.functional.one_hot(guesses, 2).float(),
            "firing_rate.hidden_1": torch.full((8,), rate),
            "firing_rate.hidden_2": torch.full((8,), rate),
        }


def run_snn(tmp_path, session, mode="to_target"):
    return run(tmp_path, session, mode=mode, rules=SNN_RULES, targets=LABELS)


def test_a_run_converges_only_where_the_bounds_hold_too(tmp_path):
    low, high = (bound.value["smoke"] for bound in SNN_RULES.quality.bounds)
    inside, above = (low + high) / 2, high * 3
    script = {epoch: (8, above) for epoch in range(1, 4)} | {4: (8, inside)}
    outcome, events = run_snn(tmp_path, ActivitySession(script))
    assert outcome.quality.converged and outcome.quality.epochs == 4 and outcome.quality.achieved == 1.0
    assert outcome.quality.measurements == {
        "firing_rate": pytest.approx(inside), "firing_rate.hidden_1": pytest.approx(inside),
        "firing_rate.hidden_2": pytest.approx(inside),
    }
    assert outcome.quality.curve[0].measurements["firing_rate"] == pytest.approx(above)
    logged = [e["metadata"]["measurements"]["firing_rate"] for e in events if e["key"] == "eval_accuracy"]
    assert logged == pytest.approx([above, above, above, inside])


def test_a_run_that_meets_the_target_outside_its_bounds_says_which(tmp_path):
    high = SNN_RULES.quality.bounds[1].value["smoke"]
    budget = SNN_RULES.quality.max_epochs["smoke"]
    script = {epoch: (8, high * 3) for epoch in range(1, budget + 1)}
    outcome, _ = run_snn(tmp_path, ActivitySession(script))
    assert not outcome.quality.converged and outcome.quality.epochs == budget
    assert outcome.quality.stop_reason.endswith(f"the last eval met the target but not firing_rate {high * 3:.4g} "
                                        f"is not at most {high:g}")


class AsynchronousSession(ScriptedSession):
    """A device that queues work: each epoch leaves 5 s of it pending until synchronize()."""

    def __init__(self, clock, mse_by_epoch):
        super().__init__(mse_by_epoch)
        self.clock, self.pending, self.synchronized = clock, 0.0, 0

    def train_epoch(self, epoch):
        self.pending += 5.0
        return super().train_epoch(epoch)

    def synchronize(self):
        self.synchronized += 1
        self.clock.now += self.pending  # the queued work finishes only now
        self.pending = 0.0


def test_the_clock_waits_for_the_device_before_every_reading(tmp_path):
    clock = FakeClock()
    session = AsynchronousSession(clock, {1: 0.3, 2: 0.0})
    record, _ = run(tmp_path, session, clock=clock)
    assert record.quality.epochs == 2
    assert all(epoch_s >= 5.0 for epoch_s in record.timing.epoch_s)  # the queued work is counted
    assert record.timing.run_s >= 10.0
    assert session.synchronized >= 2 * 3  # each epoch: start, end, elapsed; and more around evals
