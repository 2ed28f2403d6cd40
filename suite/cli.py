"""`accelbench`: a thin command line over the runner, the keys, the verifier and the rules."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console
from rich.markdown import Markdown

from accelbench.errors import UserError
from accelbench.history import commands as history_commands

app = typer.Typer(
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="MLPerf-style benchmarks of accelerators on scientific workloads.",
)
data_app = typer.Typer(no_args_is_help=True, help="Generate or verify a workload's dataset.")
rules_app = typer.Typer(no_args_is_help=True, help="Read the benchmark rules.")
system_app = typer.Typer(no_args_is_help=True, help="Describe the system results run on.")
container_app = typer.Typer(no_args_is_help=True, help="Build and run the vendor images (needs Docker).")
app.add_typer(data_app, name="data")
app.add_typer(rules_app, name="rules")
app.add_typer(system_app, name="system")
app.add_typer(container_app, name="container")
app.add_typer(history_commands.store_app, name="store")
app.add_typer(history_commands.pipeline_app, name="pipeline")
app.command("history")(history_commands.history)
app.command("compare")(history_commands.compare)
console = Console(highlight=False)
if not console.is_terminal:
    console.width = max(console.width, 120)


def say(message: str) -> None:
    console.print(message, markup=False, highlight=False, soft_wrap=True)


@app.command()
def run(
    workload: str = typer.Argument(..., help="workload id, e.g. neuron_inverter"),
    device: str = typer.Option("cpu", help="cpu (reference), a100 or ipu"),
    scale: str = typer.Option("smoke", help="smoke, small or full"),
    runs: Optional[int] = typer.Option(None, help="number of runs [the rules' minimum]"),
    seed: Optional[int] = typer.Option(None, help="seed of the first run [random]"),
    results_dir: Path = typer.Option(Path("results"), help="results root"),
    key: Optional[Path] = typer.Option(None, help="signing key [user config dir]"),
    data_dir: Optional[Path] = typer.Option(None, help="dataset cache [user cache dir]"),
    mode: str = typer.Option("to_target", help="to_target (scored) or fixed_epochs (weak scaling)"),
    hparam: List[str] = typer.Option(
        [], metavar="NAME=VALUE", help="override a hyperparameter within the division's rules"
    ),
) -> None:
    """Run WORKLOAD RUNS times (train to its target or the scaling rules' epochs; serve an
    inference workload under LoadGen), write signed results and print the score. Under
    torchrun/srun every process runs this same command."""
    from accelbench.run.console import inference_table, sampling_table, summary_table
    from accelbench.run.plan import plan_benchmark
    from accelbench.run.runner import BenchmarkSet

    plan = plan_benchmark(
        workload, device=device, scale=scale, runs=runs, seed=seed, results_root=results_dir,
        key_path=key, data_dir=data_dir, mode=mode, hparams=hparam,
    )
    bench = BenchmarkSet(plan, report=say)
    results = [bench.run(index) for index in range(1, plan.runs + 1)]
    if plan.rules.kind == "inference":  # each run's LoadGen runs are its record: no score over runs
        if plan.world.primary:
            console.print(inference_table(results))  # type: ignore[arg-type]
            say(f"results in {plan.results_dir}")
        if not all(result.inference.valid for result in results):  # type: ignore[union-attr]
            raise typer.Exit(1)
        return
    score = bench.score() if plan.mode == "to_target" else None
    if plan.world.primary:
        table = sampling_table if plan.rules.kind == "sampling" else summary_table
        console.print(table(bench.ordered_results(), score))  # type: ignore[arg-type]
        say(f"results in {plan.results_dir}")
    if score is not None and not score.valid:
        raise typer.Exit(1)


@app.command()
def keygen(
    key: Optional[Path] = typer.Option(None, help="where to write the key [user config dir]"),
    force: bool = typer.Option(False, help="replace an existing key"),
) -> None:
    """Create the Ed25519 key that signs results (PEM, mode 0600)."""
    from accelbench.trust.keys import default_key_path, generate_key, public_key_pem
    from accelbench.trust.signing import key_id

    path = key or default_key_path()
    private = generate_key(path, overwrite=force)
    say(f"wrote {path} (key id {key_id(private.public_key())})")
    say(public_key_pem(private).rstrip())


@app.command()
def verify(
    files: List[Path] = typer.Argument(..., help="run_N.json or score.json files"),
    trusted_key_id: List[str] = typer.Option([], help="accept only these key ids"),
) -> None:
    """Check each result's schema, signature and event-log hash; exit 1 if any fails."""
    from accelbench.trust.verification import verify_file

    failed = 0
    for path in files:
        try:
            verified = verify_file(path, trusted_key_id or None)
        except UserError as err:
            failed += 1
            say(f"FAIL {path}: {err}")
            continue
        say(f"OK   {path}: signed by key {verified.key_id}; {verified.detail}")
    if failed:
        raise typer.Exit(1)


@app.command()
def scaling(
    paths: List[Path] = typer.Argument(..., help="run_N.json files or directories holding them"),
    out: Path = typer.Option(Path("scaling-report"), help="where the CSV, Markdown and PNG go"),
    trusted_key_id: List[str] = typer.Option([], help="accept only results signed by these keys"),
) -> None:
    """Weak-scaling report from verified runs: end quality, time and samples/s per epoch and
    energy per epoch against the number of accelerators, each system side by side."""
    from accelbench.report.scaling import load_report, render_markdown, write_report

    report = load_report(paths, trusted_key_id or None)
    written = write_report(report, out)
    sys.stdout.write(render_markdown(report))
    say("wrote " + ", ".join(str(path) for path in written))


@app.command()
def package(
    results: List[Path] = typer.Argument(..., help="results/<system>/<workload>/<scale> directories"),
    system: List[Path] = typer.Option(..., help="system.json of each system the results ran on"),
    out: Path = typer.Option(..., help="the new submission directory"),
    key: Optional[Path] = typer.Option(None, help="signing key [user config dir]"),
) -> None:
    """Assemble a submission tree: verified results and logs, system descriptions, the code
    that ran, the public keys, and a signed manifest of every file's SHA-256."""
    from accelbench.submission.packaging import package as package_tree
    from accelbench.trust.keys import load_or_create_key

    private, key_file, created = load_or_create_key(key)
    if created:
        say(f"created a signing key at {key_file}")
    manifest = package_tree(results, system, out, private)
    sets = manifest["result_sets"]
    say(f"wrote {out}: {len(sets)} result set(s), {sum(len(s['runs']) for s in sets)} runs, "
        f"{len(manifest['files'])} files; check it with `accelbench validate {out}`")


@app.command()
def validate(
    submission: Path = typer.Argument(..., help="a submission directory written by `accelbench package`"),
    as_json: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Re-derive every verdict of SUBMISSION from its files alone; exit 0 only if it is valid."""
    from accelbench.validation.validator import validate_submission

    report = validate_submission(submission)
    if as_json:
        sys.stdout.write(report.json_text())
    else:
        console.print(report.renderable())
    raise typer.Exit(report.exit_code)


@app.command()
def summarize(
    submissions: List[Path] = typer.Argument(..., help="submission directories written by `accelbench package`"),
    out: Path = typer.Option(Path("summary"), help="where summary.md, .csv, .html and the PNGs go"),
    trusted_key_id: List[str] = typer.Option([], help="accept only files signed by these keys"),
) -> None:
    """Results table across systems from verified submissions: time to train with a 95% CI,
    end quality, energy, samples/s; for inference, each LoadGen scenario's samples/s and latency
    with a latency CDF and latency vs batch size; a variant's ratios to the workload its rules
    compare it with; Markdown, CSV, self-contained HTML with plots."""
    from accelbench.report.summarize import load_summary, write_summary
    from accelbench.report.summary_tables import markdown_table

    summary = load_summary(submissions, trusted_key_id or None)
    written = write_summary(summary, out)
    sys.stdout.write(markdown_table(summary))
    if summary.sampling:
        from accelbench.report.sampling_summary import sampling_tables

        sys.stdout.write(sampling_tables(summary.sampling))
    from accelbench.report.variant_ratios import ratio_rows, render_markdown

    sys.stdout.write(render_markdown(ratio_rows(summary), None))
    say("wrote " + ", ".join(str(path) for path in written))


@system_app.command("describe")
def system_describe(
    submitter: str = typer.Option(..., help="who submits (your organisation)"),
    name: str = typer.Option("cpu", help="the system name, as results name it (cpu, cpu_n2, ...)"),
) -> None:
    """Print this machine's description as a CPU system (system.json), from what every result
    detects, so the two agree."""
    from accelbench.submission.systems import describe_this_machine

    say(describe_this_machine(submitter, name).model_dump_json(indent=2))


def _dataset_rules_and_scale(name: str, scale: str):
    from accelbench.rules.loader import load_dataset_rules
    from accelbench.rules.schema import SCALES

    if scale not in SCALES:
        raise UserError(f"unknown scale '{scale}': use one of {', '.join(SCALES)}")
    return load_dataset_rules(name), scale


@data_app.command("generate")
def data_generate(
    workload: str,
    scale: str = typer.Option("smoke", help="smoke, small or full"),
    data_dir: Optional[Path] = typer.Option(None, help="dataset cache [user cache dir]"),
    device: str = typer.Option("cpu", help="torch device to simulate on (cpu, cuda)"),
    force: bool = typer.Option(False, help="replace existing data"),
) -> None:
    """Generate WORKLOAD's dataset (or a workload family's, e.g. snn_bptt) at SCALE from the rules'
    seed and record its checksums."""
    from accelbench.data import datasets
    from accelbench.run.preparation import generation_progress

    rules, scale = _dataset_rules_and_scale(workload, scale)
    directory = datasets.data_directory(rules, scale, data_dir)
    weights_progress = generation_progress(say, "trained the served weights:", "optimizer steps")
    if rules.inference is not None and datasets.is_generated(directory) and not force:
        say(f"{rules.family} {scale} is already in {directory}: verifying it, then the served weights")
        manifest = datasets.verify(rules, scale, directory)
        datasets.train_missing_weights(rules, scale, directory, weights_progress)
    else:
        say(f"generating {workload} {scale} into {directory} on {device}")
        manifest = datasets.generate(rules, scale, directory, device=device, overwrite=force,
                                     progress=generation_progress(say), weights_progress=weights_progress)
    _print_manifest(manifest)
    expected = datasets.expected_checksums(rules, scale)
    for split, entry in manifest.splits.items():
        if expected.get(split) not in (None, entry.sha256):
            raise UserError(
                f"{directory}: split '{split}' has sha256 {entry.sha256} but the rules expect "
                f"{expected[split]}: this machine does not reproduce the reference bytes"
            )
    _print_weights(rules, scale, directory)


def _print_weights(rules, scale: str, directory: Path) -> None:
    """An inference workload's served weights: their content hash, checked against the rules."""
    if rules.inference is None:
        return
    from accelbench.data.model_weights import load_weights, weights_path, weights_sha256

    digest = weights_sha256(load_weights(rules, scale, directory))
    say(f"  weights {weights_path(directory, rules.workload).name}  sha256 {digest}")


@data_app.command("verify")
def data_verify(
    workload: str,
    scale: str = typer.Option("smoke", help="smoke, small or full"),
    data_dir: Optional[Path] = typer.Option(None, help="dataset cache [user cache dir]"),
) -> None:
    """Check WORKLOAD's (or a family's) dataset at SCALE against its manifest and the rules' checksums."""
    from accelbench.data import datasets

    rules, scale = _dataset_rules_and_scale(workload, scale)
    directory = datasets.data_directory(rules, scale, data_dir)
    manifest = datasets.verify(rules, scale, directory)
    _print_manifest(manifest)
    _print_weights(rules, scale, directory)
    say("OK: every split (and served weights) matches its manifest and the rules")


def _print_manifest(manifest) -> None:
    for split, entry in manifest.splits.items():
        say(f"  {split:<6} {entry.samples:>9} samples  sha256 {entry.sha256}")


@rules_app.command("show")
def rules_show(
    workload: str,
    version: str = typer.Option("v1", help="rule-set version"),
    as_json: bool = typer.Option(False, "--json", help="print the validated rules as JSON"),
    as_markdown: bool = typer.Option(False, "--markdown", help="print the README's rules reference"),
) -> None:
    """Print the rules of WORKLOAD: data, targets, timing, runs, hyperparameters, calibration."""
    from accelbench.report.rules_reference import markdown
    from accelbench.rules.loader import load_rules

    rules = load_rules(workload, version)
    if as_json:
        say(rules.model_dump_json(indent=2))
        return
    if as_markdown:
        sys.stdout.write(markdown(rules))
        return
    text = markdown(rules).splitlines()[1:-1]  # without the README's marker comments
    console.print(Markdown("\n".join(text)))


@rules_app.command("calibration")
def rules_calibration(
    results: Path = typer.Argument(..., help="a results directory holding run_N.json files"),
    command: str = typer.Option("", help="the command that produced the runs, for the record"),
) -> None:
    """Print the calibration record (TOML) that a set of verified reference runs supports."""
    from accelbench.report.calibration import calibration_record, record_as_toml
    from accelbench.results.layout import read_verified, run_files
    from accelbench.results.models import SignedTrainingRunResult

    runs = [read_verified(path, SignedTrainingRunResult)[0] for path in run_files(results)]
    record, scale = calibration_record(runs, results, command)
    say(record_as_toml(record, scale))


@container_app.command("build")
def container_build(
    vendor: str = typer.Option(..., help="gpu (Dockerfile.gpu) or ipu (Dockerfile.ipu)"),
    context: Path = typer.Option(Path("."), help="the accelbench checkout to build from"),
) -> None:
    """Build the vendor's image from the checkout, tagged with the suite version and git revision."""
    from accelbench.container import engine
    from accelbench.container.images import plan_build

    plan = plan_build(context, vendor)
    client = engine.connect()
    say(f"building {plan.tag} from {plan.root / plan.vendor.dockerfile}")
    image_id = engine.build(client, plan, say)
    say(f"built {plan.tag} (image {image_id})")


@container_app.command("run")
def container_run(
    vendor: str = typer.Option(..., help="gpu (runs --device=a100) or ipu (runs --device=ipu)"),
    pytest_args: Optional[List[str]] = typer.Argument(None, help="passed to pytest, after --"),
    image: Optional[str] = typer.Option(None, help="image to run [this checkout's tag]"),
    context: Path = typer.Option(Path("."), help="the checkout whose tag is the default image"),
    results_dir: Path = typer.Option(Path("results"), help="host directory mounted at /results"),
    key: Optional[Path] = typer.Option(None, help="signing key, mounted read-only [user config dir]"),
    data_dir: Optional[Path] = typer.Option(None, help="dataset cache mounted at /data [user cache dir]"),
) -> None:
    """Run the suite in the vendor's image: accelerators passed through, results and key mounted.

    Example: accelbench container run --vendor gpu -- --scale=small --runs 5
    """
    from accelbench.container import engine
    from accelbench.container.images import image_tag
    from accelbench.container.images import vendor as find_vendor
    from accelbench.container.launch import plan_run
    from accelbench.results.provenance import git_state

    chosen = find_vendor(vendor)
    client = engine.connect()
    identity = engine.identify(client, image or image_tag(chosen, *git_state(context.resolve())))
    plan = plan_run(vendor, identity, list(pytest_args or []), results_dir=results_dir, key=key,
                    data_dir=data_dir)
    say(f"running {identity.reference} ({identity.digest}); results in {results_dir.resolve()}")
    status = engine.run(client, plan, say)
    if status != 0:
        raise typer.Exit(status)


def main() -> None:
    """Entry point: one-line errors for bad input, never a traceback."""
    try:
        app()
    except UserError as err:
        print(f"accelbench: error: {err}", file=sys.stderr)
        sys.exit(2)
