"""The fixed and greedy baselines of DNN-Scissor's evaluation (docs/design.md §1).

Where the papers leave a choice open, the docstring says what we chose.
"""
from __future__ import annotations

from scissor_core.models.registry import DEVICE_ONLY, EDGE_ONLY
from scissor_core.runtime.costs import SplitCosts, needs_link, needs_local
from scissor_core.runtime.outcome import Reward
from scissor_core.runtime.policy import Policy
from scissor_core.runtime.queues import ObservedState


class FixedSplit(Policy):
    """Always the same split: device-only (``last``), edge-only (``0``), or any named split."""

    def __init__(self, costs: SplitCosts, split: str, name: str | None = None) -> None:
        super().__init__(costs)
        costs.index(split)  # refuse a split that is not a candidate
        self.split = split
        self.name = name or f"fixed-{split}"

    def decide(self, state: ObservedState) -> str:
        return self.split


def device_only(costs: SplitCosts) -> FixedSplit:
    """Everything on the device; nothing is sent."""
    return FixedSplit(costs, DEVICE_ONLY, "device-only")


def edge_only(costs: SplitCosts) -> FixedSplit:
    """Send the preprocessed frame (as the paper does); build ``costs`` with codec ``raw``."""
    return FixedSplit(costs, EDGE_ONLY, "edge-only")


def edge_only_jpeg(costs: SplitCosts) -> FixedSplit:
    """Send the frame JPEG-encoded; build ``costs`` with a ``jpeg-qNN`` codec.

    The profile has no JPEG encode/decode time, so (like every codec's) it is
    not modelled; at 224-416 px it is a few ms, small next to these networks.
    """
    if not costs.codec.startswith("jpeg"):
        raise ValueError(f"edge-only-jpeg needs jpeg costs, got codec {costs.codec!r}")
    return FixedSplit(costs, EDGE_ONLY, "edge-only-jpeg")


class RoundRobin(Policy):
    """Every candidate in turn, frame after frame: exercises every split of a live testbed
    (integration tests, demos); not a partitioning strategy."""

    name = "round-robin"

    def __init__(self, costs: SplitCosts) -> None:
        super().__init__(costs)
        self._next = 0

    def decide(self, state: ObservedState) -> str:
        split = self.costs.splits[self._next % len(self.costs.splits)]
        self._next += 1
        return split


class SemiFixed(Policy):
    """The paper's semi-fixed baseline: the 5th candidate, but the raw frame (split 0)
    while more than ``threshold`` frames wait in the local queue.

    "5th candidate" counts in candidate order with ``0`` as the 1st (AlexNet:
    ``conv4``; ResNet18: ``layer1.1``; YOLOv3: ``4``). With the paper's T and
    intervals the local queue rarely holds 10 frames (T / interval frames at
    most without bursts), so this baseline mostly behaves as a fixed split.
    """

    name = "semi-fixed"

    def __init__(self, costs: SplitCosts, position: int = 5, threshold: int = 10) -> None:
        super().__init__(costs)
        if len(costs.splits) < position:
            raise ValueError(f"semi-fixed: {costs.model} has {len(costs.splits)} candidates, needs {position}")
        self.split = costs.splits[position - 1]
        self.frame = costs.cheapest(EDGE_ONLY)  # split 0 (with the codec table: its fewest-bytes option)
        self.threshold = threshold

    def decide(self, state: ObservedState) -> str:
        return self.frame if state.local_len > self.threshold else self.split


class EdgeWindow(Policy):
    """At most ``window`` of this device's frames out at the edge: the frame (split 0) goes to the edge while
    fewer are queued for the link, on it or sent and not answered (``offload_len`` + ``edge_frames``);
    otherwise the device runs it whole (``last``).

    A window, not a prediction: when the device and the edge together cannot keep up (a Table 5 interval
    below both compute times), it keeps the edge busy without letting its queue grow, and what the device
    cannot take times out in the local queue. None of the papers has it; it is the causal rule the bound's
    gap pointed to (scissor's README, *Scenarios where splitting matters*). Splits between 0 and ``last``
    are never chosen, so where a middle split is best it is not a contender.
    """

    name = "edge-window"

    def __init__(self, costs: SplitCosts, window: int = 2) -> None:
        super().__init__(costs)
        if window < 1:
            raise ValueError(f"edge-window: the window is at least 1 frame, got {window}")
        costs.index(DEVICE_ONLY)
        self.frame = costs.cheapest(EDGE_ONLY)  # split 0 (with the codec table: its fewest-bytes option)
        self.window = window

    def decide(self, state: ObservedState) -> str:
        out = state.offload_len + state.edge_frames
        return self.frame if out < self.window else DEVICE_ONLY


class Greedy(Policy):
    """Greedy / Neurosurgeon: per frame, the split minimising the predicted cost of this frame,
    ``w * MB sent + predicted delay`` (queueing included, see :func:`predict_delay`).

    Neurosurgeon itself ignores queues and data volume; the issue asks for the
    queue-aware form with the paper's ``w*o`` term, so that is what this is. It
    does not predict timeouts (a drop costs F but is not foreseen).
    """

    name = "greedy"

    def __init__(self, costs: SplitCosts, w: float) -> None:
        super().__init__(costs)
        self.w = w
        self._byte_cost = [Reward(w).cost(n, 0.0) for n in costs.nbytes]

    def decide(self, state: ObservedState) -> str:
        costs = self.costs
        best, best_cost = 0, float("inf")
        for i in range(len(costs.splits)):
            cost = self._byte_cost[i] + predict_delay(costs, i, state)
            if cost < best_cost:
                best, best_cost = i, cost
        return costs.splits[best]


class DDP(Greedy):
    """DDP, the queue-aware greedy of the front-end/cloud partitioning paper: the split that
    minimises the frame's predicted finish time given when the device and the link are
    next free (the edge is taken as free: the observed state says nothing of its queue).

    In this system model that is :class:`Greedy` without the data term (``w = 0``):
    DDP optimises latency only. Ties go to the earlier candidate (less device work).
    """

    name = "ddp"

    def __init__(self, costs: SplitCosts) -> None:
        super().__init__(costs, w=0.0)


class LoadAware(Greedy):
    """Greedy that also prices the backlog a frame leaves behind (the LoADPart idea): the cost of split ``i`` is
    greedy's ``w * MB + predicted delay`` plus ``horizon`` times the work it leaves queued past the next frame's
    arrival, on each of the device, the link and the edge.

    Once this frame is admitted the device has ``device_backlog`` (plus the split's compute) of work queued, the
    link the bytes ahead of and of this frame at ``b_hat``, the edge this frame's service; whatever exceeds one
    frame interval is work the next frame finds still queued, and its successors behind it. (A one-at-a-time
    edge slower than the interval falls behind; the observed state has no edge queue, so only this frame's
    own service is priced there.) Greedy alone takes device-only whenever a lone frame is cheapest that
    way, even when the device needs longer than the interval, and the local queue grows until frames time out.
    Like greedy it does not predict timeouts.
    """

    name = "load-aware"

    def __init__(self, costs: SplitCosts, w: float, frame_interval: float, horizon: float) -> None:
        super().__init__(costs, w)
        self.interval, self.horizon = frame_interval, horizon

    def decide(self, state: ObservedState) -> str:
        costs, interval, b = self.costs, self.interval, state.bandwidth
        best, best_cost = 0, float("inf")
        for i in range(len(costs.splits)):
            cut = costs.cuts[i]
            computes, sends = needs_local(cut), needs_link(cut)
            # work queued on each resource once this frame is admitted (s): the link's is its bytes at b_hat,
            # behind what predict_delay puts ahead of this frame (the link idles while the device computes)
            device = state.device_backlog + (costs.local[i] if computes else 0.0)
            link = (bytes_ahead(state, computes) + (costs.nbytes[i] if sends else 0.0)) / b
            edge = costs.edge[i] if sends else 0.0
            left = sum(max(0.0, work - interval) for work in (device, link, edge))
            cost = self._byte_cost[i] + predict_delay(costs, i, state) + self.horizon * left
            if cost < best_cost:
                best, best_cost = i, cost
        return costs.splits[best]


def predict_delay(costs: SplitCosts, i: int, state: ObservedState) -> float:
    """Predicted total delay of a new frame at split ``i`` from the profile, ``b_hat`` and the queues.

    Device: waits ``device_backlog`` then computes. Link: FIFO; for split 0 the
    feature maps queue behind what is already in the offloading queue; for any
    other split behind everything pending now (``o_t``, which includes the frames
    waiting to be computed, and they will be ahead). Edge: no queueing predicted (the
    observed state, the paper's, has no edge queue). Timeouts are not predicted.
    """
    b = state.bandwidth
    computes = needs_local(costs.cuts[i])
    ready = state.device_backlog + costs.local[i] if computes else 0.0
    if not needs_link(costs.cuts[i]):
        return ready
    start = max(ready, bytes_ahead(state, computes) / b)
    return start + costs.nbytes[i] / b + costs.edge[i]


def bytes_ahead(state: ObservedState, computes: bool) -> float:
    """Bytes the link sends before a new frame's: a frame computed on the device queues behind everything
    pending now (the frames still waiting to be computed go first); split 0 only behind the offloading queue;
    both behind the rest of the transmission in progress."""
    return state.inflight_bytes + (state.pending_bytes if computes else state.offload_bytes)
