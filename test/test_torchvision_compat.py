"""scissor's AlexNet/ResNet18 keep torchvision's state_dict layout, so its weight files load strictly.

``data/torchvision_state_dicts.json`` was written by ``tools/torchvision_compat.py``
from real torchvision (which also checked equal outputs after a strict load);
torchvision itself does not import beside the CPU torch used here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from scissor_core.models.registry import load_model

from conftest import small_config

RECORD = json.loads((Path(__file__).parent / "data" / "torchvision_state_dicts.json").read_text())


@pytest.mark.parametrize("name", ["alexnet", "resnet18"])
def test_state_dict_keys_and_shapes_match_torchvision(name):
    ours = [[k, list(v.shape)] for k, v in load_model(small_config(name)).module.state_dict().items()]
    assert ours == RECORD["models"][name]


@pytest.mark.parametrize("name", ["alexnet", "resnet18"])
def test_weight_file_in_torchvision_layout_loads_strictly(tmp_path, name):
    """A file with exactly torchvision's keys/shapes loads and drives the outputs."""
    gen = torch.Generator().manual_seed(7)
    state = {k: torch.randn(shape, generator=gen) if k.split(".")[-1] != "num_batches_tracked"
             else torch.tensor(0) for k, shape in RECORD["models"][name]}
    for k in state:
        if k.endswith("running_var"):
            state[k] = state[k].abs() + 0.5
    path = tmp_path / f"{name}.pth"
    torch.save(state, path)
    config = small_config(name)
    config.model.weights = str(path)
    model = load_model(config)
    assert model.weights_label == str(path)
    for k, v in model.module.state_dict().items():
        assert torch.equal(v, state[k]), k


def test_wrong_state_dict_is_refused_with_key_names(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, path)
    config = small_config("alexnet")
    config.model.weights = str(path)
    with pytest.raises(ValueError, match="missing keys"):
        load_model(config)
