"""What each split costs: measured profiles and the per-split cost table every estimate reads.

A :class:`ModelProfile` (written by ``scissor profile``, shipped in
``config/profiles/``) holds, per candidate split, the measured device and edge
compute times and the encoded bytes per codec. :class:`SplitCosts` flattens it
for one codec choice into the tuples the queues, the policies, the simulator
and the live device read (in candidate order).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from scissor_core.config import CodecConfig
from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY
from scissor_core.wire.codec import codec_labels

PROFILE_FORMAT = 1


@dataclass(frozen=True)
class TimingStats:
    """Summary of repeated measurements, in seconds."""

    median: float
    p95: float
    mean: float
    min: float
    runs: int

    @classmethod
    def of(cls, samples: list[float]) -> TimingStats:
        a = np.asarray(samples, dtype=np.float64)
        if a.size == 0:
            return cls(0.0, 0.0, 0.0, 0.0, 0)
        return cls(float(np.median(a)), float(np.percentile(a, 95)), float(a.mean()), float(a.min()), int(a.size))

    def scaled(self, factor: float) -> TimingStats:
        """The same statistics multiplied by ``factor`` (device/edge emulation)."""
        return TimingStats(self.median * factor, self.p95 * factor, self.mean * factor, self.min * factor, self.runs)

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class CutProfile:
    """Measured cost of one candidate split."""

    split: str
    crossing: list[str]
    shapes: list[list[int]]
    device_measured: TimingStats
    edge_measured: TimingStats
    device_time: float
    """Median device compute time after the slowdown factor (s)."""
    edge_time: float
    """Median edge compute time after the slowdown factor (s)."""
    bytes: dict[str, int]
    """Encoded bytes per codec label (codecs that do not apply to this split are absent)."""


@dataclass
class ModelProfile:
    """Profile of every candidate split of one model on one machine."""

    model: str
    weights: str
    input_size: int
    settings: dict
    machine: dict
    created: str
    full_forward: TimingStats
    cuts: list[CutProfile] = field(default_factory=list)
    format: int = PROFILE_FORMAT

    def cut(self, split: str) -> CutProfile:
        for c in self.cuts:
            if c.split == split:
                return c
        raise KeyError(f"profile of {self.model} has no split {split!r}; it has {[c.split for c in self.cuts]}")

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ModelProfile:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"profile {path} does not exist (create it with `scissor profile MODEL`)") from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path}: not a JSON profile: {exc}") from None
        if data.get("format") != PROFILE_FORMAT:
            raise ValueError(f"{path}: profile format {data.get('format')!r}, expected {PROFILE_FORMAT}")
        try:
            cuts = [
                CutProfile(**{**c, "device_measured": TimingStats(**c["device_measured"]),
                              "edge_measured": TimingStats(**c["edge_measured"])})
                for c in data.pop("cuts")
            ]
            return cls(**{**data, "full_forward": TimingStats(**data["full_forward"]), "cuts": cuts})
        except (KeyError, TypeError) as exc:
            raise ValueError(f"{path}: malformed profile: {exc}") from None


@dataclass(frozen=True)
class SplitCosts:
    """Per candidate split (in candidate order): estimated device and edge compute and bytes sent.

    Built from a :class:`ModelProfile` for one codec. Only splits the codec applies
    to are candidates (``jpeg-*`` only encodes the frame: splits ``0`` and ``last``).
    ``last`` sends 0 bytes: a device-only frame's result is consumed on the device.
    With a ``frame_codec`` (``codec.frame_encoding: jpeg``), split ``0`` sends the
    frame with that codec and every other split its feature maps with ``codec``.
    """

    model: str
    codec: str
    splits: tuple[str, ...]
    local: tuple[float, ...]
    """Device compute time per split (s)."""
    edge: tuple[float, ...]
    """Edge compute time per split (s)."""
    nbytes: tuple[int, ...]
    """Bytes sent over the link per split."""
    frame_codec: str | None = None
    """Codec of split ``0`` when it is not ``codec`` (None: the same)."""

    @classmethod
    def from_profile(cls, profile: ModelProfile, codec: str = "raw", frame_codec: str | None = None) -> SplitCosts:
        known = sorted({label for c in profile.cuts for label in c.bytes})
        cuts = [c for c in profile.cuts if codec in c.bytes]
        if not cuts:
            raise ValueError(f"profile of {profile.model} has no bytes for codec {codec!r}; it has {known}")
        if frame_codec == codec:
            frame_codec = None
        if frame_codec is not None and not any(c.split == EDGE_ONLY and frame_codec in c.bytes for c in cuts):
            raise ValueError(f"profile of {profile.model} has no bytes of split {EDGE_ONLY} for frame codec "
                             f"{frame_codec!r}; it has {known}")

        def sent(cut) -> int:
            if cut.split == DEVICE_ONLY:
                return 0
            return cut.bytes[split_codec(cut.split, codec, frame_codec)]

        return cls(
            model=profile.model,
            codec=codec,
            splits=tuple(c.split for c in cuts),
            local=tuple(0.0 if c.split == EDGE_ONLY else c.device_time for c in cuts),
            edge=tuple(0.0 if c.split == DEVICE_ONLY else c.edge_time for c in cuts),
            nbytes=tuple(sent(c) for c in cuts),
            frame_codec=frame_codec,
        )

    @classmethod
    def for_config(cls, profile: ModelProfile, codec: CodecConfig) -> SplitCosts:
        """The cost table of a ``codec`` config section (tensor codec, and the frame's when it differs)."""
        return cls.from_profile(profile, *codec_labels(codec))

    def codec_of(self, split: str) -> str:
        """Label of the codec that ``split`` sends with."""
        return split_codec(split, self.codec, self.frame_codec)

    @property
    def codec_plan(self) -> str:
        """The codecs of this table in one label (:func:`codec_plan`)."""
        return codec_plan(self.codec, self.frame_codec)

    def index(self, split: str) -> int:
        try:
            return self.splits.index(split)
        except ValueError:
            raise ValueError(f"split {split!r} is not a candidate of {self.model} with codec {self.codec}; "
                             f"candidates: {list(self.splits)}") from None


def split_codec(split: str, codec: str, frame_codec: str | None) -> str:
    """The codec ``split`` sends with: ``frame_codec`` for split ``0`` when there is one, else ``codec``."""
    return frame_codec if frame_codec and split == EDGE_ONLY else codec


def codec_plan(codec: str, frame_codec: str | None) -> str:
    """A tensor codec and an optional frame codec in one label for logs and tables: ``raw``, or
    ``raw, frame jpeg-q90``."""
    return f"{codec}, frame {frame_codec}" if frame_codec else codec


def needs_local(split: str) -> bool:
    """Does the device compute anything for this split? (not for edge-only)"""
    return split != EDGE_ONLY


def needs_link(split: str) -> bool:
    """Does this split send anything to the edge? (not device-only)"""
    return split != DEVICE_ONLY
