"""What each split costs: measured profiles and the per-split cost table every estimate reads.

A :class:`ModelProfile` (written by ``scissor profile``, shipped in
``config/profiles/``) holds, per candidate split, the measured device and edge
compute times and the encoded bytes per codec. :class:`SplitCosts` flattens it
into the tuples the queues, the policies, the simulator and the live device read
(in candidate order), either for one codec (the ``codec`` section) or, with
``codec.min_map``, for every (split, codec) pair of the codec bench's table that keeps
that accuracy: then a candidate is an *option* such as ``4@int8-per_tensor+zstd``
(:func:`option_name`), and every policy chooses the codec with the split.
"""
from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from scissor_core.config import CONFIG_DIR, CodecConfig
from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY
from scissor_core.resources import resolve_data_path
from scissor_core.runtime.codec_table import CodecEffect, read_codec_csv
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
    cuts: tuple[str, ...] = ()
    """The model split of each candidate (the candidate's own name unless it is an option ``SPLIT@CODEC``)."""
    codecs: tuple[str, ...] = ()
    """The codec label each candidate sends with."""

    def __post_init__(self) -> None:
        if not self.cuts:
            object.__setattr__(self, "cuts", self.splits)
        if not self.codecs:
            object.__setattr__(self, "codecs", tuple(split_codec(s, self.codec, self.frame_codec)
                                                     for s in self.splits))

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
    def from_codec_table(cls, profile: ModelProfile, rows: list[CodecEffect], min_map: float,
                         source: str = "table") -> SplitCosts:
        """Every (split, codec) pair of the codec bench's ``rows`` whose agreement is at least ``min_map``, as
        options ``SPLIT@CODEC`` in the profile's candidate order (``last`` stays one option: it sends nothing).

        Costs: the split's profiled device and edge times, plus the pair's measured encode time on the device
        and decode time on the edge (scaled by the profile's slowdowns; split 0 has no device compute, so its
        encode time is counted with the edge's part of the path), and the pair's mean bytes per frame. A pair
        that sends more bytes *and* takes longer to encode and decode than another at the same split is left
        out: no state makes it the better choice. A split the table has no row for is not a candidate."""
        device_slow = float(profile.settings.get("device_slowdown", 1.0))
        edge_slow = float(profile.settings.get("edge_slowdown", 1.0))
        options: list[tuple[str, str, str, float, float, int]] = []
        for cut in profile.cuts:
            if cut.split == DEVICE_ONLY:
                options.append((cut.split, cut.split, "", cut.device_time, 0.0, 0))
                continue
            for row in pareto_codecs([r for r in rows if r.split == cut.split and r.agreement >= min_map]):
                encode, decode = row.encode_ms / 1e3 * device_slow, row.decode_ms / 1e3 * edge_slow
                local = 0.0 if cut.split == EDGE_ONLY else cut.device_time + encode
                edge = cut.edge_time + decode + (encode if cut.split == EDGE_ONLY else 0.0)
                options.append((option_name(cut.split, row.codec), cut.split, row.codec, local, edge,
                                round(row.bytes)))
        if not any(cut != DEVICE_ONLY for _, cut, *_ in options):
            raise ValueError(f"{source}: no (split, codec) pair of {profile.model} reaches agreement {min_map:g} "
                             f"(splits of the profile: {[c.split for c in profile.cuts]})")
        names, cuts, codecs, local, edge, nbytes = zip(*options, strict=True)
        return cls(model=profile.model, codec=table_label(min_map), splits=names, local=local, edge=edge,
                   nbytes=nbytes, cuts=cuts, codecs=codecs)

    @classmethod
    def for_config(cls, profile: ModelProfile, codec: CodecConfig) -> SplitCosts:
        """The cost table of a ``codec`` config section: one codec (and the frame's when it differs), or with
        ``codec.min_map`` every pair of ``codec.table`` (:meth:`from_codec_table`)."""
        if codec.min_map is None:
            return cls.from_profile(profile, *codec_labels(codec))
        path = codec_table_path(codec, profile.model)
        return cls.from_codec_table(profile, read_codec_csv(path), codec.min_map, source=str(path))

    @property
    def chooses_codec(self) -> bool:
        """Are the candidates (split, codec) options (``codec.min_map``)?"""
        return self.cuts != self.splits

    def codec_of(self, split: str) -> str:
        """Label of the codec that candidate ``split`` sends with."""
        i = self._positions.get(split)
        return split_codec(split, self.codec, self.frame_codec) if i is None else self.codecs[i]

    def cut_of(self, split: str) -> str:
        """The model split of candidate ``split`` (``4`` of ``4@int8-per_tensor+zstd``)."""
        i = self._positions.get(split)
        return split if i is None else self.cuts[i]

    def candidate(self, cut: str, codec: str) -> str:
        """The candidate name of an outcome's model split and codec: the option ``SPLIT@CODEC`` when this table
        chooses codecs (``last`` has none), else the split."""
        return option_name(cut, codec) if self.chooses_codec and cut != DEVICE_ONLY else cut

    def cheapest(self, cut: str, codec_prefix: str = "") -> str:
        """The candidate at model split ``cut`` (codec label starting with ``codec_prefix``) sending the fewest
        bytes; ValueError if there is none."""
        here = [i for i, c in enumerate(self.cuts) if c == cut and self.codecs[i].startswith(codec_prefix)]
        if not here:
            raise ValueError(f"{self.model} with codec {self.codec} has no candidate at split {cut!r}"
                             + (f" with a {codec_prefix} codec" if codec_prefix else "")
                             + f"; candidates: {list(self.splits)}")
        return self.splits[min(here, key=lambda i: self.nbytes[i])]

    def one_per_cut(self) -> SplitCosts:
        """This table with one candidate per model split, the one sending the fewest bytes (itself when it
        has no options): for the policies that plan over a chain of splits (DADS, semi-fixed)."""
        if not self.chooses_codec:
            return self
        keep = [self.splits.index(self.cheapest(cut)) for cut in dict.fromkeys(self.cuts)]
        return dataclasses.replace(self, **{name: tuple(getattr(self, name)[i] for i in keep) for name in
                                            ("splits", "local", "edge", "nbytes", "cuts", "codecs")})

    @functools.cached_property
    def _positions(self) -> dict[str, int]:
        """Candidate name -> position (computed once: the live device looks it up for every frame)."""
        return {s: i for i, s in enumerate(self.splits)}

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


OPTION_MARK = "@"
"""Separates the split from the codec in an option's name (split and codec labels never contain it)."""


def option_name(split: str, codec: str) -> str:
    """The candidate name of sending split ``split`` with ``codec``: ``4@int8-per_tensor+zstd``."""
    return f"{split}{OPTION_MARK}{codec}"


def table_label(min_map: float) -> str:
    """The codec label of a cost table whose codec is chosen per frame (``codec.min_map``)."""
    return f"chosen at agreement >= {min_map:g}"


def codec_table_path(codec: CodecConfig, model: str) -> Path:
    """``codec.table``, or the table shipped for ``model`` in config/codecs/."""
    return resolve_data_path(codec.table) if codec.table else CONFIG_DIR / "codecs" / f"{model}.csv"


def pareto_codecs(rows: list[CodecEffect]) -> list[CodecEffect]:
    """The rows of one split no other row beats on both bytes and encode + decode time, fewest bytes first."""
    kept: list[CodecEffect] = []
    for row in sorted(rows, key=lambda r: (r.bytes, r.encode_ms + r.decode_ms)):
        if not kept or row.encode_ms + row.decode_ms < min(k.encode_ms + k.decode_ms for k in kept):
            kept.append(row)
    return kept


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
