"""The reference inference implementation of the efficientnet workloads: the fp32 timm model with the
served weights, answering LoadGen's queries from uint8 images held on the run's device
(`accelbench.reference.torch_serving`). It is the accuracy gate's yardstick: a run of it must
reproduce the rules' reference top-1."""

from __future__ import annotations

from accelbench.contracts.inference import InferenceContext
from accelbench.errors import UserError
from accelbench.reference.efficientnet.model import from_hyperparameters, load_weights
from accelbench.reference.torch_serving import TorchServingSession


def create_session(context: InferenceContext) -> TorchServingSession:
    hp = context.hyperparameters
    if hp.get("precision", "fp32") != "fp32":
        raise UserError(f"the efficientnet reference computes in fp32, not {hp['precision']!r}: "
                        "use --hparam precision=fp32, or a submission that implements it")
    model = from_hyperparameters(hp, int(context.dataset_parameters["classes"]))
    return TorchServingSession(load_weights(model, context.weights), context.device)
