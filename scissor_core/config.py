"""The one typed configuration of scissor, loaded from YAML and validated.

Every section is a dataclass whose fields carry their defaults; the same objects
feed the CLI, the simulator and (as ROS parameters) the nodes. Loading refuses
an unknown or misspelled key, a value of the wrong type or a missing file with
a :class:`ConfigError` that names the key and the file.
"""
from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO_ROOT / "config"
DEFAULT_CONFIG = CONFIG_DIR / "scissor.yaml"

ModelName = Literal["alexnet", "resnet18", "yolov3"]


class ConfigError(ValueError):
    """A configuration file or value is invalid; the message names key and file."""


@dataclass
class ModelConfig:
    """Which DNN to run and how to build it."""

    name: ModelName = "yolov3"
    """Model to split: alexnet, resnet18 or yolov3."""
    weights: str | None = None
    """Weight file: a state_dict (.pt/.pth) or, for yolov3, a Darknet .weights; none = seeded random init."""
    seed: int = 0
    """Seed of the random initialisation used when no weights are given."""
    input_size: int | None = None
    """Network input side in pixels; none = the model's default (224, or 416 for yolov3)."""
    darknet_cfg: str = "config/models/yolov3.cfg"
    """Darknet network description for yolov3 (relative paths are from the repository root)."""
    class_names: str | None = None
    """Text file with one class name per line; none = coco.names for yolov3, class_<i> otherwise."""
    candidates: list[str] | None = None
    """Restrict the candidate splits to these names (in this order); none = the model's paper set."""
    extra_candidates: dict[str, list[str]] = field(default_factory=dict)
    """Additional named splits, each given as the list of graph tensors that cross it."""
    conf_threshold: float = 0.5
    """Detection confidence threshold (objectness x class probability)."""
    nms_threshold: float = 0.45
    """IoU threshold of non-maximum suppression."""
    topk: int = 5
    """How many classes a classifier reports."""


@dataclass
class CodecConfig:
    """How crossing tensors are encoded for transport."""

    encoding: Literal["raw", "fp16", "int8", "jpeg"] = "raw"
    """raw (lossless float32), fp16, int8 (affine), or jpeg (split 0 only)."""
    compression: Literal["none", "zstd", "lz4"] = "none"
    """Byte compression applied after encoding (not for jpeg)."""
    jpeg_quality: int = 90
    """JPEG quality 1..100 for the jpeg encoding."""
    int8_mode: Literal["per_tensor", "per_channel"] = "per_tensor"
    """Granularity of the int8 scale / zero point."""
    zstd_level: int = 3
    """zstd compression level."""


@dataclass
class ProfileConfig:
    """How compute times are measured and how a weak device is emulated."""

    runs: int = 10
    """Timed runs per cut and side (median and p95 are reported)."""
    warmup: int = 2
    """Untimed runs before timing."""
    device_threads: int = 1
    """torch threads of the device side (a Pi-class device: few cores)."""
    edge_threads: int = 1
    """torch threads of the edge side."""
    device_slowdown: float = 1.0
    """Factor applied to measured device times to emulate a slower device."""
    edge_slowdown: float = 1.0
    """Factor applied to measured edge times (below 1 emulates a GPU edge)."""
    codecs: list[str] = field(
        default_factory=lambda: ["raw", "raw+lz4", "raw+zstd", "fp16", "int8", "int8+zstd", "jpeg-q90"]
    )
    """Codec labels whose bytes per cut are recorded (jpeg only applies to split 0)."""


@dataclass
class ScissorConfig:
    """Top-level configuration: one YAML file, one section per part."""

    model: ModelConfig = field(default_factory=ModelConfig)
    codec: CodecConfig = field(default_factory=CodecConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)

    def resolve_path(self, path: str) -> Path:
        """Paths in the config are relative to the repository root."""
        p = Path(path).expanduser()
        return p if p.is_absolute() else REPO_ROOT / p


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp``; return it (dataclasses built)."""
    origin = typing.get_origin(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping (section), got {type(value).__name__}")
        return _build(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _convert(value, option, where)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: {value!r} matches none of {_type_name(tp)}")
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed:
            raise ConfigError(f"{where}: {value!r} is not one of {list(allowed)}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        (item,) = typing.get_args(tp)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__} {value!r}")
        key_tp, val_tp = typing.get_args(tp)
        return {_convert(k, key_tp, f"{where} key"): _convert(v, val_tp, f"{where}.{k}") for k, v in value.items()}
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {type(value).__name__} {value!r}")
        return float(value)
    if tp in (int, str, bool):
        if type(value) is not tp:
            raise ConfigError(f"{where}: expected {tp.__name__}, got {type(value).__name__} {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported annotation {_type_name(tp)}")  # a bug in a dataclass, not the file


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs = {}
    for key, value in data.items():
        if key not in names:
            close = difflib.get_close_matches(str(key), names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}: unknown key {key!r}{hint}; known keys: {', '.join(names)}")
        kwargs[key] = _convert(value, hints[key], f"{where}.{key}")
    return cls(**kwargs)


def from_dict(data: dict[str, Any], source: str = "<dict>") -> ScissorConfig:
    """Build and validate a config from a plain mapping (missing keys take defaults)."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: the top level must be a mapping of sections, got {type(data).__name__}")
    config = _build(ScissorConfig, data, source)
    validate(config, source)
    return config


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ScissorConfig:
    """Load ``path`` (default ``config/scissor.yaml``), apply dotted ``overrides``, validate."""
    path = Path(path) if path is not None else DEFAULT_CONFIG
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    data = data or {}
    for dotted, value in (overrides or {}).items():
        section = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            section = section.setdefault(p, {})
            if not isinstance(section, dict):
                raise ConfigError(f"{path}: cannot override {dotted!r}: {p!r} is not a section")
        section[leaf] = value
    return from_dict(data, str(path))


def validate(config: ScissorConfig, source: str) -> None:
    """Range and file checks that types alone cannot express."""
    m, c, p = config.model, config.codec, config.profile
    checks = [
        (m.input_size is None or (m.input_size >= 32 and m.input_size % 32 == 0), "model.input_size",
         "must be a multiple of 32, at least 32"),
        (0.0 <= m.conf_threshold <= 1.0, "model.conf_threshold", "must be in [0, 1]"),
        (0.0 <= m.nms_threshold <= 1.0, "model.nms_threshold", "must be in [0, 1]"),
        (m.topk >= 1, "model.topk", "must be at least 1"),
        (1 <= c.jpeg_quality <= 100, "codec.jpeg_quality", "must be in 1..100"),
        (1 <= c.zstd_level <= 22, "codec.zstd_level", "must be in 1..22"),
        (p.runs >= 1, "profile.runs", "must be at least 1"),
        (p.warmup >= 0, "profile.warmup", "must be non-negative"),
        (p.device_threads >= 1, "profile.device_threads", "must be at least 1"),
        (p.edge_threads >= 1, "profile.edge_threads", "must be at least 1"),
        (p.device_slowdown > 0, "profile.device_slowdown", "must be positive"),
        (p.edge_slowdown > 0, "profile.edge_slowdown", "must be positive"),
    ]
    for ok, key, message in checks:
        if not ok:
            raise ConfigError(f"{source}: {key} {message}")
    for key, path in (("model.weights", m.weights), ("model.darknet_cfg", m.darknet_cfg),
                      ("model.class_names", m.class_names)):
        if path is not None and not config.resolve_path(path).is_file():
            raise ConfigError(f"{source}: {key}: file {config.resolve_path(path)} does not exist")
