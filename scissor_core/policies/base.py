"""The one policy interface, and the per-split cost table every policy and the simulator read.

A policy maps the observed state to a split (``decide``) and may learn from
each frame's outcome (``observe``). The same objects serve the simulator, the
agent node and the device's fallback rule. Stochastic policies also leave their
action probabilities (candidate order) in ``last_probabilities`` after
``decide``, for the ``SplitDecision`` message.
"""
from __future__ import annotations

from dataclasses import dataclass

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

    @classmethod
    def from_profile(cls, profile: ModelProfile, codec: str = "raw") -> SplitCosts:
        cuts = [c for c in profile.cuts if codec in c.bytes]
        if not cuts:
            known = sorted({label for c in profile.cuts for label in c.bytes})
            raise ValueError(f"profile of {profile.model} has no bytes for codec {codec!r}; it has {known}")
        return cls(
            model=profile.model,
            codec=codec,
            splits=tuple(c.split for c in cuts),
            local=tuple(0.0 if c.split == EDGE_ONLY else c.device_time for c in cuts),
            edge=tuple(0.0 if c.split == DEVICE_ONLY else c.edge_time for c in cuts),
            nbytes=tuple(0 if c.split == DEVICE_ONLY else c.bytes[codec] for c in cuts),
        )

    def index(self, split: str) -> int:
        try:
            return self.splits.index(split)
        except ValueError:
            raise ValueError(f"split {split!r} is not a candidate of {self.model} with codec {self.codec}; "
                             f"candidates: {list(self.splits)}") from None


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
