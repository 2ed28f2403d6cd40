"""The spike as plain tensor ops: exactly the Heaviside step forward, snnTorch's arctan surrogate
gradient backward, with no torch.autograd.Function (PopTorch builds its own backward pass from
the traced forward ops, so a custom Function's backward would never run on the IPU).

With S(x) = arctan(pi/2 * alpha * x) / pi, whose derivative is snnTorch's surrogate
(alpha/2) / (1 + (pi/2 * alpha * x)^2),

    spike(x) = H(x) + (S(x) - detach(S(x)))

The bracket is exactly zero in the forward pass (a finite float minus itself), so the value is
H(x) bit for bit; H comes from a comparison, which has no gradient, so the whole gradient is
S'(x). H(x) = 1 for x > 0 and 0 otherwise, as snnTorch's `(x > 0).float()`.

On the IPU the detach must stay a gradient stop. PopTorch 3.x's dispatcher hands aten::detach to
its fallback, which puts an op in the graph (graphcore/poptorch
poptorch/source/dispatch_tracer/dispatchers/JitDispatch.cpp, JITDispatch::detach), and its
AddDetachOperations pass gives every value torch recorded as not requiring grad a popart Detach
op (poptorch/source/AddDetachOperations.cpp), an op PopART keeps and gives no gradient
(graphcore/popart willow/include/popart/op/detach.hpp). Read in stored sources not pinned to
SDK 3.4; never run. Had the detach been dropped, S - S would cancel and every gradient through a
spike would be zero: a run whose loss does not fall would be the first sign.
"""

from __future__ import annotations

import math

import torch

from accelbench.reference.snn_bptt.model import SURROGATE_ALPHA


def heaviside(x: torch.Tensor) -> torch.Tensor:
    """1 where x > 0, else 0, in x's dtype; no gradient (a comparison)."""
    return (x > 0).to(x.dtype)


def arctan_primitive(x: torch.Tensor, alpha: float = SURROGATE_ALPHA) -> torch.Tensor:
    """S(x) = arctan(pi/2 * alpha * x) / pi: the antiderivative of snnTorch's atan surrogate."""
    return torch.atan((math.pi / 2 * alpha) * x) / math.pi


def spike(x: torch.Tensor, alpha: float = SURROGATE_ALPHA) -> torch.Tensor:
    """H(x) forward, dS/dx = (alpha/2) / (1 + (pi/2 * alpha * x)^2) backward.

    The surrogate is evaluated in at least float32 (the session's membranes are float32
    already; torch 2.0's CPU kernels have no half-precision arctan)."""
    primitive = arctan_primitive(x.to(torch.promote_types(x.dtype, torch.float32)), alpha)
    return heaviside(x) + (primitive - primitive.detach()).to(x.dtype)
