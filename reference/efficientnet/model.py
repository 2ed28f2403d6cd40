"""EfficientNet-B0 as timm builds it, depthwise or grouped, taking uint8 images.

Both variants come from timm's own EfficientNet builder with the B0 stages of the paper (Tan &
Le 2019, table 1): `expand_ratio` 6 and `group_size` 1 with batch norm is timm's
`efficientnet_b0`, layer for layer; the seed's g16 is expand ratio 4, every depthwise convolution
grouped with 16 channels per group (timm's `group_size`), and group norm of 4 groups (eps 1e-3)
in place of batch norm, as Graphcore's configuration has it. The network normalises its own
uint8 input (x / 127.5 - 1), so every system feeds it the dataset's bytes.

A timm whose B0 differs from the one the rules were calibrated with is refused by its parameter
count, in one line.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial

import numpy as np
import torch
from torch import nn

from accelbench.errors import UserError
from accelbench.rules.schema import HyperparameterValue

# (block, repeats, kernel, stride, output channels); every MBConv stage expands by the variant's ratio
B0_STAGES = (("ds", 1, 3, 1, 16), ("ir", 2, 3, 2, 24), ("ir", 2, 5, 2, 40), ("ir", 3, 3, 2, 80),
             ("ir", 3, 5, 1, 112), ("ir", 4, 5, 2, 192), ("ir", 1, 3, 1, 320))
STEM_CHANNELS = 32
HEAD_FEATURES = 1280
SQUEEZE_EXCITE = 0.25
# Parameters without the classifier (1280 x classes weights + classes biases), from timm 1.0:
# efficientnet_b0 has 5,288,548 with 1000 classes.
BACKBONE_PARAMETERS = {(6, 1, "batch"): 4_007_548, (4, 16, "group"): 4_632_796}
TIMM_HINT = "pip install 'accelbench[vision]' (timm 1.0 and torchvision)"


def require_timm():
    """timm, or a one-line UserError naming the install."""
    try:
        import timm
        from timm.models import efficientnet
    except ImportError as err:
        raise UserError(f"the efficientnet workloads need timm ({err}): {TIMM_HINT}") from None
    return timm, efficientnet


def arch_def(expand_ratio: int) -> list[list[str]]:
    """The B0 stages in timm's block-string notation, MBConv stages expanded by `expand_ratio`."""
    stages = []
    for block, repeats, kernel, stride, channels in B0_STAGES:
        expand = 1 if block == "ds" else expand_ratio
        stages.append([f"{block}_r{repeats}_k{kernel}_s{stride}_e{expand}_c{channels}_se{SQUEEZE_EXCITE}"])
    return stages


def norm_layer(norm: str, norm_groups: int):
    """timm's norm-act layer for 'batch' (timm's default) or 'group' (GroupNormAct, eps 1e-3)."""
    if norm == "batch":
        return None
    if norm == "group":
        from timm.layers import GroupNormAct

        return partial(GroupNormAct, num_groups=norm_groups, eps=1e-3)
    raise UserError(f"norm {norm!r}: give 'batch' or 'group'")


class EfficientNetB0(nn.Module):
    """uint8 (n, 3, r, r) images in, class scores out; `backbone` is timm's EfficientNet."""

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.backbone(images.float() / 127.5 - 1.0)


def efficientnet_b0(classes: int, *, expand_ratio: int = 6, group_size: int = 1, norm: str = "batch",
                    norm_groups: int = 4, drop_rate: float = 0.2, drop_path_rate: float = 0.2) -> EfficientNetB0:
    """B0 with `classes` outputs; group_size 1 is depthwise. Refuses a timm whose B0 differs."""
    _, efficientnet = require_timm()
    from timm.models._efficientnet_builder import decode_arch_def, round_channels

    backbone = efficientnet.EfficientNet(
        block_args=decode_arch_def(arch_def(expand_ratio), 1.0, group_size=group_size),
        num_features=HEAD_FEATURES,
        stem_size=STEM_CHANNELS,
        round_chs_fn=partial(round_channels, multiplier=1.0, divisor=8),
        act_layer=nn.SiLU,
        norm_layer=norm_layer(norm, norm_groups),
        num_classes=classes,
        drop_rate=drop_rate,
        drop_path_rate=drop_path_rate,
    )
    check_parameter_count(backbone, classes, (expand_ratio, group_size, norm))
    return EfficientNetB0(backbone)


def check_parameter_count(backbone: nn.Module, classes: int, variant: tuple[int, int, str]) -> None:
    """The backbone's parameters must be timm 1.0's for this variant; a different count is a one-line error."""
    expected = BACKBONE_PARAMETERS.get(variant)
    if expected is None:
        return  # an open-division variant: nothing recorded to compare with
    import timm

    got = sum(p.numel() for p in backbone.parameters()) - (HEAD_FEATURES + 1) * classes
    if got != expected:
        raise UserError(f"timm {timm.__version__} builds a B0 (expand {variant[0]}, group size {variant[1]}, "
                        f"{variant[2]} norm) of {got:,} parameters without the classifier, not {expected:,}: "
                        f"{TIMM_HINT}")


def from_hyperparameters(hp: Mapping[str, HyperparameterValue], classes: int) -> EfficientNetB0:
    """The variant the workload's hyperparameters name."""
    return efficientnet_b0(classes, expand_ratio=int(hp["expand_ratio"]), group_size=int(hp["group_size"]),
                           norm=str(hp["norm"]), norm_groups=int(hp["norm_groups"]),
                           drop_rate=float(hp["dropout"]), drop_path_rate=float(hp["drop_path"]))


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def weights_of(model: nn.Module) -> dict[str, np.ndarray]:
    """Every parameter and buffer (batch norm's running statistics too) as float32 numpy, by state_dict
    name; batch norm's step counter is left out (it is not part of the function served)."""
    return {name: tensor.detach().cpu().float().numpy().copy() for name, tensor in model.state_dict().items()
            if not name.endswith("num_batches_tracked")}


def load_weights(model: nn.Module, weights: Mapping[str, np.ndarray]) -> nn.Module:
    """`model` with `weights` loaded; a missing or extra name is a one-line error."""
    expected = set(weights_of(model))
    if set(weights) != expected:
        missing, extra = sorted(expected - set(weights)), sorted(set(weights) - expected)
        raise UserError(f"the served weights do not fit this model: missing {missing[:3]}, unexpected {extra[:3]}; "
                        "regenerate them with `accelbench data generate`")
    state = {name: torch.from_numpy(np.asarray(array)) for name, array in weights.items()}
    model.load_state_dict(state, strict=False)
    return model
