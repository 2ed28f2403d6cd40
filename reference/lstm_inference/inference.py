"""The reference inference implementation of lstm_inference: the fp32 PyTorch model with the served
weights, answering LoadGen's queries from windows held on the run's device
(`accelbench.reference.torch_serving`, which also leaves one core to LoadGen on a CPU).

It is the accuracy gate's yardstick: a run of it must reproduce the rules' reference quality.
"""

from __future__ import annotations

from accelbench.contracts.inference import InferenceContext
from accelbench.errors import UserError
from accelbench.reference.lstm_inference.model import model_from_weights
from accelbench.reference.torch_serving import TorchServingSession


def create_session(context: InferenceContext) -> TorchServingSession:
    precision = context.hyperparameters.get("precision", "fp32")
    if precision != "fp32":
        raise UserError(f"the lstm_inference reference computes in fp32, not {precision!r}: "
                        "use --hparam precision=fp32, or a submission that implements it")
    return TorchServingSession(model_from_weights(context.weights), context.device)
