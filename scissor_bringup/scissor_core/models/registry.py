"""Model registry: build a splittable vision model from the typed config.

A :class:`VisionModel` bundles the torch module, its traced graph and named
candidate cuts (the paper's sets, optionally restricted or extended by the
config), preprocessing from a BGR camera frame and post-processing to a
:class:`Prediction`. Weights come from ``model.weights``; without a file the
model is a seeded random initialisation and ``weights_label`` says so, so
every report can label it.
"""
from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from scissor_core.assets import AssetError, AssetMissing, is_asset_reference, resolve_asset
from scissor_core.config import DARKNET_MODELS, ConfigError, ModelConfig, ScissorConfig
from scissor_core.models.alexnet import AlexNet
from scissor_core.models.classification import IMAGENET_MEAN, IMAGENET_STD, TopK, imagenet_preprocess, topk
from scissor_core.models.darknet import FX_LEAF_MODULES, build_yolov3
from scissor_core.models.detection import Detection, LetterboxInfo, letterbox, postprocess
from scissor_core.models.graph import Cut, CutError, SplitGraph, Splitter
from scissor_core.models.resnet import ResNet18
from scissor_core.models.weights import read_state_dict
from scissor_core.wire.codec import CodecError, CodecSpec, decode, describe, encode

log = logging.getLogger(__name__)

MODEL_NAMES = ("alexnet", "resnet18", "yolov3", "yolov3-tiny")
DEFAULT_INPUT_SIZE = {"alexnet": 224, "resnet18": 224, "yolov3": 416, "yolov3-tiny": 416}

EDGE_ONLY = "0"
DEVICE_ONLY = "last"

# The paper's candidate splits, each named by the tensors that cross it ("0" and
# "last" are added for every model). AlexNet: after every conv block and every FC
# layer; ResNet18: after the stem and every residual block, and after pooling.
_PAPER_CANDIDATES: dict[str, dict[str, list[str]]] = {
    "alexnet": {
        "conv1": ["features_2"],
        "conv2": ["features_5"],
        "conv3": ["features_7"],
        "conv4": ["features_9"],
        "conv5": ["features_12"],
        "fc1": ["classifier_2"],
        "fc2": ["classifier_5"],
    },
    "resnet18": {
        "stem": ["maxpool"],
        **{f"layer{s}.{b}": [f"layer{s}_{b}_relu_1"] for s in (1, 2, 3, 4) for b in (0, 1)},
        "pool": ["flatten"],
    },
    # YOLOv3 (Darknet layer indices): 1-4 cut the backbone where one tensor crosses
    # (ends of the 208x208 and 104x104 stages, middle and end of the first 52x52
    # stage); 5-8 cut the three detection branches in parallel (three tensors): the
    # backbone's three scales, after the first head's conv block, after the second
    # head's conv block, and the three raw head outputs (only box decoding remains).
    "yolov3": {
        "1": ["layers_4"],
        "2": ["layers_11"],
        "3": ["layers_24"],
        "4": ["layers_36"],
        "5": ["layers_36", "layers_61", "layers_74"],
        "6": ["layers_36", "layers_61", "layers_79"],
        "7": ["layers_36", "layers_81", "layers_91"],
        "8": ["layers_81", "layers_93", "layers_105"],
    },
    # YOLOv3-tiny (not in the paper), by the same rules: 1-5 cut the backbone where one tensor crosses
    # (after each of the first four 2x2 pools: 208, 104, 52, 26 pixels; then the 26x26 conv that the second
    # head routes back); 6-8 cut the two detection branches in parallel (two tensors): the backbone's two
    # scales (26x26 conv, 13x13 conv after the stride-1 pool), after the 1x1 bottleneck both heads read,
    # and the two raw head outputs (only box decoding remains).
    "yolov3-tiny": {
        "1": ["layers_1"],
        "2": ["layers_3"],
        "3": ["layers_5"],
        "4": ["layers_7"],
        "5": ["layers_8"],
        "6": ["layers_8", "layers_12"],
        "7": ["layers_8", "layers_13"],
        "8": ["layers_15", "layers_22"],
    },
}


@dataclass(frozen=True)
class Prediction:
    """Post-processed result of one frame: top-k classes or detections."""

    topk: TopK | None = None
    detections: tuple[Detection, ...] | None = None

    def to_bytes(self) -> bytes:
        """Compact binary form of the result: what ``last`` (device-only) sends.

        Top-k: k x (int32 class, float32 score); detections: n x (int32 class,
        float32 score, 4 x float32 box), after a uint32 count.
        """
        if self.topk is not None:
            rows = [struct.pack("<if", c, s) for c, s in zip(self.topk.class_ids, self.topk.scores, strict=True)]
        else:
            rows = [struct.pack("<if4f", d.class_id, d.score, *d.box) for d in self.detections or ()]
        return struct.pack("<I", len(rows)) + b"".join(rows)

    def summary(self) -> str:
        if self.topk is not None:
            return f"top-1 class {self.topk.class_ids[0]} (logit {self.topk.logits[0]:.4f})"
        return f"{len(self.detections or ())} detections"


@dataclass
class VisionModel:
    """A splittable model with its preprocessing, post-processing and candidate cuts."""

    name: str
    task: str
    """'classification' or 'detection'."""
    module: nn.Module
    input_size: int
    weights_label: str
    """The weight file, or 'random-init(seed=N)' when no file was given."""
    graph: SplitGraph
    splitter: Splitter
    class_names: list[str]
    config: ModelConfig

    @property
    def candidates(self) -> list[str]:
        """Candidate split names in order from edge-only to device-only."""
        return list(self.splitter.cuts)

    def cut(self, name: str) -> Cut:
        return self.splitter.cut(name)

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[torch.Tensor, Any]:
        """BGR uint8 camera frame -> (network input (1,3,S,S), metadata for post-processing)."""
        if self.task == "detection":
            return letterbox(frame_bgr, self.input_size)
        return imagenet_preprocess(frame_bgr, self.input_size), None

    def postprocess(self, output: torch.Tensor, meta: LetterboxInfo | None = None) -> Prediction:
        if self.task == "detection":
            dets = postprocess(output, meta, self.config.conf_threshold, self.config.nms_threshold)
            return Prediction(detections=tuple(dets))
        return Prediction(topk=topk(output, self.config.topk))

    def example_input(self, seed: int = 0) -> torch.Tensor:
        """A seeded random network input, for verification and profiling."""
        g = torch.Generator().manual_seed(seed)
        return self.image_to_input(torch.rand((1, 3, self.input_size, self.input_size), generator=g))

    @torch.inference_mode()
    def warm_up(self) -> None:
        """Run one forward pass in the calling thread before serving frames from it.

        The first torch call in a new thread can differ from later ones in the
        lowest bits (seen with oneDNN convolutions on CPU); after one forward
        pass every split is bit-identical to the unsplit forward again. Workers
        and nodes call this in the thread that will run the model.
        """
        self.module(self.example_input())

    def image_to_input(self, image: torch.Tensor) -> torch.Tensor:
        """RGB image in [0, 1] (1,3,S,S) -> network input (ImageNet-normalised for classifiers)."""
        if self.task == "detection":
            return image
        return (image - _IMAGENET_MEAN) / _IMAGENET_STD

    def input_to_image(self, x: torch.Tensor) -> torch.Tensor:
        """Inverse of :meth:`image_to_input`: what a JPEG of split 0 carries."""
        if self.task == "detection":
            return x
        return x * _IMAGENET_STD + _IMAGENET_MEAN

    def encode_split(self, split: str, tensors: dict[str, torch.Tensor], spec: CodecSpec) -> bytes:
        """Wire bytes of a split's crossing tensors. For ``jpeg`` (split 0 only) the
        preprocessed frame is sent as an image and re-normalised on the edge."""
        if spec.encoding == "jpeg":
            if not self.cut(split).is_edge_only:
                raise CodecError(f"jpeg encodes the frame itself: only split {EDGE_ONLY!r}, not {split!r}")
            tensors = {name: self.input_to_image(t) for name, t in tensors.items()}
        return encode(tensors, spec)

    def decode_split(self, split: str, blob: bytes) -> dict[str, torch.Tensor]:
        """Inverse of :meth:`encode_split`; raises CodecError on malformed or mismatched input."""
        tensors = decode(blob)
        cut = self.cut(split)
        if list(tensors) != list(cut.crossing):
            raise CodecError(f"split {split!r} expects tensors {list(cut.crossing)}, message has {list(tensors)}")
        if describe(blob)[0]["encoding"] == "jpeg":
            tensors = {name: self.image_to_input(t) for name, t in tensors.items()}
        return tensors


_IMAGENET_MEAN = torch.from_numpy(IMAGENET_MEAN).view(1, 3, 1, 1)
_IMAGENET_STD = torch.from_numpy(IMAGENET_STD).view(1, 3, 1, 1)


def _load_state_dict(module: nn.Module, path: Path) -> None:
    """Load a state_dict file safely (no pickle code execution) with strict key checks."""
    state = read_state_dict(path)
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if missing or unexpected:
        raise ValueError(
            f"{path}: state_dict does not match {type(module).__name__}: "
            f"missing keys {missing[:5]}{'...' if len(missing) > 5 else ''}, "
            f"unexpected keys {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}"
        )
    wrong = [f"{k}: {tuple(getattr(state[k], 'shape', ()))} != {tuple(v.shape)}" for k, v in expected.items()
             if not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape]
    if wrong:
        raise ValueError(f"{path}: wrong tensor shapes for {type(module).__name__}: {wrong[:5]}")
    module.load_state_dict(state, strict=True)


def _seeded_init(module: nn.Module, seed: int) -> None:
    """Re-run every layer's own reset_parameters under a fixed seed, leaving the global RNG as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for m in module.modules():
            reset = getattr(m, "reset_parameters", None)
            if callable(reset) and m is not module:
                reset()
        if isinstance(module, ResNet18):
            module._init_like_torchvision()


def _class_names(config: ScissorConfig, default_file: str | None, count: int) -> list[str]:
    path = config.model.class_names or default_file
    if path is None:
        return [f"class_{i}" for i in range(count)]
    names = [line.strip() for line in config.resolve_path(path).read_text().splitlines() if line.strip()]
    if len(names) != count:
        raise ValueError(f"{path}: {len(names)} class names for a model with {count} classes")
    return names


def build_candidates(name: str, graph: SplitGraph, cfg: ModelConfig) -> list[Cut]:
    """The ordered candidate cuts: '0', the paper's set (+ config extras), 'last'; then restricted."""
    specs = dict(_PAPER_CANDIDATES[name])
    for extra, tensors in cfg.extra_candidates.items():
        if extra in specs or extra in (EDGE_ONLY, DEVICE_ONLY):
            raise CutError(f"model.extra_candidates: {extra!r} already names a candidate split")
        specs[extra] = tensors
    cuts = [graph.edge_only_cut(EDGE_ONLY)]
    cuts += [graph.cut_from_tensors(tensors, split) for split, tensors in specs.items()]
    cuts.append(graph.device_only_cut(DEVICE_ONLY))
    if cfg.candidates is None:
        return cuts
    by_name = {c.name: c for c in cuts}
    unknown = [c for c in cfg.candidates if c not in by_name]
    if unknown:
        raise CutError(f"model.candidates: unknown split(s) {unknown}; available: {list(by_name)}")
    return [by_name[c] for c in cfg.candidates]


def _weight_file(config: ScissorConfig) -> tuple[Path | None, str]:
    """The model's weight file (None: random init) and, when a configured asset was never fetched, the
    fallback note every report line then carries. A corrupt asset or a missing file is an error."""
    weights = config.model.weights_file
    if not weights:
        return None, ""
    if is_asset_reference(weights):
        try:
            return resolve_asset(weights), ""
        except AssetMissing as exc:
            return None, f" FALLBACK, not the configured {weights}: {exc}"
        except AssetError as exc:
            raise ConfigError(f"model.weights: {exc}") from None
    path = config.resolve_path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"model weights {path} do not exist")
    return path, ""


def load_model(config: ScissorConfig | None = None, name: str | None = None) -> VisionModel:
    """Build the configured model (``name`` overrides ``config.model.name``), ready to split."""
    config = config or ScissorConfig()
    cfg = config.model
    name = name or cfg.name
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    size = cfg.input_size or DEFAULT_INPUT_SIZE[name]
    weights, fallback = _weight_file(config)
    leaves: tuple[type[nn.Module], ...] = ()
    try:
        if name in DARKNET_MODELS:
            module = build_yolov3(config.resolve_path(cfg.darknet_cfg_file), input_size=size, weights=weights,
                                  seed=cfg.seed)
            task, leaves = "detection", FX_LEAF_MODULES
            num_classes, default_names = module.num_classes, "config/models/coco.names"
        else:
            module = AlexNet() if name == "alexnet" else ResNet18()
            if weights is not None:
                _load_state_dict(module, weights)
            else:
                _seeded_init(module, cfg.seed)
            task, num_classes, default_names = "classification", 1000, None
    except ValueError as exc:  # a weight file that does not fit or does not load: the user's to fix
        if weights is None or isinstance(exc, ConfigError):
            raise
        raise ConfigError(f"model.weights: {exc}") from None
    module.eval()
    label = str(weights) if weights is not None else f"random-init(seed={cfg.seed}){fallback}"
    if fallback:
        log.error("%s: %s", name, label)
    elif weights is None:
        log.warning("%s: no weight file configured, using a seeded random init (%s)", name, label)
    graph = SplitGraph(module, leaves)
    splitter = Splitter(graph, build_candidates(name, graph, cfg))
    return VisionModel(
        name=name,
        task=task,
        module=module,
        input_size=size,
        weights_label=label,
        graph=graph,
        splitter=splitter,
        class_names=_class_names(config, default_names, num_classes),
        config=cfg,
    )
