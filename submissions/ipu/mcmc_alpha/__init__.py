"""mcmc_alpha on Graphcore IPUs: the reference's TensorFlow Probability sampler with one chain per IPU,
as Graphcore's mcmc_tfp example ran it, in Graphcore's TensorFlow 2 (Poplar SDK 3.4, TensorFlow 2.6;
see session.py, and docs/ipu-tensorflow.md for the image it runs in).

Never run on an IPU, nor on the SDK's IPU Model: neither exists where this was written. The plan,
the seeds and the re-stacking of the replicas' draws are plain Python; the per-chain program runs on
the CPU in the tests, replica after replica; only `poplar.py` calls the SDK.

TensorFlow 2.6 pairs with tensorflow-probability 0.14, while the suite's CPU reference runs 0.25, so
the code shared with the reference (`accelbench.reference.mcmc_alpha.tfp_model`) and `chain.py` use
only TFP API present in both: tfd.Normal and tfd.StudentT, HamiltonianMonteCarlo(target_log_prob_fn,
step_size, num_leapfrog_steps) inside DualAveragingStepSizeAdaptation(inner_kernel,
num_adaptation_steps, target_accept_prob) (on TFP's master since 2019, where that year's NUTS tests use
it), bootstrap_results, and sample_chain with previous_kernel_results, trace_fn,
return_final_kernel_results and a stateless (2,) int32 seed (stateless seeds came in TFP 0.12). These
were read in TFP's current documentation and its 0.25 sources; the 0.14 sources were not read.

Importing this package imports neither TensorFlow nor the SDK, so the suite resolves it anywhere;
`create_session` says in one line when Graphcore's TensorFlow is missing.
"""

from __future__ import annotations

from accelbench.submissions.ipu.mcmc_alpha.session import create_session

__all__ = ["create_session"]
