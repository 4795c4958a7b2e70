"""Tests for the Darknet cfg/weights YOLOv3 builder and the detection post-processing."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.fx
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from scissor_core.config import CONFIG_DIR
from scissor_core.models.darknet import (FX_LEAF_MODULES, Darknet, DarknetCfgError, DarknetConv, DarknetWeightsError,
                                         Route, Shortcut, YoloLayer, build_yolov3, load_darknet_weights, parse_cfg,
                                         save_darknet_weights)
from scissor_core.models.detection import (Detection, LetterboxInfo, average_precision_50, dataset_average_precision_50,
                                           iou, letterbox, load_class_names, postprocess)
from scissor_core.models.graph import ScissorTracer

MODELS = CONFIG_DIR / "models"
YOLOV3_CFG = MODELS / "yolov3.cfg"
YOLOV3_WEIGHTS_BYTES = 248_007_048  # size of the published yolov3.weights

CONV = "[convolutional]\nbatch_normalize=1\nfilters=8\nsize=3\nstride=1\npad=1\nactivation=leaky\n"

# Small network with every layer kind (max stride 4): BN and bias convs, a shortcut,
# single and multi-layer routes, an upsample and two yolo heads of 2 anchors x 3 classes.
TINY_CFG = """[net]
width=64
height=64
channels=3

[convolutional]
batch_normalize=1
filters=8
size=3
stride=1
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=16
size=3
stride=2
pad=1
activation=leaky

[convolutional]
batch_normalize=1
filters=16
size=1
stride=1
pad=1
activation=leaky

[shortcut]
from=-2
activation=linear

[convolutional]
batch_normalize=1
filters=32
size=3
stride=2
pad=1
activation=leaky

[convolutional]
size=1
stride=1
pad=1
filters=16
activation=linear

[yolo]
mask = 2,3
anchors = 4,5, 8,9, 16,20, 30,28
classes=3
num=4

[route]
layers = -3

[upsample]
stride=2

[route]
layers = -1, 3

[convolutional]
size=1
stride=1
pad=1
filters=16
activation=linear

[yolo]
mask = 0,1
anchors = 4,5, 8,9, 16,20, 30,28
classes=3
num=4
"""
TINY_LAST_CONV = 10


def rows_for(size: int, anchors_per_head: int = 3) -> int:
    return anchors_per_head * sum((size // stride) ** 2 for stride in (32, 16, 8))


def randomize(model: nn.Module, seed: int) -> None:
    """Give every parameter and float buffer distinct random values (running_var > 0)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                low = 0.5 if "running_var" in name else -0.25
                tensor.copy_(torch.rand(tensor.shape, generator=generator) * 0.5 + low)


def assert_same_state(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(sa[key], sb[key]), key


@pytest.fixture(scope="module")
def yolov3_96() -> Darknet:
    return build_yolov3(YOLOV3_CFG, input_size=96, seed=0)


@pytest.fixture()
def tiny_cfg(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.cfg"
    path.write_text(TINY_CFG)
    return path


# ------------------------------------------------------------------------ cfg parsing


def test_parse_real_cfg() -> None:
    sections = parse_cfg(YOLOV3_CFG.read_text(), source=str(YOLOV3_CFG))
    assert len(sections) == 108 and sections[0]["type"] == "net"
    counts = Counter(s["type"] for s in sections[1:])
    assert counts == {"convolutional": 75, "shortcut": 23, "route": 4, "upsample": 2, "yolo": 3}
    assert sections[0]["saturation"] == "1.5"  # "saturation = 1.5" in the file
    assert sections[87]["layers"] == "-1, 61"  # layer 86
    assert sections[83]["mask"] == "6,7,8"


def test_class_names_match_cfg() -> None:
    names = load_class_names(MODELS / "coco.names")
    classes = {s["classes"] for s in parse_cfg(YOLOV3_CFG.read_text()) if s["type"] == "yolo"}
    assert classes == {str(len(names))} and names[0] == "person"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("filters=3\n[net]\n", ["t.cfg:1:", "before the first section"]),
        ("[net]\nwidth 416\n", ["t.cfg:2:", "key=value"]),
        ("[net]\n# comment\n[avgpool]\nsize=2\n", ["t.cfg:3:", "[avgpool]"]),
        ("[net\n", ["t.cfg:1:", "header"]),
        ("[net]\nwidth=1\nwidth=2\n", ["t.cfg:3:", "duplicate key 'width'"]),
        ("[convolutional]\nfilters=8\n", ["t.cfg", "first section must be [net]"]),
        ("[net]\n\n[convolutional]\nsize=3\nactivation=leaky\n", ["layer 0", "line 3", "'filters'"]),
        ("[net]\n" + CONV.replace("=8", "=abc"), ["layer 0", "filters='abc'", "not an integer"]),
        ("[net]\n" + CONV.replace("leaky", "mish"), ["layer 0", "'mish'"]),
        ("[net]\n" + CONV + "[route]\nlayers=5\n", ["layer 1", "line 9", "reference 5"]),
        ("[net]\n" + CONV + "[route]\nlayers=-2\n", ["layer 1", "reference -2"]),
        ("[net]\n" + CONV + "[shortcut]\nfrom=1\n", ["layer 1", "reference 1 resolves to 1"]),
        ("[net]\n" + CONV + CONV.replace("stride=1", "stride=2") + "[shortcut]\nfrom=-2\n", ["layer 2", "match"]),
        ("[net]\n" + CONV + "[yolo]\nmask=0\nanchors=1,2\nclasses=80\n", ["layer 1", "expected len(mask)"]),
        ("[net]\n" + CONV + "[yolo]\nmask=3\nanchors=1,2\nclasses=1\n", ["layer 1", "mask [3]"]),
        ("[net]\n" + CONV, ["t.cfg", "no [yolo] layer"]),
    ],
)
def test_malformed_cfg(text: str, expected: list[str]) -> None:
    with pytest.raises(DarknetCfgError) as error:
        parse_cfg(text, source="t.cfg")
    for fragment in expected:
        assert fragment in str(error.value)


def test_invalid_input_size() -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        Darknet(parse_cfg(YOLOV3_CFG.read_text()), input_size=100)


# ------------------------------------------------------------------------ model


def test_layers_and_state_dict_format(yolov3_96: Darknet) -> None:
    layers = yolov3_96.layers
    assert len(layers) == 107
    assert isinstance(layers[0], DarknetConv) and isinstance(layers[4], Shortcut) and layers[4].source == 1
    assert isinstance(layers[86], Route) and layers[86].sources == (85, 61)
    assert isinstance(layers[85], nn.Upsample) and isinstance(layers[82], YoloLayer)
    for layer in layers:
        if not isinstance(layer, DarknetConv):
            assert not list(layer.parameters())
    keys = yolov3_96.state_dict().keys()
    assert {"layers.0.conv.weight", "layers.0.bn.running_mean", "layers.81.conv.bias"} <= keys
    assert "layers.0.conv.bias" not in keys and not any("anchors" in k for k in keys)
    assert layers[81].bn is None and layers[81].activation == "linear"
    assert layers[0].bn.momentum == 0.01 and layers[0].bn.eps == 1e-5
    assert layers[82].anchors.tolist() == [[116, 90], [156, 198], [373, 326]]


def test_forward_small(yolov3_96: Darknet) -> None:
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        y = yolov3_96(x)
    assert y.shape == (1, rows_for(96), 85) == (1, 567, 85)
    assert torch.isfinite(y).all()
    scores = y[0, :, 4:]
    assert 0 <= scores.min() and scores.max() <= 1
    assert ((scores > 0.01) & (scores < 0.99)).float().mean() > 0.9  # random init is not saturated
    # Head 1 (stride 32) centers lie in their 32 px cells: row r, col c, anchor a -> index (r*3+c)*3+a.
    centers = y[0, :27, :2].reshape(3, 3, 3, 2)
    cells = torch.stack(torch.meshgrid(torch.arange(3.0), torch.arange(3.0), indexing="ij")[::-1], dim=-1)
    offsets = centers - 32 * cells[:, :, None]
    assert (offsets >= 0).all() and (offsets <= 32).all()


@pytest.mark.parametrize("size", [416, 608])
def test_output_rows_at_full_size(size: int) -> None:
    with torch.device("meta"):  # shapes only: no allocation, no compute
        model = Darknet(parse_cfg(YOLOV3_CFG.read_text()), input_size=size)
        y = model(torch.empty(1, 3, size, size))
    assert y.shape == (1, rows_for(size), 85)
    if size == 416:
        assert y.shape[1] == 10647


def test_fx_trace_matches_eager(yolov3_96: Darknet) -> None:
    graph = ScissorTracer(FX_LEAF_MODULES).trace(yolov3_96)
    traced = torch.fx.GraphModule(yolov3_96, graph)
    x = torch.rand(1, 3, 96, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.equal(traced(x), yolov3_96(x))
    calls = [n for n in graph.nodes if n.op == "call_module"]
    modules = Counter(type(traced.get_submodule(n.target)).__name__ for n in calls)
    assert modules == {"DarknetConv": 75, "Shortcut": 23, "Route": 4, "YoloLayer": 3, "Upsample": 2}
    # One node per cfg layer, in cfg order, so cuts can be named by Darknet layer index.
    assert [n.target for n in calls] == [f"layers.{i}" for i in range(107)]
    # Shortcut operand order: previous layer output first (layer 4 = layer 3 + layer 1).
    assert [a.target for a in calls[4].args] == ["layers.3", "layers.1"]


def test_num_classes_override(tiny_cfg: Path) -> None:
    model = Darknet(parse_cfg(tiny_cfg.read_text()), input_size=16, num_classes=5).eval()
    assert model.num_classes == 5 and model.layers[5].conv.out_channels == 2 * 10
    with torch.no_grad():
        assert model(torch.rand(1, 3, 16, 16)).shape == (1, 2 * (4 * 4 + 8 * 8), 10)


def test_random_init_is_seeded_and_leaves_global_rng(tiny_cfg: Path) -> None:
    state = torch.random.get_rng_state()
    a = build_yolov3(tiny_cfg, input_size=16, seed=3)
    b = build_yolov3(tiny_cfg, input_size=16, seed=3)
    c = build_yolov3(tiny_cfg, input_size=16, seed=4)
    assert torch.equal(state, torch.random.get_rng_state())
    assert_same_state(a, b)
    assert not torch.equal(a.layers[0].conv.weight, c.layers[0].conv.weight)
    assert not a.training


# ------------------------------------------------------------------------ weights


def test_darknet_weights_round_trip(tiny_cfg: Path, tmp_path: Path) -> None:
    a = build_yolov3(tiny_cfg, input_size=16)
    randomize(a, seed=5)
    path = tmp_path / "tiny.weights"
    save_darknet_weights(a, path)
    b = build_yolov3(tiny_cfg, input_size=16, weights=path)
    assert_same_state(a, b)
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        assert torch.equal(a(x), b(x))

    # Version 0.1 files store `seen` as int32 instead of int64.
    payload = path.read_bytes()[20:]
    old = tmp_path / "old.weights"
    old.write_bytes(np.array([0, 1, 0, 7], dtype="<i4").tobytes() + payload)
    c = build_yolov3(tiny_cfg, input_size=16, weights=old)
    assert_same_state(a, c)


def test_yolov3_weights_file_size_and_round_trip(yolov3_96: Darknet, tmp_path: Path) -> None:
    path = tmp_path / "yolov3.weights"
    save_darknet_weights(yolov3_96, path)
    assert path.stat().st_size == YOLOV3_WEIGHTS_BYTES
    loaded = Darknet(parse_cfg(YOLOV3_CFG.read_text()), input_size=96)
    load_darknet_weights(loaded, path)
    assert_same_state(yolov3_96, loaded)


def test_darknet_weights_size_errors(tiny_cfg: Path, tmp_path: Path) -> None:
    model = build_yolov3(tiny_cfg, input_size=16)
    path = tmp_path / "tiny.weights"
    save_darknet_weights(model, path)
    data = path.read_bytes()
    cases = {
        "short.weights": (data[:-4], ["layer 10", f"expected {len(data)} bytes, got {len(data) - 4}"]),
        "early.weights": (data[:40], ["layer 0", "got 40"]),
        "long.weights": (data + b"\0" * 8, ["8 trailing bytes", "layer 10", f"got {len(data) + 8}"]),
        "header.weights": (data[:8], ["header", "got 8"]),
    }
    for name, (content, fragments) in cases.items():
        bad = tmp_path / name
        bad.write_bytes(content)
        with pytest.raises(DarknetWeightsError) as error:
            load_darknet_weights(model, bad)
        for fragment in [str(bad), *fragments]:
            assert fragment in str(error.value), (name, str(error.value))
    missing = tmp_path / "missing.weights"
    with pytest.raises(FileNotFoundError, match="missing.weights"):
        build_yolov3(tiny_cfg, input_size=16, weights=missing)


def test_state_dict_round_trip_and_mismatch(tiny_cfg: Path, tmp_path: Path) -> None:
    a = build_yolov3(tiny_cfg, input_size=16)
    randomize(a, seed=7)
    path = tmp_path / "tiny.pt"
    torch.save(a.state_dict(), path)
    b = build_yolov3(tiny_cfg, input_size=16, weights=path)
    assert_same_state(a, b)

    state = a.state_dict()
    state["layers.99.conv.weight"] = state.pop("layers.0.conv.weight")
    state["layers.5.conv.bias"] = torch.zeros(3)
    bad = tmp_path / "bad.pt"
    torch.save(state, bad)
    with pytest.raises(ValueError) as error:
        build_yolov3(tiny_cfg, input_size=16, weights=bad)
    message = str(error.value)
    assert "missing keys ['layers.0.conv.weight']" in message
    assert "unexpected keys ['layers.99.conv.weight']" in message
    assert "layers.5.conv.bias: file (3,) vs model (16,)" in message


# ------------------------------------------------------------------------ detection


def make_output(rows: list[tuple[float, ...]], num_classes: int = 3) -> torch.Tensor:
    """(1, N, 5+C) output from (cx, cy, w, h, objectness, class_id, class_prob) rows."""
    out = torch.zeros(1, len(rows), 5 + num_classes)
    for i, (cx, cy, w, h, obj, cls, prob) in enumerate(rows):
        out[0, i, :5] = torch.tensor([cx, cy, w, h, obj])
        out[0, i, 5 + int(cls)] = prob
    return out


def test_letterbox_tensor_and_info() -> None:
    image = np.zeros((100, 200, 3), dtype=np.uint8)
    image[..., 0] = 255  # pure blue in BGR
    tensor, info = letterbox(image, 100)
    assert info == LetterboxInfo(scale=0.5, pad_x=0, pad_y=25, orig_w=200, orig_h=100)
    assert tensor.shape == (1, 3, 100, 100) and tensor.dtype == torch.float32 and tensor.is_contiguous()
    assert torch.equal(tensor[0, :, 25:75], torch.tensor([0.0, 0.0, 1.0]).view(3, 1, 1).expand(3, 50, 100))
    assert (tensor[0, :, :25] == 0.5).all() and (tensor[0, :, 75:] == 0.5).all()


def test_letterbox_maps_content_back() -> None:
    image = np.zeros((77, 123, 3), dtype=np.uint8)
    x1, y1, x2, y2 = 30, 20, 90, 60
    image[y1:y2, x1:x2] = 255
    tensor, info = letterbox(image, 96)
    ys, xs = np.nonzero(tensor[0, 0].numpy() > 0.75)
    # Bright region in network pixels -> back to the image, through a box postprocess keeps.
    w, h = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
    out = make_output([(xs.min() + w / 2, ys.min() + h / 2, w, h, 1.0, 0, 1.0)])
    (detection,) = postprocess(out, info)
    assert np.allclose(detection.box, (x1, y1, x2, y2), atol=1.0)


def test_postprocess_nms_per_class_and_mapping() -> None:
    _, info = letterbox(np.zeros((100, 200, 3), dtype=np.uint8), 100)  # scale 0.5, pad_y 25
    out = make_output(
        [
            (30, 50, 20, 20, 0.9, 0, 0.9),  # A: class 0, score 0.81
            (32, 51, 20, 20, 0.8, 0, 0.9),  # overlaps A, same class -> suppressed
            (30, 50, 20, 20, 0.7, 1, 1.0),  # same box, other class -> kept
            (80, 50, 10, 10, 0.6, 0, 1.0),  # class 0, far from A -> kept
            (60, 50, 10, 10, 0.9, 2, 0.3),  # score 0.27 -> below threshold
            (95, 30, 20, 20, 0.99, 2, 0.99),  # crosses the right edge -> clipped
        ]
    )
    detections = postprocess(out, info, conf_threshold=0.5, nms_threshold=0.45)
    summary = [(d.class_id, round(d.score, 4)) for d in detections]
    assert summary == [(2, 0.9801), (0, 0.81), (1, 0.7), (0, 0.6)]
    assert np.allclose(detections[0].box, (170, 0, 200, 30))  # (85,20,105,40) mapped then clipped
    assert np.allclose(detections[1].box, (40, 30, 80, 70))
    assert detections[1].box == detections[2].box
    assert np.allclose(detections[3].box, (150, 40, 170, 60))
    # Without letterbox info boxes stay in network pixels, unclipped.
    raw = postprocess(out, None)
    assert np.allclose(raw[0].box, (85, 20, 105, 40)) and len(raw) == 4
    assert postprocess(out, info, conf_threshold=0.99) == []


def test_average_precision_50() -> None:
    refs = [
        Detection(0, 0.9, (10, 10, 50, 50)),
        Detection(0, 0.8, (60, 60, 100, 100)),
        Detection(1, 0.7, (0, 0, 30, 30)),
    ]
    assert average_precision_50(refs, refs) == 1.0
    shifted = [Detection(d.class_id, d.score, tuple(v + 15 for v in d.box)) for d in refs]
    assert average_precision_50(shifted, refs) < 1.0
    # One of two class-0 boxes found at full precision -> AP 0.5; class 1 perfect -> mean 0.75.
    assert average_precision_50([refs[0], refs[2]], refs) == pytest.approx(0.75)
    # A duplicate counts as a false positive only after the true positive.
    assert average_precision_50([*refs, Detection(0, 0.1, (10, 10, 50, 50))], refs) == 1.0
    assert average_precision_50([], []) == 1.0
    assert average_precision_50([], refs) == 0.0
    assert average_precision_50(refs, []) == 0.0


boxes = st.tuples(
    st.floats(0, 100), st.floats(0, 100), st.floats(0.1, 100), st.floats(0.1, 100)
).map(lambda b: (b[0], b[1], b[0] + b[2], b[1] + b[3]))


@given(boxes, boxes)
def test_iou_properties(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> None:
    value = iou(a, b)
    assert 0.0 <= value <= 1.0 + 1e-12
    assert value == pytest.approx(iou(b, a))
    assert iou(a, a) == pytest.approx(1.0)


def test_iou_examples() -> None:
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(50 / 150)
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_dataset_average_precision_ranks_every_frames_predictions_together() -> None:
    car, person = Detection(2, 0.9, (0, 0, 10, 10)), Detection(0, 0.8, (20, 20, 40, 40))
    assert dataset_average_precision_50([([car], [car]), ([person], [person])]) == 1.0
    # a confident false car on a frame without cars ranks above the true one: car AP 0.5, person AP 1
    false_car = Detection(2, 0.95, (50, 50, 60, 60))
    assert dataset_average_precision_50([([car], [car]), ([person, false_car], [person])]) == pytest.approx(0.75)
    assert dataset_average_precision_50([([], []), ([], [])]) == 1.0
    assert dataset_average_precision_50([([car], []), ([], [])]) == 0.0
    assert dataset_average_precision_50([([car], [car])]) == average_precision_50([car], [car])
