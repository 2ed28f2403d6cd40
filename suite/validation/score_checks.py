"""score.json recomputed: the olympic score of the set's runs, by `accelbench.judging.scoring`'s own
function, from each run's re-derived convergence and time to train. A score that says anything
else (value, validity, dropped runs, or which runs it scored) is an error."""

from __future__ import annotations

from collections.abc import Sequence

from accelbench.judging.scoring import olympic_score
from accelbench.results.models import BenchmarkScore, TrainingRunResult
from accelbench.rules.schema import BenchmarkRules
from accelbench.submission.layout import ResultSet
from accelbench.validation.findings import Findings, shown
from accelbench.validation.run_checks import close, derived_convergence


def check_score(
    score: BenchmarkScore, relative: str, runs: Sequence[tuple[str, TrainingRunResult]],
    result_set: ResultSet, division: str, rules: BenchmarkRules, findings: Findings,
) -> None:
    """`runs`: (file name, result) of every run of the set, in the set's order."""

    def error(message: str) -> None:
        findings.error("score.value", relative, message)

    identity = {"workload": (score.workload, result_set.workload), "scale": (score.scale, result_set.scale),
                "division": (score.division, division), "system": (score.system, result_set.system),
                "rules_version": (score.rules_version, rules.rules_version),
                "minimum_runs": (score.minimum_runs, rules.runs.minimum[result_set.scale]),
                "max_non_converged": (score.max_non_converged, rules.runs.max_non_converged)}
    for field, (recorded, expected) in identity.items():
        if recorded != expected:
            error(f"{field} is {shown(recorded)}; the set and its rules say {shown(expected)}")

    names = [name for name, _ in runs]
    if [run.file for run in score.runs] != names:
        findings.error("score.runs", relative, f"scores {shown([run.file for run in score.runs])} but the "
                       f"set's runs are {shown(names)}: a score covers every run of its set, in order")
        return
    converged = [derived_convergence(result, rules) for _, result in runs]
    times = [result.timing.time_to_train_s if ok else None for (_, result), ok in zip(runs, converged)]
    for scored, (name, result), ok, time in zip(score.runs, runs, converged, times):
        recorded = (scored.seed, scored.converged, scored.achieved)
        if recorded != (result.seed, ok, result.quality.achieved) or not close(scored.time_to_train_s, time):
            findings.error("score.runs", relative, f"the entry for {name} (seed {scored.seed}, converged "
                           f"{shown(scored.converged)}, time {shown(scored.time_to_train_s)}, achieved "
                           f"{shown(scored.achieved)}) does not match the run (seed {result.seed}, converged "
                           f"{shown(ok)}, time {shown(time)}, achieved {shown(result.quality.achieved)})")

    outcome = olympic_score(times, rules.runs.minimum[result_set.scale], rules.runs.max_non_converged)
    expected_dropped = [names[i] for i in outcome.dropped]
    if not close(score.score_s, outcome.value_s):
        error(f"score_s is {shown(score.score_s)} but the olympic mean of the runs is {shown(outcome.value_s)}")
    if score.valid != outcome.valid or score.reason != outcome.reason:
        error(f"valid {shown(score.valid)} ({shown(score.reason)}) but the runs give "
              f"{shown(outcome.valid)} ({shown(outcome.reason)})")
    if score.dropped != expected_dropped:
        error(f"dropped {shown(score.dropped)} but the fastest and slowest runs are {shown(expected_dropped)}")
    if score.non_converged != outcome.non_converged:
        error(f"non_converged is {score.non_converged} but {outcome.non_converged} run(s) did not converge")
