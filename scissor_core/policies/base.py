"""The one policy interface, and the per-split cost table every policy and the simulator read.

A policy maps the observed state to a split (``decide``) and may learn from
each frame's outcome (``observe``). The same objects serve the simulator, the
agent node and the device's fallback rule. Stochastic policies also leave their
action probabilities (candidate order) in ``last_probabilities`` after
``decide``, for the ``SplitDecision`` message.
"""
from __future__ import annotations

from dataclasses import dataclass

from scissor_core.config import CodecConfig
from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY
from scissor_core.outcome import FrameOutcome
from scissor_core.profile import ModelProfile
from scissor_core.queues import ObservedState


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
        return cls.from_profile(profile, codec.spec().label, codec.frame_label)

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


class Policy:
    """Decides a split per frame; subclasses implement :meth:`decide`."""

    name = "policy"
    clairvoyant = False
    """True for simulation-only policies that read the simulator's future (the oracle)."""

    def __init__(self, costs: SplitCosts) -> None:
        self.costs = costs
        self.last_probabilities: tuple[float, ...] | None = None

    def decide(self, state: ObservedState) -> str:
        """The split for the frame the state was observed for."""
        raise NotImplementedError

    def observe(self, outcome: FrameOutcome) -> None:
        """Learn from one frame's outcome (baselines ignore it)."""

    def attach(self, simulator: object) -> None:
        """Called by the simulator before its runs; only clairvoyant policies use it."""


def predict_delay(costs: SplitCosts, i: int, state: ObservedState) -> float:
    """Predicted total delay of a new frame at split ``i`` from the profile, ``b_hat`` and the queues.

    Device: waits ``device_backlog`` then computes. Link: FIFO; for split 0 the
    feature maps queue behind what is already in the offloading queue; for any
    other split behind everything pending now (``o_t``, which includes the frames
    waiting to be computed, and they will be ahead). Edge: no queueing (the
    simulator's edge serves frames in parallel). Timeouts are not predicted.
    """
    b = state.bandwidth
    if needs_local(costs.splits[i]):
        ready = state.device_backlog + costs.local[i]
        ahead = state.inflight_bytes + state.pending_bytes
    else:
        ready = 0.0
        ahead = state.inflight_bytes + state.offload_bytes
    if not needs_link(costs.splits[i]):
        return ready
    start = max(ready, ahead / b)
    return start + costs.nbytes[i] / b + costs.edge[i]
