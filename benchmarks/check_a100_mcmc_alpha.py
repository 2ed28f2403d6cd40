"""Time to target, ESS/s and R-hat of the a100 mcmc_alpha session on a GPU, beside the CPU reference.

    python benchmarks/check_a100_mcmc_alpha.py [--scale smoke small] [--seed 0]

For each --scale (smoke and small by default) it loads the rules' dataset (the cache under
$ACCELBENCH_DATA_DIR when generated, else generated into a temporary folder), then makes one
sampling run through the suite's own harness (`accelbench.run.sampling.SamplingHarness`: warm-up
untimed, then the burn-in and blocks of draws with the diagnostics between, and the harness's stop
rule) twice on the same seed, so from the same initial state:

  (a) the submission's session (`accelbench.submissions.a100.mcmc_alpha`) on /GPU:0, TF32 off;
  (b) the reference session (`accelbench.reference.mcmc_alpha.sampling`), which pins itself to
      tf.device('/CPU:0'), since on a GPU machine TensorFlow would otherwise place it on the GPU.

It prints, per run: converged or why not, time to target, burn-in seconds, effective samples per
second, R-hat and bulk/tail ESS over the rules' summaries, the predictive score and the adapted
step sizes; then the GPU/CPU ratios of time to target and of ESS/s. The two runs draw with the
same stateless seeds but on different devices, so their draws agree only statistically.

Exit code 1 if the GPU run did not converge where the reference did; 2, with one line, when
TensorFlow sees no GPU.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from accelbench.contracts.context import RunContext
from accelbench.data import datasets
from accelbench.data.manifest import read_manifest
from accelbench.reference.mcmc_alpha import sampling as reference
from accelbench.reference.mcmc_alpha.tfp_model import require_tensorflow
from accelbench.results.models import DatasetRecord, SplitRecord
from accelbench.rules.loader import load_rules
from accelbench.rules.schema import BenchmarkRules, Scale
from accelbench.run.harness import KindRecord
from accelbench.run.preparation import PreparedData
from accelbench.run.sampling import SamplingHarness
from accelbench.run.world import SINGLE
from accelbench.submissions.a100 import mcmc_alpha as submission

WORKLOAD = "mcmc_alpha"


def prepared(rules: BenchmarkRules, scale: Scale, directory: Path) -> PreparedData:
    """The train and val splits of `directory`, checked against the manifest, as the runner prepares them."""
    splits = datasets.load(rules, scale, directory, ("train", "val"))
    manifest = read_manifest(directory)
    record = DatasetRecord(id=datasets.dataset_id(rules, scale), generator_version=manifest.generator_version,
                           seed=manifest.seed, splits={name: SplitRecord(samples=entry.samples, sha256=entry.sha256)
                                                       for name, entry in manifest.splits.items()})
    return PreparedData(train_inputs=splits["train"].inputs, train_targets=splits["train"].targets,
                        eval_inputs=splits["val"].inputs, eval_targets=splits["val"].targets, record=record)


def load_prepared(rules: BenchmarkRules, scale: Scale) -> PreparedData:
    """The cached dataset when it is generated, else one generated into a temporary folder (the cache is left)."""
    cached = datasets.data_directory(rules, scale)
    if datasets.is_generated(cached):
        return prepared(rules, scale, cached)
    with tempfile.TemporaryDirectory(prefix="check_a100_mcmc_alpha-") as folder:
        datasets.generate(rules, scale, Path(folder))
        return prepared(rules, scale, Path(folder))


def sampling_run(rules: BenchmarkRules, scale: Scale, seed: int, device: str, implementation: object,
                 data: PreparedData, folder: Path) -> KindRecord:
    """One closed-division run through the harness, its draws written into `folder`."""
    run = RunContext(workload=WORKLOAD, scale=scale, division="closed",
                     hyperparameters={**rules.hyperparameters.for_scale(scale), **submission.HYPERPARAMETERS},
                     seed=seed, device=device, world=SINGLE, dataset_parameters=rules.dataset.parameters_for(scale))
    harness = SamplingHarness(rules, scale)
    return harness.run(implementation, run, data, folder / f"{device.replace(':', '')}.draws.nc",
                       on_progress=lambda progress: print(progress.describe(device, rules.quality.metric)))


def describe(label: str, record: KindRecord) -> str:
    timing, quality = record.sections["timing"], record.sections["quality"]
    efficiency, sampler = record.sections["efficiency"], record.sections["sampler"]
    measured = quality.measurements

    def shown(value: float | None, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    return (f"{label}: {'converged' if quality.converged else 'NOT converged'} ({quality.stop_reason}); "
            f"time to target {timing.time_to_train_s:.2f} s (burn-in {timing.burn_in_s:.2f} s, "
            f"init {timing.init_s:.1f} s), "
            f"ESS/s {shown(efficiency.ess_per_s, 2)}, R-hat {shown(measured['rhat'], 4)}, "
            f"ESS bulk {shown(measured['ess_bulk'], 0)} tail {shown(measured['ess_tail'], 0)}, "
            f"{quality.metric} {shown(quality.achieved, 4)}, step sizes {[round(s, 5) for s in sampler.step_size]}")


def comparison(gpu: KindRecord, cpu: KindRecord) -> str:
    """The GPU run's time to target and ESS/s over the CPU run's."""

    def ratio(section: str, field: str) -> str:
        a, b = getattr(gpu.sections[section], field), getattr(cpu.sections[section], field)
        return f"x{a / b:.3f}" if a and b else "n/a"

    return f"time to target {ratio('timing', 'time_to_train_s')}, ESS/s {ratio('efficiency', 'ess_per_s')}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", nargs="+", choices=("smoke", "small"), default=["smoke", "small"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    tf, tfp = require_tensorflow()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print(f"this check needs a GPU, and TensorFlow {tf.__version__} sees none: run it on a GPU node "
              "(inside the Dockerfile.gpu image)", file=sys.stderr)
        return 2
    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
    print(f"a100 mcmc_alpha on {name}; tensorflow {tf.__version__}, tensorflow-probability {tfp.__version__}")
    rules = load_rules(WORKLOAD)
    passed = True
    for scale in args.scale:
        data = load_prepared(rules, scale)
        print(f"{scale}: train {len(data.train_inputs)} rows, val {len(data.eval_inputs)}, seed {args.seed}")
        with tempfile.TemporaryDirectory(prefix="check_a100_mcmc_alpha-draws-") as folder:
            gpu = sampling_run(rules, scale, args.seed, "cuda:0", submission, data, Path(folder))
            cpu = sampling_run(rules, scale, args.seed, "cpu", reference, data, Path(folder))
        print(describe(f"  (a) GPU {scale}", gpu))
        print(describe(f"  (b) CPU {scale}", cpu))
        print(f"  GPU/CPU: {comparison(gpu, cpu)}")
        passed = passed and (gpu.sections["quality"].converged or not cpu.sections["quality"].converged)
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
