"""YOLOv3 and YOLOv3-tiny built from the original Darknet ``.cfg`` text and ``.weights`` binary formats.

The network is a flat ``nn.ModuleList`` with exactly one entry per cfg layer section, so
Darknet layer index ``i`` is ``model.layers[i]`` and the state_dict keys are
``layers.<i>.conv.weight``, ``layers.<i>.bn.running_mean``, ... (the scissor format).
``Darknet.forward`` only loops over Python ints, which lets ``torch.fx`` trace it into a
graph whose nodes are the Darknet layers when ``FX_LEAF_MODULES`` (and ``nn.Upsample``)
are kept as leaves; the splitter cuts that graph between the device and the edge.
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from scissor_core.models.weights import read_state_dict

__all__ = [
    "FX_LEAF_MODULES",
    "Darknet",
    "DarknetCfgError",
    "DarknetConv",
    "DarknetWeightsError",
    "MaxPool",
    "Route",
    "Shortcut",
    "YoloLayer",
    "build_yolov3",
    "load_darknet_weights",
    "parse_cfg",
    "save_darknet_weights",
]


class DarknetCfgError(ValueError):
    """A Darknet cfg text is malformed or describes an inconsistent network."""


class DarknetWeightsError(ValueError):
    """A Darknet ``.weights`` file does not match the network it is loaded into."""


# Section names accepted by the parser; "network" is Darknet's alias of "net".
_SECTION_ALIASES = {
    "net": "net",
    "network": "net",
    "convolutional": "convolutional",
    "conv": "convolutional",
    "shortcut": "shortcut",
    "route": "route",
    "upsample": "upsample",
    "maxpool": "maxpool",
    "yolo": "yolo",
}
_REQUIRED_KEYS: dict[str, tuple[str, ...]] = {
    "net": (),
    "convolutional": ("filters", "activation"),
    "shortcut": ("from",),
    "route": ("layers",),
    "upsample": (),
    "maxpool": (),
    "yolo": ("anchors", "classes"),
}
_CONV_ACTIVATIONS = ("leaky", "linear")
LEAKY_SLOPE = 0.1
BN_MOMENTUM = 0.01
BN_EPS = 1e-5
_Number = TypeVar("_Number", int, float)
Section = dict[str, str]  # one cfg section; "type" holds the section name


# --------------------------------------------------------------------------- parsing


def parse_cfg(text: str, source: str = "<cfg>") -> list[Section]:
    """Parse Darknet cfg text into sections (``"type"`` = section name, [net] first).

    Besides the syntax, the layer graph is checked (required keys, integer values,
    route/shortcut indices, channel and resolution agreement), so every
    ``DarknetCfgError`` points at the offending line or layer of ``source``.
    """
    sections: list[Section] = []
    header_lines: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            if not line.endswith("]"):
                raise DarknetCfgError(f"{source}:{lineno}: malformed section header {line!r}")
            name = line[1:-1].strip()
            if name not in _SECTION_ALIASES:
                known = ", ".join(sorted(_SECTION_ALIASES))
                raise DarknetCfgError(
                    f"{source}:{lineno}: unknown section type [{name}] (supported: {known})"
                )
            sections.append({"type": _SECTION_ALIASES[name]})
            header_lines.append(lineno)
            continue
        if "=" not in line:
            raise DarknetCfgError(f"{source}:{lineno}: expected 'key=value', got {line!r}")
        if not sections:
            raise DarknetCfgError(f"{source}:{lineno}: {line!r} appears before the first section")
        key, value = (part.strip() for part in line.split("=", 1))
        if not key:
            raise DarknetCfgError(f"{source}:{lineno}: empty key in {line!r}")
        if key == "type":
            raise DarknetCfgError(f"{source}:{lineno}: 'type' is reserved for the section name")
        if key in sections[-1]:
            raise DarknetCfgError(
                f"{source}:{lineno}: duplicate key {key!r} in section [{sections[-1]['type']}]"
            )
        sections[-1][key] = value
    _plan(sections, source, header_lines)
    return sections


# ----------------------------------------------------------------- layer planning


@dataclass(frozen=True)
class _ConvSpec:
    in_channels: int
    filters: int
    size: int
    stride: int
    padding: int
    batch_normalize: bool
    activation: str


@dataclass(frozen=True)
class _ShortcutSpec:
    source: int


@dataclass(frozen=True)
class _RouteSpec:
    sources: tuple[int, ...]


@dataclass(frozen=True)
class _UpsampleSpec:
    stride: int


@dataclass(frozen=True)
class _MaxPoolSpec:
    size: int
    stride: int
    padding: int


@dataclass(frozen=True)
class _YoloSpec:
    anchors: tuple[tuple[float, float], ...]
    num_classes: int


_Spec = _ConvSpec | _ShortcutSpec | _RouteSpec | _UpsampleSpec | _MaxPoolSpec | _YoloSpec


@dataclass(frozen=True)
class _Plan:
    """Validated, typed description of a cfg: input channels and one spec per layer."""

    channels: int
    layers: tuple[_Spec, ...]
    max_stride: int


def _locator(sections: list[Section], source: str, header_lines: list[int] | None) -> Callable[[int], str]:
    """Return ``where(i)`` naming layer ``i`` (section ``i + 1``) for error messages."""

    def where(i: int) -> str:
        text = f"{source}: layer {i} [{sections[i + 1].get('type')}]"
        if header_lines is not None:
            text += f" (line {header_lines[i + 1]})"
        return text

    return where


def _require(section: Section, key: str, where: str) -> str:
    if key not in section:
        raise DarknetCfgError(f"{where}: missing required key {key!r}")
    return section[key]


def _int(section: Section, key: str, where: str, default: int | None = None) -> int:
    """Integer value of ``key``; required when there is no ``default``."""
    if key not in section and default is not None:
        return default
    value = _require(section, key, where)
    try:
        return int(value)
    except ValueError:
        raise DarknetCfgError(f"{where}: {key}={value!r} is not an integer") from None


def _numbers(section: Section, key: str, where: str, kind: type[_Number]) -> list[_Number]:
    """Comma-separated numbers of ``key`` (Darknet allows spaces around the items)."""
    value = _require(section, key, where)
    try:
        return [kind(item.strip()) for item in value.split(",") if item.strip()]
    except ValueError:
        raise DarknetCfgError(f"{where}: {key}={value!r} is not a list of {kind.__name__}s") from None


def _yolo_mask(section: Section, where: str) -> tuple[list[float], list[int]]:
    """Anchors (flat w,h list) and mask of a [yolo] section; mask defaults to all anchors."""
    anchors = _numbers(section, "anchors", where, float)
    if not anchors or len(anchors) % 2:
        raise DarknetCfgError(f"{where}: anchors must be a non-empty list of w,h pairs")
    count = len(anchors) // 2
    mask = _numbers(section, "mask", where, int) if "mask" in section else list(range(count))
    if not mask or any(not 0 <= m < count for m in mask):
        raise DarknetCfgError(f"{where}: mask {mask} must index the {count} anchors")
    return anchors, mask


def _override_classes(
    sections: list[Section], num_classes: int, where: Callable[[int], str]
) -> list[Section]:
    """Copy of ``sections`` with every [yolo] (and the conv feeding it) sized for ``num_classes``."""
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    sections = [dict(s) for s in sections]
    for i, section in enumerate(sections[1:]):
        if section.get("type") != "yolo":
            continue
        _, mask = _yolo_mask(section, where(i))
        if sections[i].get("type") != "convolutional":
            raise DarknetCfgError(f"{where(i)}: overriding num_classes needs a [convolutional] before [yolo]")
        sections[i]["filters"] = str(len(mask) * (5 + num_classes))
        section["classes"] = str(num_classes)
    return sections


def _resolve(index: int, i: int, where: str) -> int:
    """Absolute index of a (possibly negative, i.e. relative) layer reference from layer ``i``."""
    absolute = i + index if index < 0 else index
    if not 0 <= absolute < i:
        raise DarknetCfgError(f"{where}: layer reference {index} resolves to {absolute}, outside 0..{i - 1}")
    return absolute


def _plan(sections: list[Section], source: str, header_lines: list[int] | None = None) -> _Plan:
    """Validate ``sections`` and compute every layer's typed spec and output geometry."""
    if not sections or sections[0].get("type") != "net":
        raise DarknetCfgError(f"{source}: the first section must be [net]")
    if len(sections) < 2:
        raise DarknetCfgError(f"{source}: no layers after [net]")
    where = _locator(sections, source, header_lines)
    for i, section in enumerate(sections[1:]):
        kind = section.get("type")
        if kind not in _REQUIRED_KEYS or kind == "net":
            raise DarknetCfgError(f"{where(i)}: unsupported layer type {kind!r}")
        for key in _REQUIRED_KEYS[kind]:
            _require(section, key, where(i))
    net_where = f"{source}: [net]" + (f" (line {header_lines[0]})" if header_lines else "")
    channels = _int(sections[0], "channels", net_where, default=3)
    # Per layer: output channels (None for [yolo], whose output is detections) and stride.
    shapes: list[tuple[int | None, int]] = []
    specs: list[_Spec] = []

    def input_of(i: int) -> tuple[int, int]:
        if i == 0:
            return channels, 1
        prev_channels, prev_stride = shapes[i - 1]
        if prev_channels is None:
            raise DarknetCfgError(f"{where(i)}: cannot consume the detections of [yolo] layer {i - 1}")
        return prev_channels, prev_stride

    def referenced(j: int, i: int) -> tuple[int, int]:
        ref_channels, ref_stride = shapes[j]
        if ref_channels is None:
            raise DarknetCfgError(f"{where(i)}: cannot reference [yolo] layer {j}")
        return ref_channels, ref_stride

    for i, section in enumerate(sections[1:]):
        here = where(i)
        kind = section["type"]
        if kind == "convolutional":
            in_channels, stride = input_of(i)
            size = _int(section, "size", here, default=1)
            conv_stride = _int(section, "stride", here, default=1)
            if _int(section, "pad", here, default=0):
                padding = size // 2
            else:
                padding = _int(section, "padding", here, default=0)
            spec = _ConvSpec(
                in_channels=in_channels,
                filters=_int(section, "filters", here),
                size=size,
                stride=conv_stride,
                padding=padding,
                batch_normalize=bool(_int(section, "batch_normalize", here, default=0)),
                activation=section["activation"],
            )
            if spec.filters < 1 or size < 1 or conv_stride < 1 or padding < 0:
                raise DarknetCfgError(f"{here}: filters, size, stride must be positive, padding non-negative")
            if spec.activation not in _CONV_ACTIVATIONS:
                raise DarknetCfgError(f"{here}: activation {spec.activation!r} is not leaky or linear")
            specs.append(spec)
            shapes.append((spec.filters, stride * conv_stride))
        elif kind == "shortcut":
            source_index = _resolve(_int(section, "from", here), i, here)
            in_shape = input_of(i)
            if referenced(source_index, i) != in_shape:
                raise DarknetCfgError(
                    f"{here}: shortcut adds layer {source_index} (channels, stride) {shapes[source_index]} "
                    f"to layer {i - 1} {in_shape}; they must match"
                )
            if section.get("activation", "linear") != "linear":
                raise DarknetCfgError(f"{here}: only activation=linear is supported for [shortcut]")
            specs.append(_ShortcutSpec(source_index))
            shapes.append(in_shape)
        elif kind == "route":
            indices = _numbers(section, "layers", here, int)
            if not indices:
                raise DarknetCfgError(f"{here}: layers must list at least one layer")
            sources = tuple(_resolve(index, i, here) for index in indices)
            routed = [referenced(j, i) for j in sources]
            if len({stride for _, stride in routed}) != 1:
                raise DarknetCfgError(f"{here}: routed layers {list(sources)} have different resolutions")
            specs.append(_RouteSpec(sources))
            shapes.append((sum(c for c, _ in routed), routed[0][1]))
        elif kind == "upsample":
            in_channels, stride = input_of(i)
            factor = _int(section, "stride", here, default=2)
            if factor < 1 or stride % factor:
                raise DarknetCfgError(f"{here}: stride {factor} does not divide the input's stride {stride}")
            specs.append(_UpsampleSpec(factor))
            shapes.append((in_channels, stride // factor))
        elif kind == "maxpool":  # Darknet's defaults: stride 1, size = stride, padding = size - 1
            in_channels, stride = input_of(i)
            pool_stride = _int(section, "stride", here, default=1)
            size = _int(section, "size", here, default=pool_stride)
            padding = _int(section, "padding", here, default=size - 1)
            if pool_stride < 1 or size < 1 or padding < 0:
                raise DarknetCfgError(f"{here}: size and stride must be positive, padding non-negative")
            if padding + 1 != size:
                raise DarknetCfgError(f"{here}: padding {padding} with size {size} changes the resolution by "
                                      "other than the stride (only padding = size - 1 is supported)")
            specs.append(_MaxPoolSpec(size, pool_stride, padding))
            shapes.append((in_channels, stride * pool_stride))
        else:  # yolo
            in_channels, _ = input_of(i)
            anchors, mask = _yolo_mask(section, here)
            num_classes = _int(section, "classes", here)
            if num_classes < 1:
                raise DarknetCfgError(f"{here}: classes must be positive")
            if in_channels != len(mask) * (5 + num_classes):
                raise DarknetCfgError(
                    f"{here}: input has {in_channels} channels, expected "
                    f"len(mask) * (5 + classes) = {len(mask) * (5 + num_classes)}"
                )
            specs.append(_YoloSpec(tuple((anchors[2 * m], anchors[2 * m + 1]) for m in mask), num_classes))
            shapes.append((None, shapes[i - 1][1]))
    if not any(isinstance(spec, _YoloSpec) for spec in specs):
        raise DarknetCfgError(f"{source}: the network has no [yolo] layer")
    return _Plan(channels=channels, layers=tuple(specs), max_stride=max(stride for _, stride in shapes))


# --------------------------------------------------------------------------- modules


class DarknetConv(nn.Module):
    """One [convolutional] section: conv (+ batch norm) + leaky(0.1) or linear activation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        batch_normalize: bool = True,
        activation: str = "leaky",
    ) -> None:
        super().__init__()
        if activation not in _CONV_ACTIVATIONS:
            raise ValueError(f"unsupported activation {activation!r}")
        self.conv = nn.Conv2d(
            in_channels, out_channels, kernel_size, stride, padding, bias=not batch_normalize
        )
        self.bn = nn.BatchNorm2d(out_channels, eps=BN_EPS, momentum=BN_MOMENTUM) if batch_normalize else None
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.activation == "leaky" else x


class Shortcut(nn.Module):
    """Parameter-free [shortcut]: output = previous layer + layer ``source`` (absolute index)."""

    def __init__(self, source: int) -> None:
        super().__init__()
        self.source = source

    def forward(self, previous: torch.Tensor, other: torch.Tensor) -> torch.Tensor:
        return previous + other

    def extra_repr(self) -> str:
        return f"source={self.source}"


class Route(nn.Module):
    """Parameter-free [route]: channel concatenation of layers ``sources`` (absolute indices)."""

    def __init__(self, sources: tuple[int, ...]) -> None:
        super().__init__()
        self.sources = tuple(sources)

    def forward(self, *routed: torch.Tensor) -> torch.Tensor:
        return routed[0] if len(routed) == 1 else torch.cat(routed, dim=1)

    def extra_repr(self) -> str:
        return f"sources={list(self.sources)}"


class MaxPool(nn.Module):
    """[maxpool] as Darknet computes it: the max of ``size`` x ``size`` windows every ``stride`` pixels over
    the input padded with -inf, ``padding // 2`` before and the rest after, so out = (w + padding - size)
    // stride + 1 (YOLOv3-tiny's size-2, stride-1 pool keeps 13x13 by padding one column and row after)."""

    def __init__(self, size: int, stride: int, padding: int) -> None:
        super().__init__()
        self.size, self.stride, self.padding = size, stride, padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before = self.padding // 2
        after = self.padding - before
        if self.padding:
            x = F.pad(x, (before, after, before, after), value=float("-inf"))
        return F.max_pool2d(x, self.size, self.stride)

    def extra_repr(self) -> str:
        return f"size={self.size}, stride={self.stride}, padding={self.padding}"


class YoloLayer(nn.Module):
    """[yolo] head: decodes raw predictions into boxes in network-input pixels.

    Input ``(N, A*(5+C), H, W)``; output ``(N, H*W*A, 5+C)`` ordered by grid row, grid
    column, then anchor, with rows ``(cx, cy, w, h, objectness, class scores...)``:
    ``cx = (sigmoid(tx) + col) * stride``, ``w = exp(tw) * anchor_w``, objectness and
    class scores through a sigmoid (YOLOv3 uses independent logistic classifiers).
    """

    anchors: torch.Tensor

    def __init__(
        self, anchors: Sequence[tuple[float, float]], num_classes: int, input_size: tuple[int, int]
    ) -> None:
        super().__init__()
        # Non-persistent: anchors follow .to() but stay out of the state_dict (they come from the cfg).
        anchor_tensor = torch.tensor(anchors, dtype=torch.float32).reshape(-1, 2)
        self.register_buffer("anchors", anchor_tensor, persistent=False)
        self.num_classes = num_classes
        self.input_size = input_size  # (width, height) of the network input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        a = self.anchors.shape[0]
        p = x.view(n, a, 5 + self.num_classes, h, w).permute(0, 3, 4, 1, 2)  # N, H, W, A, 5+C
        cols = torch.arange(w, dtype=x.dtype, device=x.device).view(1, 1, w, 1)
        rows = torch.arange(h, dtype=x.dtype, device=x.device).view(1, h, 1, 1)
        anchors = self.anchors.to(x.dtype)
        cx = (torch.sigmoid(p[..., 0]) + cols) * (self.input_size[0] / w)
        cy = (torch.sigmoid(p[..., 1]) + rows) * (self.input_size[1] / h)
        bw = torch.exp(p[..., 2]) * anchors[:, 0]
        bh = torch.exp(p[..., 3]) * anchors[:, 1]
        boxes = torch.stack((cx, cy, bw, bh), dim=-1)
        out = torch.cat((boxes, torch.sigmoid(p[..., 4:])), dim=-1)
        return out.reshape(n, h * w * a, 5 + self.num_classes)

    def extra_repr(self) -> str:
        anchors = self.anchors.tolist()
        return f"anchors={anchors}, num_classes={self.num_classes}, input_size={self.input_size}"


# Traced as single nodes, so every cfg layer i is exactly one graph node named ``layers_i``.
FX_LEAF_MODULES: tuple[type[nn.Module], ...] = (DarknetConv, Shortcut, Route, MaxPool, YoloLayer)


class Darknet(nn.Module):
    """A Darknet network (YOLOv3, YOLOv3-tiny) with one ``layers`` entry per cfg layer section.

    ``input_size`` overrides the [net] width/height (square input, multiple of the
    network's total stride: 32 for YOLOv3); ``num_classes`` resizes the [yolo] heads and
    the convolutions feeding them. ``forward`` returns all detections concatenated:
    ``(N, sum over heads of H*W*A, 5 + C)``, e.g. ``(N, 10647, 85)`` at 416 for COCO.
    """

    def __init__(
        self, sections: list[Section], input_size: int = 416, num_classes: int | None = None
    ) -> None:
        super().__init__()
        source = "<sections>"
        if num_classes is not None:
            sections = _override_classes(sections, num_classes, _locator(sections, source, None))
        plan = _plan(sections, source)
        if input_size < 1 or input_size % plan.max_stride:
            raise ValueError(f"input_size must be a positive multiple of {plan.max_stride}, got {input_size}")
        self.input_size = input_size
        self.in_channels = plan.channels
        self.layers = nn.ModuleList()
        for spec in plan.layers:
            self.layers.append(_make_module(spec, input_size))
        self.num_classes = next(m.num_classes for m in self.layers if isinstance(m, YoloLayer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs: list[torch.Tensor] = []
        detections: list[torch.Tensor] = []
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Shortcut):
                y = layer(outputs[i - 1], outputs[layer.source])
            elif isinstance(layer, Route):
                y = layer(*(outputs[j] for j in layer.sources))
            else:
                y = layer(x if i == 0 else outputs[i - 1])
                if isinstance(layer, YoloLayer):
                    detections.append(y)
            outputs.append(y)
        return torch.cat(detections, dim=1)


def _make_module(spec: _Spec, input_size: int) -> nn.Module:
    if isinstance(spec, _ConvSpec):
        return DarknetConv(
            spec.in_channels,
            spec.filters,
            spec.size,
            spec.stride,
            spec.padding,
            spec.batch_normalize,
            spec.activation,
        )
    if isinstance(spec, _ShortcutSpec):
        return Shortcut(spec.source)
    if isinstance(spec, _RouteSpec):
        return Route(spec.sources)
    if isinstance(spec, _UpsampleSpec):
        return nn.Upsample(scale_factor=spec.stride, mode="nearest")
    if isinstance(spec, _MaxPoolSpec):
        return MaxPool(spec.size, spec.stride, spec.padding)
    return YoloLayer(spec.anchors, spec.num_classes, (input_size, input_size))


# --------------------------------------------------------------------------- weights


def _darknet_tensors(conv: DarknetConv) -> list[torch.Tensor]:
    """The tensors of one conv layer in ``.weights`` file order."""
    if conv.bn is not None:
        head = [conv.bn.bias, conv.bn.weight, conv.bn.running_mean, conv.bn.running_var]
    else:
        assert conv.conv.bias is not None  # a conv without batch norm always has a bias
        head = [conv.conv.bias]
    return [*head, conv.conv.weight]


def _conv_layers(model: Darknet) -> list[tuple[int, DarknetConv]]:
    return [(i, m) for i, m in enumerate(model.layers) if isinstance(m, DarknetConv)]


def _header_size(raw: np.ndarray, path: Path) -> int:
    """Byte length of the ``.weights`` header (major, minor, revision, seen)."""
    size = 12  # major, minor, revision: int32 each
    if raw.size >= size:
        major, minor, _ = np.frombuffer(raw, dtype="<i4", count=3)
        size += 8 if major * 10 + minor >= 2 and major < 1000 else 4  # seen: int64 or int32
    if raw.size < size:
        raise DarknetWeightsError(
            f"{path}: file ends inside the header: expected at least {size} bytes, got {raw.size}"
        )
    return size


def load_darknet_weights(model: Darknet, path: str | Path) -> None:
    """Load an original Darknet ``.weights`` file into ``model`` (sizes validated up front)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(errno.ENOENT, "Darknet weights file not found", str(path))
    raw = np.fromfile(path, dtype=np.uint8)
    offset = _header_size(raw, path)
    convs = _conv_layers(model)
    expected = offset + 4 * sum(t.numel() for _, conv in convs for t in _darknet_tensors(conv))
    if raw.size < expected:
        end = offset
        for i, conv in convs:
            end += 4 * sum(t.numel() for t in _darknet_tensors(conv))
            if end > raw.size:
                raise DarknetWeightsError(
                    f"{path}: file ends inside layer {i} (convolutional): "
                    f"expected {expected} bytes, got {raw.size}"
                )
    if raw.size > expected:
        raise DarknetWeightsError(
            f"{path}: {raw.size - expected} trailing bytes after the last layer "
            f"{convs[-1][0]} (convolutional): expected {expected} bytes, got {raw.size}"
        )
    values = torch.from_numpy(np.frombuffer(raw, dtype="<f4", offset=offset).astype(np.float32))
    start = 0
    with torch.no_grad():
        for _, conv in convs:
            for tensor in _darknet_tensors(conv):
                tensor.copy_(values[start : start + tensor.numel()].view_as(tensor))
                start += tensor.numel()


def save_darknet_weights(model: Darknet, path: str | Path) -> None:
    """Write ``model`` as an original Darknet ``.weights`` file (version 0.2.0, seen=0)."""
    with open(path, "wb") as f:
        np.array([0, 2, 0], dtype="<i4").tofile(f)
        np.array([0], dtype="<i8").tofile(f)
        for _, conv in _conv_layers(model):
            for tensor in _darknet_tensors(conv):
                tensor.detach().cpu().contiguous().numpy().astype("<f4", copy=False).tofile(f)


# --------------------------------------------------------------------------- building


RESIDUAL_INIT_SCALE = 0.1


def _init_random(model: Darknet, seed: int) -> None:
    """Seeded He init from a local generator, with batch norm as the identity.

    Plain He init doubles the activation variance at every [shortcut] (2^23 over
    YOLOv3, so exp() of the box sizes overflows); scaling the conv that closes each
    residual branch by ``RESIDUAL_INIT_SCALE`` keeps outputs finite and the
    objectness/class sigmoids away from saturation.
    """
    generator = torch.Generator().manual_seed(seed)
    residual = {i - 1 for i, layer in enumerate(model.layers) if isinstance(layer, Shortcut)}
    with torch.no_grad():
        for i, layer in _conv_layers(model):
            weight = layer.conv.weight
            gain = (2.0 / (1.0 + LEAKY_SLOPE**2)) ** 0.5 if layer.activation == "leaky" else 1.0
            if i in residual:
                gain *= RESIDUAL_INIT_SCALE
            weight.normal_(0.0, gain / weight[0].numel() ** 0.5, generator=generator)
            if layer.conv.bias is not None:
                layer.conv.bias.zero_()
            if layer.bn is not None:
                layer.bn.reset_parameters()  # weight 1, bias 0, running mean 0, var 1, batches 0


def _load_state_dict(model: Darknet, path: Path) -> None:
    """Load a scissor ``.pt`` state_dict strictly, naming every mismatching key."""
    state = read_state_dict(path)
    own = model.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = sorted(
        f"{k}: file {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
        for k in set(own) & set(state)
        if isinstance(state[k], torch.Tensor) and state[k].shape != own[k].shape
    )
    if missing or unexpected or shapes:
        raise ValueError(
            f"{path}: state_dict does not match the model: missing keys {missing}; "
            f"unexpected keys {unexpected}; shape mismatches {shapes}"
        )
    model.load_state_dict(state, strict=True)


def build_yolov3(
    cfg_path: str | Path, input_size: int = 416, weights: str | Path | None = None, seed: int = 0
) -> Darknet:
    """Build a Darknet model from ``cfg_path`` in eval mode.

    ``weights``: None -> seeded random init (the global RNG is left untouched); a
    ``*.weights`` path -> original Darknet binary; anything else -> a scissor state_dict
    saved with ``torch.save`` (loaded with ``weights_only=True``, strictly).
    """
    cfg_path = Path(cfg_path)
    sections = parse_cfg(cfg_path.read_text(), source=str(cfg_path))
    with torch.random.fork_rng(devices=[]):  # module constructors draw from the global RNG
        model = Darknet(sections, input_size=input_size)
    if weights is None:
        _init_random(model, seed)
    elif Path(weights).suffix == ".weights":
        load_darknet_weights(model, weights)
    else:
        _load_state_dict(model, Path(weights))
    return model.eval()
