"""Every model splits losslessly at every candidate cut, through the raw wire codec."""
from __future__ import annotations

import pytest
import torch

from scissor_core.analysis.verify import verify_model
from scissor_core.config import ConfigError
from scissor_core.models.graph import CutError
from scissor_core.models.registry import load_model
from scissor_core.wire.codec import CodecSpec, decode, encode

from conftest import small_config

PAPER_SPLITS = {
    "alexnet": ["0", "conv1", "conv2", "conv3", "conv4", "conv5", "fc1", "fc2", "last"],
    "resnet18": ["0", "stem", "layer1.0", "layer1.1", "layer2.0", "layer2.1", "layer3.0", "layer3.1",
                 "layer4.0", "layer4.1", "pool", "last"],
    "yolov3": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "last"],
    "yolov3-tiny": ["0", "1", "2", "3", "4", "5", "6", "7", "8", "last"],
}


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "yolov3", "yolov3-tiny"])
def test_candidate_sets_are_the_papers(name):
    model = load_model(small_config(name))
    assert model.candidates == PAPER_SPLITS[name]
    crossing = {s: len(model.cut(s).crossing) for s in model.candidates}
    if name == "yolov3":
        assert [crossing[s] for s in "1234"] == [1, 1, 1, 1]
        assert [crossing[s] for s in "5678"] == [3, 3, 3, 3]
    if name == "yolov3-tiny":  # by the same rules: one tensor through the backbone, then both branches
        assert [crossing[s] for s in "12345"] == [1, 1, 1, 1, 1]
        assert [crossing[s] for s in "678"] == [2, 2, 2]


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "yolov3", "yolov3-tiny"])
def test_every_candidate_is_bit_identical_through_the_codec(name, traffic_frame):
    """The paper's Table 3 check, at the models' real input sizes (416 for the YOLOs)."""
    config = small_config(name, input_size=416 if name == "yolov3" else None)
    model = load_model(config)
    rows = verify_model(model, traffic_frame)
    assert [r.split for r in rows] == PAPER_SPLITS[name]
    assert all(r.identical and r.max_abs_diff == 0.0 for r in rows), [r for r in rows if not r.identical]
    assert len({r.summary for r in rows}) == 1


@pytest.mark.parametrize("name", ["alexnet", "resnet18", "yolov3", "yolov3-tiny"])
def test_every_valid_cut_is_bit_identical(name):
    """Not only the candidates: every predecessor-closed device set of the traced DAG."""
    model = load_model(small_config(name, input_size=64 if name.startswith("yolov3") else None))
    cuts = model.graph.enumerate_cuts()
    assert len(cuts) > len(model.candidates)
    from scissor_core.models.graph import Splitter

    splitter = Splitter(model.graph, cuts)
    x = model.example_input(seed=1)
    with torch.inference_mode():
        reference = model.module(x)
    step = max(1, len(cuts) // 150)  # every cut of AlexNet/ResNet18/YOLOv3-tiny; an even sample of YOLOv3's
    for cut in cuts[::step]:
        received = decode(encode(splitter.run_device(x, cut.name), CodecSpec()))
        assert torch.equal(splitter.run_edge(received, cut.name), reference), cut.name


def test_yolov3_has_multi_tensor_cuts():
    model = load_model(small_config("yolov3", input_size=64))
    widths = {len(c.crossing) for c in model.graph.enumerate_cuts()}
    assert {1, 2, 3} <= widths


def test_config_restricts_and_extends_candidates():
    config = small_config("resnet18")
    config.model.extra_candidates = {"mid1": ["layer1_0_bn1", "maxpool"]}
    config.model.candidates = ["0", "mid1", "layer2.1", "last"]
    model = load_model(config)
    assert model.candidates == ["0", "mid1", "layer2.1", "last"]
    assert model.cut("mid1").crossing == ("layer1_0_bn1", "maxpool")


def test_bad_candidate_config_is_refused():
    config = small_config("alexnet")
    config.model.candidates = ["0", "conv9"]
    with pytest.raises(CutError, match="conv9"):
        load_model(config)
    config = small_config("alexnet")
    config.model.extra_candidates = {"x": ["features_99"]}
    with pytest.raises(CutError, match="features_99"):
        load_model(config)


def test_random_init_is_labelled_and_seeded():
    a = load_model(small_config("alexnet"))
    b = load_model(small_config("alexnet"))
    assert a.weights_label == "random-init(seed=0)"
    for (ka, va), (kb, vb) in zip(a.module.state_dict().items(), b.module.state_dict().items(), strict=True):
        assert ka == kb and torch.equal(va, vb)
    config = small_config("alexnet")
    config.model.seed = 1
    c = load_model(config)
    assert not torch.equal(a.module.features[0].weight, c.module.features[0].weight)


@pytest.mark.parametrize("name", ["alexnet", "yolov3"])
def test_a_truncated_corrupt_or_foreign_weight_file_is_a_config_error_naming_it(name, tmp_path):
    good = tmp_path / "good.pt"
    torch.save(load_model(small_config(name)).module.state_dict(), good)
    files = {
        "truncated.pt": (good.read_bytes()[:4096], "not a readable torch state_dict"),
        "garbage.pt": (b"\x80\x04not a pickle at all" * 10, "not a readable torch state_dict"),
        "list.pt": (None, "expected a state_dict"),
    }
    torch.save([torch.zeros(2)], tmp_path / "list.pt")
    for file, (content, message) in files.items():
        path = tmp_path / file
        if content is not None:
            path.write_bytes(content)
        config = small_config(name)
        config.model.weights = str(path)
        with pytest.raises(ConfigError, match=f"model.weights: {path}: {message}"):
            load_model(config)
    config = small_config(name)
    config.model.weights = str(good)
    assert load_model(config).weights_label == str(good)
