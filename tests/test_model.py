"""The reference network matches the original architecture."""

import torch

from accelbench.reference.neuron_inverter.model import NeuronInverter, flattened_size


def test_parameter_count_matches_the_original():
    model = NeuronInverter()
    assert sum(p.numel() for p in model.parameters()) == 2_988_843
    assert flattened_size() == 4320


def test_shapes_and_layer_order():
    model = NeuronInverter().eval()
    out = model(torch.randn(3, 1600, 4))
    assert out.shape == (3, 15)
    kinds = [type(m).__name__ for m in model.features]
    assert kinds == ["Conv1d", "MaxPool1d", "ReLU"] * 3 + ["Flatten"]
    assert [m.out_channels for m in model.features if isinstance(m, torch.nn.Conv1d)] == [30, 90, 180]
    linear = [m.out_features for m in model.head if isinstance(m, torch.nn.Linear)]
    assert linear == [512, 512, 512, 256, 128, 15]
    assert isinstance(model.head[-1], torch.nn.Linear), "no activation on the output"


def test_channels_are_probes_not_interleaved_time():
    """Transposing makes conv channel c see probe c only: zeroing probe 3 changes nothing when
    the first conv layer's weights for channel 3 are zero."""
    model = NeuronInverter().eval()
    with torch.no_grad():
        model.features[0].weight[:, 3, :] = 0
    frames = torch.randn(2, 1600, 4)
    altered = frames.clone()
    altered[:, :, 3] = torch.randn(2, 1600)
    torch.testing.assert_close(model(frames), model(altered))
