"""The tests a benchmark module of `pytest suite` runs, by its workload's kind.

A module in suite/ names its workload in `WORKLOAD` and imports them. Training: one `test_run` per run
(fails with the achieved value when a run misses the target or a bound within its epoch
budget), then `test_score`, the olympic score. With `--mode=fixed_epochs` (weak scaling) a run
passes when it trains the rules' epochs without diverging (`accelbench scaling` compares them).
Inference: one `test_inference_run` per run (its LoadGen runs are the record; no score over runs).
Sampling: one `test_sampling_run` per run (fails with the diagnostics when the chains do not
converge within their draw budget), then `test_score` over the times to target.
"""


def test_run(benchmark_set, run_index):
    result = benchmark_set.run(run_index)
    quality = result.quality
    if result.mode == "fixed_epochs":
        assert quality.achieved is not None and quality.epochs == quality.max_epochs, (
            f"run {run_index} stopped early: {quality.stop_reason}"
        )
        return
    assert quality.converged, (
        f"run {run_index} did not converge: val {quality.metric} {quality.achieved} vs target "
        f"{quality.target} after {quality.epochs}/{quality.max_epochs} epochs ({quality.stop_reason})"
    )


def test_score(benchmark_set):
    score = benchmark_set.score()
    assert score.valid, f"score not valid: {score.reason}"


def test_inference_run(benchmark_set, run_index):
    """An inference run: the accuracy gate passes and LoadGen finds every scenario VALID."""
    record = benchmark_set.run(run_index).inference
    assert record.valid, f"run {run_index} is not valid: {record.reason}"


def test_sampling_run(benchmark_set, run_index):
    """A sampling run: the diagnostics meet their bounds and the predictive score its target."""
    result = benchmark_set.run(run_index)
    quality = result.quality
    assert quality.converged, (
        f"run {run_index} did not converge after {result.draws.draws_per_chain}/{quality.max_draws_per_chain} "
        f"draws per chain: {quality.stop_reason}"
    )
